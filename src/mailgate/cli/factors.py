"""factor commands: list an account's second factors, reset them (admins), enrol TOTP (--as)."""

from __future__ import annotations

import io
from typing import Annotated

import segno
import typer

from mailgate.cli.output import emit, emit_one
from mailgate.cli.runtime import fail, out, run, state
from mailgate.domain.access import Actor
from mailgate.services.container import Services


def register(app: typer.Typer) -> None:
    factor = typer.Typer(help="Second factors (TOTP apps, security keys).", no_args_is_help=True)
    app.add_typer(factor, name="factor")

    @factor.command("list")
    def list_(ctx: typer.Context, address: str) -> None:
        """The second factors of an account and how many recovery codes are left."""

        async def work(services: Services, actor: Actor) -> None:
            o = await services.factors.list_factors(actor, address)
            rows = [
                {
                    "id": f.id,
                    "kind": f.kind.value,
                    "name": f.name,
                    "created_at": f.created_at,
                    "last_used_at": f.last_used_at,
                }
                for f in o.factors
            ]
            emit(
                state(ctx).json,
                rows,
                ["id", "kind", "name", "created_at", "last_used_at"],
                extra={"recovery_codes_left": o.recovery_codes_left},
            )

        run(ctx, work)

    @factor.command("reset")
    def reset(
        ctx: typer.Context,
        address: str,
        verified_by: Annotated[
            str, typer.Option("--verified-by", help="Who proved the person's identity.")
        ],
        method: Annotated[str, typer.Option("--method", help="How, e.g. 'in person, ID card'.")],
    ) -> None:
        """Remove every second factor and recovery code of an account (audited)."""

        async def work(services: Services, actor: Actor) -> None:
            removed = await services.factors.reset_second_factors(
                actor, address, verified_by, method
            )
            emit_one(state(ctx).json, {"address": address, "factors_removed": removed})

        run(ctx, work)

    @factor.command("totp-enrol")
    def totp_enrol(
        ctx: typer.Context,
        address: str,
        name: Annotated[str, typer.Option(help="Name of the device.")] = "Authenticator app",
    ) -> None:
        """Start a TOTP enrolment for your own account (use --as ADDRESS); prints the URI and a
        QR code. It counts once a first code is confirmed (`factor totp-confirm`)."""

        async def work(services: Services, actor: Actor) -> None:
            e = await services.factors.enrol_totp(actor, address, name)
            if state(ctx).json:
                emit_one(True, {"factor_id": e.factor_id, "secret": e.secret, "uri": e.uri})
                return
            qr = io.StringIO()
            segno.make(e.uri, error="m").terminal(out=qr, compact=True)
            out.print(qr.getvalue(), highlight=False, markup=False)
            emit_one(False, {"factor_id": e.factor_id, "secret": e.secret, "uri": e.uri})

        run(ctx, work)

    @factor.command("totp-confirm")
    def totp_confirm(ctx: typer.Context, address: str, factor_id: int, code: str) -> None:
        """Confirm a TOTP enrolment with a first code from the app (use --as ADDRESS)."""

        async def work(services: Services, actor: Actor) -> None:
            r = await services.factors.confirm_totp(actor, address, factor_id, code)
            if not r.accepted:
                fail(r.message)
            emit_one(state(ctx).json, {"address": address, "enrolled": True})

        run(ctx, work)
