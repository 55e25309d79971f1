"""entry, application and ticket commands: where people apply, what they filed, the IT tickets."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from mailgate.cli.output import emit, emit_one
from mailgate.cli.runtime import out, run, state
from mailgate.domain.access import Actor
from mailgate.domain.entrypoints import EntryPointConfig
from mailgate.domain.errors import InvalidInput
from mailgate.services.applications import describe as describe_application
from mailgate.services.container import Services
from mailgate.services.entrypoints import describe as describe_entry
from mailgate.services.tickets import ticket_row

OrgOption = Annotated[str, typer.Option(help="Organisation slug.")]
TextsOption = Annotated[
    list[str] | None,
    typer.Option(help="LANGUAGE=TEXT, repeatable; languages zh_Hans, zh_Hant, en."),
]
NetworkOption = Annotated[
    list[str] | None,
    typer.Option("--network", help="CIDR it may be used from (repeatable), e.g. 10.8.0.0/16."),
]


def _plain(rows: list[dict[str, Any]], as_json: bool) -> list[dict[str, Any]]:
    """Rows for a table: what people typed is shown as text, never read as Rich markup."""
    if as_json:
        return rows

    def text(value: Any) -> Any:
        if isinstance(value, list | tuple | dict):
            value = json.dumps(value, ensure_ascii=False, default=str)
        return escape(value) if isinstance(value, str) else value

    return [{k: text(v) for k, v in r.items()} for r in rows]


def _show(as_json: bool, obj: dict[str, Any]) -> None:
    emit_one(as_json, _plain([obj], as_json)[0])


def parse_texts(items: list[str] | None, option: str) -> dict[str, str] | None:
    """`["zh_Hans=欢迎", "en=Welcome"]` -> {"zh_Hans": "欢迎", "en": "Welcome"}."""
    if not items:
        return None
    texts: dict[str, str] = {}
    for item in items:
        language, sep, text = item.partition("=")
        if not sep or not language.strip():
            raise InvalidInput(f"{option} takes LANGUAGE=TEXT, not {item!r}")
        texts[language.strip()] = text.replace("\\n", "\n")
    return texts


async def _entry_row(services: Services, actor: Actor, entry: EntryPointConfig) -> dict[str, Any]:
    _, domain, region = await services.entry_points.get(actor, entry.slug)
    return describe_entry(entry, domain, region)


def _register_entries(app: typer.Typer) -> None:
    entry = typer.Typer(
        help="Entry points: where people apply (portal, ticket API, partner portal).",
        no_args_is_help=True,
    )
    app.add_typer(entry, name="entry")

    @entry.command("add")
    def add(
        ctx: typer.Context,
        slug: str,
        org: OrgOption,
        kind: Annotated[str, typer.Option(help="portal, ticket or partner.")],
        domain: Annotated[str, typer.Option(help="Mail domain the new accounts get.")],
        region: Annotated[str | None, typer.Option(help="Region code of this entry.")] = None,
        network: NetworkOption = None,
        trusted_devices_only: Annotated[
            bool, typer.Option("--trusted-devices-only", help="Only from trusted devices.")
        ] = False,
        landing: TextsOption = None,
        reach_hint: TextsOption = None,
    ) -> None:
        """Add an entry; /apply/SLUG is its landing page."""

        async def work(services: Services, actor: Actor) -> None:
            e = await services.entry_points.add(
                actor,
                org,
                slug,
                kind,
                domain,
                region=region,
                networks=network or [],
                trusted_devices_only=trusted_devices_only,
                landing=parse_texts(landing, "--landing"),
                reach_hint=parse_texts(reach_hint, "--reach-hint"),
            )
            _show(state(ctx).json, await _entry_row(services, actor, e))

        run(ctx, work)

    @entry.command("list")
    def list_(ctx: typer.Context, org: OrgOption) -> None:
        """The organisation's entries."""

        async def work(services: Services, actor: Actor) -> None:
            rows = [
                await _entry_row(services, actor, e)
                for e in await services.entry_points.list(actor, org)
            ]
            emit(
                state(ctx).json,
                _plain(rows, state(ctx).json),
                ["slug", "kind", "enabled", "domain", "region", "networks", "trusted_devices_only"],
            )

        run(ctx, work)

    @entry.command("update")
    def update(
        ctx: typer.Context,
        slug: str,
        enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
        kind: Annotated[str | None, typer.Option(help="portal, ticket or partner.")] = None,
        domain: Annotated[str | None, typer.Option(help="Mail domain.")] = None,
        region: Annotated[str | None, typer.Option(help="Region code.")] = None,
        no_region: Annotated[bool, typer.Option("--no-region", help="For every region.")] = False,
        network: NetworkOption = None,
        any_network: Annotated[
            bool, typer.Option("--any-network", help="Drop the network limits.")
        ] = False,
        trusted_devices_only: Annotated[
            bool | None, typer.Option("--trusted-devices-only/--any-device")
        ] = None,
        landing: TextsOption = None,
        reach_hint: TextsOption = None,
    ) -> None:
        """Change an entry; texts given replace those languages only (LANGUAGE= removes one)."""

        async def work(services: Services, actor: Actor) -> None:
            changes: dict[str, Any] = {
                "enabled": enabled,
                "kind": kind,
                "domain": domain,
                "trusted_devices_only": trusted_devices_only,
                "landing": parse_texts(landing, "--landing"),
                "reach_hint": parse_texts(reach_hint, "--reach-hint"),
            }
            if region is not None or no_region:
                changes["region"] = None if no_region else region
            if network or any_network:
                changes["networks"] = [] if any_network else network
            e = await services.entry_points.update(actor, slug, **changes)
            _show(state(ctx).json, await _entry_row(services, actor, e))

        run(ctx, work)


