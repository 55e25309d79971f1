"""recovery commands: an account's recovery contacts (list for admins and the helpdesk; add,
verify, resend and remove as the account itself with --as ADDRESS)."""

from __future__ import annotations

from typing import Annotated

import typer

from mailgate.cli.output import emit, emit_one
from mailgate.cli.runtime import EXIT_USAGE, fail, run, state
from mailgate.domain.access import Actor
from mailgate.domain.recovery import ContactKind
from mailgate.services.container import Services


def register(app: typer.Typer) -> None:
    recovery = typer.Typer(
        help="Recovery contacts (backup e-mail address, mobile phone) for password reset.",
        no_args_is_help=True,
    )
    app.add_typer(recovery, name="recovery")

    @recovery.command("list")
    def list_(ctx: typer.Context, address: str) -> None:
        """The recovery contacts of an account and whether each is verified (admins and the
        helpdesk with read access to the account, or the account itself)."""

        async def work(services: Services, actor: Actor) -> None:
            contacts = await services.recovery.list(actor, address)
            rows = [
                {
                    "id": c.id,
                    "kind": c.kind.value,
                    "value": c.value,
                    "verified": c.verified,
                    "created_at": c.created_at,
                    "verified_at": c.verified_at,
                }
                for c in contacts
            ]
            emit(
                state(ctx).json,
                rows,
                ["id", "kind", "value", "verified", "created_at", "verified_at"],
            )

        run(ctx, work)

    @recovery.command("add")
    def add(
        ctx: typer.Context,
        address: str,
        email: Annotated[
            str | None, typer.Option("--email", help="A backup e-mail address.")
        ] = None,
        phone: Annotated[
            str | None, typer.Option("--phone", help="A mobile number, e.g. +8613800138000.")
        ] = None,
    ) -> None:
        """Add a contact to your own account (--as ADDRESS) and send it a 6-digit code; confirm
        it with `recovery verify`."""
        if (email is None) == (phone is None):
            fail("give exactly one of --email and --phone", EXIT_USAGE)
        kind = ContactKind.EMAIL if email is not None else ContactKind.PHONE
        value = email if email is not None else phone
        assert value is not None  # noqa: S101 - one of them is set, checked above

        async def work(services: Services, actor: Actor) -> None:
            contact_id = await services.recovery.add(actor, address, kind, value)
            emit_one(
                state(ctx).json,
                {"address": address, "contact_id": contact_id, "kind": kind.value, "sent": True},
            )

        run(ctx, work)

    @recovery.command("verify")
    def verify(ctx: typer.Context, address: str, contact_id: int, code: str) -> None:
        """Verify a contact of your own account (--as ADDRESS) with the code it received."""

        async def work(services: Services, actor: Actor) -> None:
            await services.recovery.verify(actor, address, contact_id, code)
            emit_one(
                state(ctx).json, {"address": address, "contact_id": contact_id, "verified": True}
            )

        run(ctx, work)

    @recovery.command("resend")
    def resend(ctx: typer.Context, address: str, contact_id: int) -> None:
        """Send a new code to an unverified contact of your own account (--as ADDRESS)."""

        async def work(services: Services, actor: Actor) -> None:
            await services.recovery.resend(actor, address, contact_id)
            emit_one(state(ctx).json, {"address": address, "contact_id": contact_id, "sent": True})

        run(ctx, work)

    @recovery.command("remove")
    def remove(ctx: typer.Context, address: str, contact_id: int) -> None:
        """Remove a contact from your own account (--as ADDRESS); you are notified."""

        async def work(services: Services, actor: Actor) -> None:
            await services.recovery.remove(actor, address, contact_id)
            emit_one(
                state(ctx).json, {"address": address, "contact_id": contact_id, "removed": True}
            )

        run(ctx, work)
