"""org, domain, region, orgunit and roster commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mailgate.cli.output import emit, emit_one
from mailgate.cli.runtime import EXIT_PARTIAL, err, run, state
from mailgate.domain.access import Actor
from mailgate.domain.directory import Organisation
from mailgate.domain.units import format_size, parse_size
from mailgate.services.container import Services

OrgOpt = Annotated[str, typer.Option("--org", help="Organisation slug.")]


def register(app: typer.Typer) -> None:
    org = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)
    domain = typer.Typer(help="Mail domains.", no_args_is_help=True)
    region = typer.Typer(help="Regions and branches of an organisation.", no_args_is_help=True)
    unit = typer.Typer(help="Org units (departments), a tree.", no_args_is_help=True)
    roster = typer.Typer(help="The HR roster.", no_args_is_help=True)
    app.add_typer(org, name="org")
    app.add_typer(domain, name="domain")
    app.add_typer(region, name="region")
    app.add_typer(unit, name="orgunit")
    app.add_typer(roster, name="roster")

    @org.command("create")
    def org_create(
        ctx: typer.Context,
        slug: str,
        name: Annotated[str, typer.Option(help="Display name.")],
        kind: Annotated[str, typer.Option(help="internal or partner.")] = "internal",
        pool: Annotated[
            int | None, typer.Option(help="Account pool: how many mailboxes it may have.")
        ] = None,
        quota: Annotated[str, typer.Option(help="Default mailbox quota, e.g. 2GiB.")] = "2GiB",
        helpdesk: Annotated[str, typer.Option(help="IT desk contact shown to users.")] = "",
    ) -> None:
        """Create an organisation."""

        async def work(services: Services, actor: Actor) -> None:
            o = await services.organisations.create(
                actor, slug, name, kind, pool, parse_size(quota), helpdesk
            )
            emit_one(state(ctx).json, _org_row(o))

        run(ctx, work)

    @org.command("update")
    def org_update(
        ctx: typer.Context,
        slug: str,
        name: Annotated[str | None, typer.Option(help="Display name.")] = None,
        pool: Annotated[int | None, typer.Option(min=0, help="New account pool limit.")] = None,
        unlimited_pool: Annotated[
            bool, typer.Option("--unlimited-pool", help="Remove the pool limit.")
        ] = False,
        quota: Annotated[str | None, typer.Option(help="Default mailbox quota.")] = None,
        helpdesk: Annotated[str | None, typer.Option(help="IT desk contact.")] = None,
    ) -> None:
        """Change an organisation (pool changes need a platform admin)."""
        pool_change: int | bool | None = (
            None if unlimited_pool else (pool if pool is not None else False)
        )

        async def work(services: Services, actor: Actor) -> None:
            o = await services.organisations.update(
                actor,
                slug,
                name=name,
                account_pool_limit=pool_change,
                default_quota=parse_size(quota) if quota else None,
                helpdesk_contact=helpdesk,
            )
            emit_one(state(ctx).json, _org_row(o))

        run(ctx, work)

    @org.command("list")
    def org_list(ctx: typer.Context) -> None:
        """Organisations you may see."""

        async def work(services: Services, actor: Actor) -> None:
            orgs = await services.organisations.list(actor)
            emit(
                state(ctx).json,
                [_org_row(o) for o in orgs],
                ["slug", "name", "kind", "account_pool_limit", "default_quota"],
            )

        run(ctx, work)

    @org.command("show")
    def org_show(ctx: typer.Context, slug: str) -> None:
        """One organisation."""

        async def work(services: Services, actor: Actor) -> None:
            emit_one(state(ctx).json, _org_row(await services.organisations.get(actor, slug)))

        run(ctx, work)

    @domain.command("add")
    def domain_add(ctx: typer.Context, name: str, org_slug: OrgOpt) -> None:
        """Register a mail domain (Unicode or punycode) for an organisation."""

        async def work(services: Services, actor: Actor) -> None:
            d = await services.organisations.add_domain(actor, org_slug, name)
            emit_one(state(ctx).json, {"domain": d.unicode_name, "ascii": d.name, "org": org_slug})

        run(ctx, work)

    @domain.command("list")
    def domain_list(
        ctx: typer.Context,
        org_slug: Annotated[str | None, typer.Option("--org", help="Only this org.")] = None,
    ) -> None:
        """Mail domains you may see."""

        async def work(services: Services, actor: Actor) -> None:
            orgs = {o.id: o.slug for o in await services.organisations.list(actor)}
            rows = [
                {"domain": d.unicode_name, "ascii": d.name, "org": orgs.get(d.org_id, "")}
                for d in await services.organisations.list_domains(actor, org_slug)
            ]
            emit(state(ctx).json, rows, ["domain", "ascii", "org"])

        run(ctx, work)

    @region.command("add")
    def region_add(
        ctx: typer.Context,
        code: str,
        org_slug: OrgOpt,
        name: Annotated[str, typer.Option(help="Display name, e.g. 北京.")],
        tz: Annotated[str, typer.Option("--tz", help="Time zone.")] = "Asia/Shanghai",
        language: Annotated[str, typer.Option(help="zh_Hans, zh_Hant or en.")] = "zh_Hans",
    ) -> None:
        """Add a region (branch) with its time zone and default language."""

        async def work(services: Services, actor: Actor) -> None:
            r = await services.organisations.add_region(actor, org_slug, code, name, tz, language)
            emit_one(
                state(ctx).json,
                {"code": r.code, "name": r.name, "time_zone": r.time_zone, "language": r.language},
            )

        run(ctx, work)

    @region.command("list")
    def region_list(ctx: typer.Context, org_slug: OrgOpt) -> None:
        """Regions of an organisation."""

        async def work(services: Services, actor: Actor) -> None:
            rows = [
                {"code": r.code, "name": r.name, "time_zone": r.time_zone, "language": r.language}
                for r in await services.organisations.list_regions(actor, org_slug)
            ]
            emit(state(ctx).json, rows, ["code", "name", "time_zone", "language"])

        run(ctx, work)

    @unit.command("add")
    def unit_add(ctx: typer.Context, path: str, org_slug: OrgOpt) -> None:
        """Add an org unit by its path, e.g. 研发中心/平台部 (parents are created)."""

        async def work(services: Services, actor: Actor) -> None:
            u = await services.organisations.add_unit(actor, org_slug, path)
            emit_one(state(ctx).json, {"path": u.path, "name": u.name})

        run(ctx, work)

    @unit.command("list")
    def unit_list(ctx: typer.Context, org_slug: OrgOpt) -> None:
        """The org-unit tree of an organisation."""

        async def work(services: Services, actor: Actor) -> None:
            units = await services.organisations.list_units(actor, org_slug)
            emit(state(ctx).json, [{"path": u.path, "name": u.name} for u in units], ["path"])

        run(ctx, work)

    @roster.command("import")
    def roster_import(
        ctx: typer.Context,
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
        org_slug: OrgOpt,
        encoding: Annotated[
            str, typer.Option(help="File encoding: utf-8 (default, BOM allowed) or gb18030.")
        ] = "utf-8",
    ) -> None:
        """Upsert roster rows by employee ID; report every rejected row (columns: docs/roster.md).

        Exit code 0 when every row was accepted, 3 when some rows were rejected (the good rows are
        imported all the same), 1 when nothing could be imported."""
        data = file.read_bytes()
        as_json = state(ctx).json

        async def work(services: Services, actor: Actor) -> int:
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                disable=as_json,
                transient=True,
            ) as bar:
                task = bar.add_task("rows", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                report = await services.roster.import_csv(
                    actor, org_slug, data, encoding=encoding, progress=progress
                )
            rows = [
                {"line": r.line, "employee_id": r.employee_id, "reason": r.reason}
                for r in report.rejected
            ]
            summary = {
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": len(report.rejected),
            }
            if rows or as_json:
                emit(
                    as_json,
                    rows,
                    ["line", "employee_id", "reason"],
                    title="rejected rows",
                    extra=summary,
                )
            else:
                emit_one(False, summary)
            return len(report.rejected)

        if run(ctx, work):
            raise typer.Exit(EXIT_PARTIAL)

    @roster.command("list")
    def roster_list(
        ctx: typer.Context,
        org_slug: Annotated[str | None, typer.Option("--org", help="Only this org.")] = None,
        search: Annotated[str, typer.Option(help="Employee ID or name contains.")] = "",
        limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
        offset: Annotated[int, typer.Option(min=0)] = 0,
    ) -> None:
        """Roster entries, searchable."""

        async def work(services: Services, actor: Actor) -> None:
            entries, total = await services.roster.search(
                actor, org_slug=org_slug, query=search, offset=offset, limit=limit
            )
            rows = [
                {
                    "employee_id": e.employee_id,
                    "name_zh": e.name_zh,
                    "name_latin": e.name_latin,
                    "employment_type": e.employment_type,
                    "status": e.status,
                    "supervisor": e.supervisor_employee_id,
                    "mobile": e.mobile,
                }
                for e in entries
            ]
            emit(
                state(ctx).json,
                rows,
                ["employee_id", "name_zh", "name_latin", "employment_type", "status", "supervisor"],
                extra={"total": total},
            )

        run(ctx, work)


def _org_row(o: Organisation) -> dict[str, object]:
    return {
        "slug": o.slug,
        "name": o.name,
        "kind": o.kind.value,
        "account_pool_limit": o.account_pool_limit,
        "default_quota": format_size(o.default_quota),
        "helpdesk_contact": o.helpdesk_contact,
    }
