"""login and app-password commands: login records (R18) and app passwords for mail clients."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

import typer

from mailgate.cli.output import emit, emit_one
from mailgate.cli.runtime import out, run, state
from mailgate.domain.access import Actor
from mailgate.domain.security import AppPassword, LoginRecord, format_scopes
from mailgate.domain.units import parse_date
from mailgate.services.container import Services


def login_row(r: LoginRecord) -> dict[str, object]:
    return {
        "occurred_at": r.occurred_at,
        "username": r.username,
        "protocol": r.protocol,
        "ip": r.ip,
        "client": r.client_id,
        "result": "success" if r.success else "failure",
        "reason": r.reason,
        "app_password": r.app_password_name,
    }


def app_password_row(a: AppPassword) -> dict[str, object]:
    return {
        "id": a.id,
        "name": a.name,
        "scopes": format_scopes(a.scopes),
        "created_at": a.created_at,
        "expires_on": a.expires_on,
        "last_used_at": a.last_used_at,
        "last_used_ip": a.last_used_ip,
        "revoked_at": a.revoked_at,
    }


LOGIN_COLUMNS = ["occurred_at", "username", "protocol", "ip", "result", "reason", "client"]


def _day_start(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.combine(parse_date(text, "date"), time(0), UTC)


def register(app: typer.Typer) -> None:
    login = typer.Typer(help="Login records: every authentication attempt.", no_args_is_help=True)
    app_pw = typer.Typer(help="App passwords for mail clients.", no_args_is_help=True)
    app.add_typer(login, name="login")
    app.add_typer(app_pw, name="app-password")

    @login.command("list")
    def login_list(
        ctx: typer.Context,
        address: str,
        limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    ) -> None:
        """Recent logins of one account (the account itself, or its admins)."""

        async def work(services: Services, actor: Actor) -> None:
            found = await services.logins.recent_logins(actor, address, limit)
            emit(state(ctx).json, [login_row(r) for r in found], LOGIN_COLUMNS)

        run(ctx, work)

    @login.command("search")
    def login_search(
        ctx: typer.Context,
        org_slug: Annotated[str | None, typer.Option("--org", help="Organisation.")] = None,
        account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
        ip: Annotated[str | None, typer.Option(help="Client IP.")] = None,
        result: Annotated[
            str | None, typer.Option(help="success, failure or a reason (throttled ...).")
        ] = None,
        protocol: Annotated[str | None, typer.Option(help="web, smtp, imap, pop3, api.")] = None,
        since: Annotated[str | None, typer.Option(help="From this day, YYYY-MM-DD (UTC).")] = None,
        until: Annotated[str | None, typer.Option(help="Before this day, YYYY-MM-DD.")] = None,
        csv: Annotated[bool, typer.Option("--csv", help="CSV of every match.")] = False,
        limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
        offset: Annotated[int, typer.Option(min=0)] = 0,
    ) -> None:
        """Login records across an organisation (admins)."""
        start, end = _day_start(since), _day_start(until)

        async def work(services: Services, actor: Actor) -> None:
            if csv:
                text = await services.logins.export_logins_csv(
                    actor,
                    org_slug,
                    account=account,
                    ip=ip,
                    result=result,
                    protocol=protocol,
                    since=start,
                    until=end,
                )
                out.file.write(text)
                return
            found, total = await services.logins.search_logins(
                actor,
                org_slug,
                account=account,
                ip=ip,
                result=result,
                protocol=protocol,
                since=start,
                until=end,
                offset=offset,
                limit=limit,
            )
            emit(
                state(ctx).json,
                [login_row(r) for r in found],
                LOGIN_COLUMNS,
                extra={"total": total},
            )

        run(ctx, work)

    @app_pw.command("create")
    def create(
        ctx: typer.Context,
        address: str,
        name: Annotated[str, typer.Option(help="The device, e.g. 'iPhone Mail'.")],
        scope: Annotated[str, typer.Option(help="imap, pop3, smtp, comma-separated.")],
        expires: Annotated[str | None, typer.Option(help="Last valid day, YYYY-MM-DD.")] = None,
    ) -> None:
        """Generate an app password; it is shown this once only."""
        expires_on = parse_date(expires, "expiry date") if expires else None

        async def work(services: Services, actor: Actor) -> None:
            created = await services.app_passwords.create(actor, address, name, scope, expires_on)
            row = app_password_row(created.app_password)
            row["password"] = created.password
            emit_one(state(ctx).json, row)
            if not state(ctx).json:
                out.print("Shown once: enter it in the mail client now.", highlight=False)

        run(ctx, work)

    @app_pw.command("list")
    def list_(
        ctx: typer.Context,
        address: str,
        all_: Annotated[bool, typer.Option("--all", help="Include revoked ones.")] = False,
    ) -> None:
        """App passwords of an account (never the passwords themselves)."""

        async def work(services: Services, actor: Actor) -> None:
            found = await services.app_passwords.list(actor, address, include_revoked=all_)
            emit(
                state(ctx).json,
                [app_password_row(a) for a in found],
                ["id", "name", "scopes", "expires_on", "last_used_at", "last_used_ip"],
            )

        run(ctx, work)

    @app_pw.command("revoke")
    def revoke(
        ctx: typer.Context,
        address: str,
        name_or_id: Annotated[str | None, typer.Argument(help="Name or id.")] = None,
        all_: Annotated[bool, typer.Option("--all", help="Revoke every one.")] = False,
    ) -> None:
        """Revoke one app password (by name or id), or all of them with --all."""

        async def work(services: Services, actor: Actor) -> None:
            if all_:
                count = await services.app_passwords.revoke_all(actor, address)
                emit_one(state(ctx).json, {"address": address, "revoked": count})
                return
            if not name_or_id:
                raise typer.BadParameter("name the app password, or use --all")
            gone = await services.app_passwords.revoke(actor, address, name_or_id)
            emit_one(state(ctx).json, {"address": address, "revoked": gone.name, "id": gone.id})

        run(ctx, work)
