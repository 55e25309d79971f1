"""`mailgate account forwarding ADDRESS [--remove]`: an administrator sees an account's mail
forwarding and removes it (services.forwarding; ACCOUNT_WRITE over the account, audited as
`forwarding.remove`, the person is told). Setting one is for the person, at /account/forwarding.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mailgate.cli.output import emit_one
from mailgate.cli.runtime import run, state
from mailgate.domain.access import Actor
from mailgate.domain.forwarding import Forwarding
from mailgate.services.container import Services


def _group(app: typer.Typer, name: str) -> typer.Typer:
    """An existing command group of `app` (registered by another module)."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    raise RuntimeError(f"the {name!r} command group must be registered first")


def forwarding_row(address: str, found: tuple[Forwarding, bool] | None) -> dict[str, Any]:
    """What `account forwarding` prints; `target` is None when there is no forwarding, and
    `applies` says whether the policy lets mail go to the target now."""
    f, applies = found if found else (None, None)
    return {
        "address": address,
        "target": f.target if f else None,
        "verified": f.verified if f else None,
        "keep_copy": f.keep_copy if f else None,
        "created_at": f.created_at if f else None,
        "verified_at": f.verified_at if f else None,
        "applies": applies,
    }


def register(app: typer.Typer) -> None:
    account = _group(app, "account")

    @account.command("forwarding")
    def forwarding(
        ctx: typer.Context,
        address: str,
        remove: Annotated[
            bool,
            typer.Option(
                "--remove", help="Remove the forwarding (confirmed or awaiting its code)."
            ),
        ] = False,
    ) -> None:
        """Show where the account's mail is forwarded (target, confirmed or not, whether its
        mailbox keeps a copy, whether the policy lets it apply now), or remove the forwarding
        with --remove; the person is told."""

        async def work(services: Services, actor: Actor) -> None:
            found = await services.forwarding.status(actor, address)
            if remove:
                await services.forwarding.remove(actor, address)
                emit_one(
                    state(ctx).json,
                    {"address": address, "removed": found[0].target if found else None},
                )
                return
            emit_one(state(ctx).json, forwarding_row(address, found))

        run(ctx, work)
