"""Administrators' security actions on an account, under `mailgate account`: lockdown, force a
password change, end every web session (services.account_admin; audited, the person is told).

Locking and unlocking are `account lock|unlock`, second factors `factor reset`, app passwords
`app-password revoke ADDRESS --all`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mailgate.cli.output import emit_one
from mailgate.cli.runtime import run, state
from mailgate.domain.access import Actor
from mailgate.services.container import Services

ReasonOpt = Annotated[str, typer.Option(help="Why (kept in the audit log).")]


def _group(app: typer.Typer, name: str) -> typer.Typer:
    """An existing command group of `app` (registered by another module)."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    raise RuntimeError(f"the {name!r} command group must be registered first")


def register(app: typer.Typer) -> None:
    account = _group(app, "account")

    @account.command("lockdown")
    def lockdown(
        ctx: typer.Context,
        address: str,
        reason: Annotated[
            str, typer.Option(help="Why (required; kept in the audit log, told to the person).")
        ],
    ) -> None:
        """Lock the account, end its web sessions, revoke its app passwords and API tokens, remove
        its forwarding and require a new password, in one step; the person and the organisation's
        admins are told."""

        async def work(services: Services, actor: Actor) -> None:
            r = await services.account_admin.lockdown(actor, address, reason)
            emit_one(
                state(ctx).json,
                {
                    "address": r.account.address,
                    "state": r.account.state.value,
                    "state_before": r.state_before.value,
                    "sessions_ended": r.sessions_ended,
                    "app_passwords_revoked": r.app_passwords_revoked,
                    "api_tokens_revoked": r.api_tokens_revoked,
                    "forwarding_removed": r.forwarding_removed,
                    "required_actions": [a.value for a in r.account.required_actions],
                },
            )

        run(ctx, work)

    @account.command("force-password-change")
    def force_password_change(ctx: typer.Context, address: str, reason: ReasonOpt = "") -> None:
        """Require a new password at the account's next sign-in."""

        async def work(services: Services, actor: Actor) -> None:
            changed = await services.account_admin.force_password_change(actor, address, reason)
            emit_one(state(ctx).json, {"address": address, "changed": changed})

        run(ctx, work)

    @account.command("revoke-sessions")
    def revoke_sessions(ctx: typer.Context, address: str, reason: ReasonOpt = "") -> None:
        """End every web session of the account."""

        async def work(services: Services, actor: Actor) -> None:
            ended = await services.account_admin.revoke_sessions(actor, address, reason)
            emit_one(state(ctx).json, {"address": address, "sessions_ended": ended})

        run(ctx, work)