def _register_tickets(app: typer.Typer) -> None:
    ticket = typer.Typer(
        help="The IT ticket list: people who may not apply by themselves.", no_args_is_help=True
    )
    app.add_typer(ticket, name="ticket")

    @ticket.command("list")
    def list_(
        ctx: typer.Context,
        org: OrgOption,
        state_: Annotated[str | None, typer.Option("--state", help="open or closed.")] = None,
        as_csv: Annotated[bool, typer.Option("--csv", help="Every ticket as CSV.")] = False,
        offset: Annotated[int, typer.Option(min=0)] = 0,
        limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    ) -> None:
        """Tickets, newest first."""

        async def work(services: Services, actor: Actor) -> None:
            if as_csv:
                typer.echo(await services.tickets.export_csv(actor, org), nl=False)
                return
            found, total = await services.tickets.list(actor, org, state_, offset, limit)
            emit(
                state(ctx).json,
                _plain([ticket_row(t) for t in found], state(ctx).json),
                ["id", "state", "created_at", "employee_id", "name", "reason"],
                extra={"total": total},
            )

        run(ctx, work)

    @ticket.command("close")
    def close(
        ctx: typer.Context,
        ticket_id: int,
        note: Annotated[str, typer.Option(help="What was done about it (required).")],
    ) -> None:
        """Close an open ticket."""

        async def work(services: Services, actor: Actor) -> None:
            t = await services.tickets.close(actor, ticket_id, note)
            _show(state(ctx).json, ticket_row(t))

        run(ctx, work)


def _register_applications(app: typer.Typer) -> None:
    application = typer.Typer(help="Applications for a mailbox.", no_args_is_help=True)
    app.add_typer(application, name="application")

    @application.command("list")
    def list_(
        ctx: typer.Context,
        org: OrgOption,
        state_: Annotated[
            str | None, typer.Option("--state", help="submitted, awaiting_review, ...")
        ] = None,
        query: Annotated[str, typer.Option(help="Employee ID or name contains.")] = "",
        offset: Annotated[int, typer.Option(min=0)] = 0,
        limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    ) -> None:
        """Applications of the organisation, oldest first (reviewers)."""

        async def work(services: Services, actor: Actor) -> None:
            found, total = await services.applications.search(
                actor, org, state_, query, offset, limit
            )
            emit(
                state(ctx).json,
                _plain([describe_application(a) for a in found], state(ctx).json),
                ["id", "state", "waiting_for", "employee_id", "name", "roster_checks", "deadline"],
                extra={"total": total},
            )

        run(ctx, work)

    @application.command("show")
    def show(ctx: typer.Context, application_id: int) -> None:
        """One application: the form, the roster check, documents and the timeline."""

        async def work(services: Services, actor: Actor) -> None:
            view = await services.applications.for_reviewer(actor, application_id)
            shown = describe_application(view.application) | {
                "organisation": view.organisation,
                "domain": view.domain,
                "roster_unit": view.roster_unit,
                "documents": [
                    f"{d.id}: {d.label} — {d.filename} ({d.content_type.value}, {d.size} bytes)"
                    for d in view.documents
                ],
                "timeline": [
                    f"{d.at.isoformat()} {d.step.value if d.step else 'comment'} {d.actor}"
                    + (f": {d.comment}" if d.comment else "")
                    for d in view.decisions
                ],
            }
            if state(ctx).json:
                emit_one(True, shown)
                return
            _show(False, {k: v for k, v in shown.items() if k not in ("documents", "timeline")})
            for key in ("documents", "timeline"):
                out.print(f"{key}:", highlight=False)
                for line in shown[key]:
                    out.print(f"  {line}", highlight=False, markup=False)

        run(ctx, work)


def register(app: typer.Typer) -> None:
    _register_entries(app)
    _register_applications(app)
    _register_tickets(app)
