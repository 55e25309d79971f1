"""init, db upgrade, serve, audit."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer

from mailgate.cli.output import emit
from mailgate.cli.runtime import EXIT_ERROR, fail, out, read_secret_stdin, resolve_actor, run, state
from mailgate.domain.access import Actor, operator
from mailgate.domain.errors import MailgateError
from mailgate.services.container import Services
from mailgate.services.setup import generate_password


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Database schema.", no_args_is_help=True)
    audit = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
    app.add_typer(db, name="db")
    app.add_typer(audit, name="audit")

    @app.command()
    def init(
        ctx: typer.Context,
        admin: Annotated[
            str, typer.Option(help="Address of the first platform admin.")
        ] = "admin@mailgate.test",
        org_slug: Annotated[str, typer.Option(help="Slug of the operator's organisation.")] = (
            "platform"
        ),
        org_name: Annotated[str, typer.Option(help="Name of the operator's organisation.")] = (
            "Mailgate platform"
        ),
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the admin password from stdin.")
        ] = False,
    ) -> None:
        """Create the data directory, the schema, a self-signed TLS certificate and the first
        platform admin (password from stdin, or generated and printed once)."""
        st = state(ctx)
        runtime = st.runtime()
        password = read_secret_stdin() if password_stdin else None
        created_tls = runtime.ensure_tls()

        async def main() -> tuple[bool, str | None]:
            async with runtime.services(migrate=True) as services:
                if await services.setup.is_initialised():
                    return False, None
                actor = await resolve_actor(st, services)
                pw = password or generate_password()
                await services.setup.create_platform_admin(actor, admin, pw, org_slug, org_name)
                return True, pw

        try:
            created, pw = asyncio.run(main())
        except MailgateError as exc:
            fail(exc.message)
        s = runtime.settings
        out.print(f"data directory: {s.data_dir}", highlight=False)
        if created_tls:
            out.print(f"self-signed TLS certificate: {s.cert_file}", highlight=False)
        if not created:
            out.print("already initialised; nothing changed")
            return
        out.print(f"platform admin: {admin}", highlight=False)
        if not password_stdin:
            out.print(f"password (shown once, write it down): {pw}", highlight=False)

    @db.command("upgrade")
    def db_upgrade(ctx: typer.Context) -> None:
        """Apply pending schema migrations."""
        revision = asyncio.run(state(ctx).runtime().upgrade_db())
        out.print(f"schema at revision {revision}", highlight=False)

    @app.command()
    def serve(
        ctx: typer.Context,
        demo: Annotated[
            bool,
            typer.Option(help="On an empty data dir, seed the Example Corp demo organisation."),
        ] = False,
        host: Annotated[str | None, typer.Option(help="Web listen address.")] = None,
        port: Annotated[int | None, typer.Option(help="Web listen port.")] = None,
    ) -> None:
        """Run Mailgate (web console and API) in the foreground."""
        st = state(ctx)
        runtime = st.runtime()
        if host is not None:
            runtime.settings.web.host = host
        if port is not None:
            runtime.settings.web.port = port
        actor = operator("cli:serve")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(runtime.serve(actor, demo))

    @audit.command("list")
    def audit_list(
        ctx: typer.Context,
        limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
        offset: Annotated[int, typer.Option(min=0)] = 0,
    ) -> None:
        """Newest audit events first."""

        async def work(services: Services, actor: Actor) -> None:
            events, total = await services.audit.list(actor, offset, limit)
            rows = [
                {
                    "seq": e.seq,
                    "time": e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "summary": e.summary,
                    "ip": e.source_ip,
                }
                for e in events
            ]
            emit(
                state(ctx).json,
                rows,
                ["seq", "time", "actor", "action", "target", "summary"],
                extra={"total": total},
            )

        run(ctx, work)

    @audit.command("verify")
    def audit_verify(ctx: typer.Context) -> None:
        """Check the hash chain; name every edited, deleted or reordered event."""

        async def work(services: Services, actor: Actor) -> bool:
            report = await services.audit.verify(actor)
            rows = [{"seq": p.seq, "row": p.row_id, "problem": p.what} for p in report.problems]
            if rows or state(ctx).json:
                emit(
                    state(ctx).json,
                    rows,
                    ["seq", "row", "problem"],
                    extra={
                        "events": report.count,
                        "head_seq": report.head_seq,
                        "head_hash": report.head_hash,
                        "ok": report.ok,
                    },
                )
            else:
                out.print(
                    f"audit log intact: {report.count} events, head #{report.head_seq} "
                    f"{report.head_hash}",
                    highlight=False,
                )
            return report.ok

        if not run(ctx, work):
            raise typer.Exit(EXIT_ERROR)
