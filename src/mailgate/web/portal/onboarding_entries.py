"""The console's entry-point and ticket pages (see onboarding_admin for the policies).

    /admin/entries                     the organisation's entries, with their public links
    /admin/entries/new                 add one: slug, kind, domain, region, networks, trusted
                                       devices only, landing and "where to reach it" texts per
                                       language
    /admin/entries/{slug}              change it (the slug stays), enable or disable it
    /admin/tickets                     people routed to IT instead of self-service, newest first
    /admin/tickets/{id}                one ticket; close it with a note of what was done
    /admin/tickets/export.csv          every ticket of the organisation (audited by the service)

Entries are for administrators of the organisation (ORG_UPDATE to change, any role to read);
tickets for the helpdesk and organisation administrators (TICKET_MANAGE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Organisation
from mailgate.domain.entrypoints import EntryPointConfig, check_slug, parse_networks
from mailgate.domain.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from mailgate.domain.policy import EntryPoint
from mailgate.services.identity import WebSession
from mailgate.services.tickets import MAX_NOTE
from mailgate.web.i18n import LOCALES, Catalog
from mailgate.web.portal.account import time_formatter
from mailgate.web.portal.onboarding_admin import ENTRIES, TICKETS, Console
from mailgate.web.portal.render import Portal, pager
from mailgate.web.session import client_ip

MAX_TEXT = 4000
MAX_NETWORKS = 200
PAGE_SIZE = 25
CSV_BOM = "\ufeff"  # so that spreadsheet programs read the UTF-8 (Chinese names) correctly

Slug = Annotated[str, Query(max_length=100)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=200)]


def entry_url(slug: str, org: str = "") -> str:
    return f"{ENTRIES}/{slug}" + (f"?{urlencode({'org': org})}" if org else "")


@dataclass(slots=True)
class EntryFields:
    """The entry form as typed; `errors` per field after `check`."""

    slug: str = ""
    kind: str = EntryPoint.PORTAL.value
    domain: str = ""
    region: str = ""
    networks: str = ""
    trusted_devices_only: bool = False
    enabled: bool = True
    landing: dict[str, str] = field(default_factory=dict)
    reach_hint: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    parsed_networks: tuple[str, ...] = ()

    @classmethod
    def of(cls, entry: EntryPointConfig, domain: str, region: str) -> EntryFields:
        return cls(
            slug=entry.slug,
            kind=entry.kind.value,
            domain=domain,
            region=region,
            networks="\n".join(entry.networks),
            trusted_devices_only=entry.trusted_devices_only,
            enabled=entry.enabled,
            landing=dict(entry.landing),
            reach_hint=dict(entry.reach_hint),
        )

    @classmethod
    def read(cls, data: FormData) -> EntryFields:
        def text(name: str, limit: int = 200) -> str:
            return str(data.get(name, ""))[:limit].strip()

        return cls(
            slug=text("slug", 100).lower(),
            kind=text("kind", 20),
            domain=text("domain", 300),
            region=text("region", 100),
            networks=text("networks", 20_000),
            trusted_devices_only=data.get("trusted_devices_only") == "1",
            enabled=data.get("enabled") == "1",
            landing={lang: text(f"landing.{lang}", MAX_TEXT + 1) for lang in LOCALES},
            reach_hint={lang: text(f"reach_hint.{lang}", MAX_TEXT + 1) for lang in LOCALES},
        )

    def check(self, t: Catalog, *, new: bool) -> bool:
        _ = t.gettext
        if new:
            try:
                self.slug = check_slug(self.slug)
            except InvalidInput:
                self.errors["slug"] = _(
                    "Use 1 to 40 of a-z, 0-9 and '-', not starting or ending with '-'."
                )
        if self.kind not in {k.value for k in EntryPoint}:
            self.errors["kind"] = _("Choose one of the list.")
        if not self.domain:
            self.errors["domain"] = _("Choose the mail domain the new accounts get.")
        lines = [line.strip() for line in self.networks.splitlines() if line.strip()]
        if len(lines) > MAX_NETWORKS:
            self.errors["networks"] = _("At most 200 networks.")
        for line in lines:
            try:
                parse_networks([line])
            except InvalidInput:
                self.errors["networks"] = _(
                    "%(network)s is not a network. Write one per line, like 10.8.0.0/16 or "
                    "2001:db8::/48."
                ) % {"network": line[:60]}
                break
        else:
            self.parsed_networks = parse_networks(lines)
        for key, texts in (("landing", self.landing), ("reach_hint", self.reach_hint)):
            if any(len(v) > MAX_TEXT for v in texts.values()):
                self.errors[key] = _("A text may have at most 4000 characters.")
        return not self.errors


def entries_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services
    console = Console(portal)

    async def choices(actor: Actor, org: Organisation) -> dict[str, Any]:
        return {
            "domains": await services.organisations.list_domains(actor, org.slug),
            "regions": await services.organisations.list_regions(actor, org.slug),
            "KINDS": [k.value for k in EntryPoint],
            "LOCALES": LOCALES,
        }

    async def entry_form(
        request: Request,
        session: WebSession,
        org: Organisation,
        f: EntryFields,
        *,
        existing: EntryPointConfig | None,
        status_code: int = 200,
    ) -> Response:
        return console.render(
            request,
            "admin_entries_form.html",
            session,
            status_code=status_code,
            org=org,
            f=f,
            existing=existing,
            entry_url=entry_url,
            **await choices(session.actor, org),
        )

    @router.get(ENTRIES)
    async def entries(request: Request, org: Slug = "", done: Slug = "") -> Response:
        session = await console.session(request)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor
        orgs = await console.orgs(actor, Permission.ORG_READ)
        current = console.chosen(orgs, org)
        rows = await services.entry_points.list(actor, current.slug)
        domain_list = await services.organisations.list_domains(actor, current.slug)
        domains = {d.id: d.unicode_name for d in domain_list}
        regions = {
            r.id: r.name for r in await services.organisations.list_regions(actor, current.slug)
        }
        t = portal.catalog(request)
        return console.render(
            request,
            "admin_entries.html",
            session,
            orgs=orgs,
            org=current,
            rows=rows,
            domains=domains,
            regions=regions,
            may_change=actor.can(Permission.ORG_UPDATE, current.id),
            entry_url=entry_url,
            notice=_entry_notice(t, done),
        )

    async def changeable(actor: Actor, slug: str) -> Organisation:
        return console.chosen(await console.orgs(actor, Permission.ORG_UPDATE), slug or "-")

    @router.get(f"{ENTRIES}/new")
    async def new_entry(request: Request, org: Slug = "") -> Response:
        session = await console.session(request)
        if not isinstance(session, WebSession):
            return session
        current = await changeable(session.actor, org)
        return await entry_form(request, session, current, EntryFields(), existing=None)

    @router.post(f"{ENTRIES}/new")
    async def add_entry(request: Request, org: Slug = "") -> Response:
        session = await console.session(request)
        if not isinstance(session, WebSession):
            return session
        data = await console.form(request, session)
        if not isinstance(data, FormData):
            return data
        current = await changeable(session.actor, org)
        t = portal.catalog(request)
        _ = t.gettext
        f = EntryFields.read(data)
        if f.check(t, new=True):
            try:
                await services.entry_points.add(
                    session.actor,
                    current.slug,
                    f.slug,
                    f.kind,
                    f.domain,
                    region=f.region or None,
                    networks=list(f.parsed_networks),
                    trusted_devices_only=f.trusted_devices_only,
                    landing=f.landing,
                    reach_hint=f.reach_hint,
                )
            except Conflict:
                f.errors["slug"] = _("This address is taken by another entry.")
            except NotFound:
                f.errors["domain"] = _("The organisation has no such domain or region.")
            else:
                target = f"{ENTRIES}?{urlencode({'org': current.slug, 'done': 'added'})}"
                return RedirectResponse(target, status_code=303)
        return await entry_form(request, session, current, f, existing=None, status_code=422)

    async def visible(actor: Actor, slug: str) -> tuple[EntryPointConfig, str, str]:
        return await services.entry_points.get(actor, slug)

    async def org_of(actor: Actor, entry: EntryPointConfig) -> Organisation:
        orgs = await console.orgs(actor, Permission.ORG_READ)
        found = next((o for o in orgs if o.id == entry.org_id), None)
        if found is None:
            raise NotFound("there is no such entry")
        return found

    @router.get(f"{ENTRIES}/{{slug}}")
    async def edit_entry(request: Request, slug: str) -> Response:
        session = await console.session(request)
        if not isinstance(session, WebSession):
            return session
        entry, domain, region = await visible(session.actor, slug)
        org = await org_of(session.actor, entry)
        session.actor.require(Permission.ORG_UPDATE, entry.org_id)
        f = EntryFields.of(entry, domain, region)
        return await entry_form(request, session, org, f, existing=entry)

    @router.post(f"{ENTRIES}/{{slug}}")
    async def change_entry(request: Request, slug: str) -> Response:
        session = await console.session(request)
        if not isinstance(session, WebSession):
            return session
        data = await console.form(request, session)
        if not isinstance(data, FormData):
            return data
        entry, _domain, _region = await visible(session.actor, slug)
        org = await org_of(session.actor, entry)
        t = portal.catalog(request)
        _ = t.gettext
        f = EntryFields.read(data)
        f.slug = entry.slug
        if f.check(t, new=False):
            try:
                await services.entry_points.update(
                    session.actor,
                    entry.slug,
                    enabled=f.enabled,
                    kind=f.kind,
                    domain=f.domain,
                    region=f.region or None,
                    networks=list(f.parsed_networks),
                    trusted_devices_only=f.trusted_devices_only,
                    landing=f.landing,
                    reach_hint=f.reach_hint,
                )
            except NotFound:
                f.errors["domain"] = _("The organisation has no such domain or region.")
            else:
                target = f"{ENTRIES}?{urlencode({'org': org.slug, 'done': 'changed'})}"
                return RedirectResponse(target, status_code=303)
        return await entry_form(request, session, org, f, existing=entry, status_code=422)

    # --- tickets ------------------------------------------------------------------------------

    @router.get(TICKETS)
    async def tickets(
        request: Request,
        org: Slug = "",
        state: Annotated[str, Query(max_length=20)] = "open",
        done: Slug = "",
        offset: Offset = 0,
        limit: Limit = PAGE_SIZE,
    ) -> Response:
        session = await console.session(request)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor
        orgs = await console.orgs(actor, Permission.TICKET_MANAGE)
        current = console.chosen(orgs, org)
        wanted = state if state in ("open", "closed") else ""
        rows, total = await services.tickets.list(
            actor, current.slug, wanted or None, offset, limit
        )
        own = await services.accounts.own(actor)
        t = portal.catalog(request)
        _ = t.gettext
        return console.render(
            request,
            "admin_tickets.html",
            session,
            orgs=orgs,
            org=current,
            state=wanted,
            rows=rows,
            when=time_formatter(t, own.time_zone),
            notice=_("The ticket was closed.") if done == "closed" else "",
            csv_url=f"{TICKETS}/export.csv?{urlencode({'org': current.slug})}",
            pager=pager(request, offset, limit, total, len(rows)),
        )

    @router.get(f"{TICKETS}/export.csv")
    async def tickets_csv(request: Request, org: Slug = "") -> Response:
        session = await console.session(request)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor.with_source_ip(client_ip(request))
        current = console.chosen(await console.orgs(actor, Permission.TICKET_MANAGE), org)
        text = await services.tickets.export_csv(actor, current.slug)
        today = datetime.now(UTC).strftime("%Y%m%d")
        return Response(
            CSV_BOM + text,
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": (
                    f'attachment; filename="mailgate-tickets-{current.slug}-{today}.csv"'
                ),
                "cache-control": "no-store",
            },
        )

    async def ticket_page(
        request: Request,
        session: WebSession,
        ticket_id: int,
        *,
        note: str = "",
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        ticket = await services.tickets.get(session.actor, ticket_id)
        own = await services.accounts.own(session.actor)
        orgs = await console.orgs(session.actor, Permission.TICKET_MANAGE)
        return console.render(
            request,
            "admin_tickets_one.html",
            session,
            status_code=status_code,
            ticket=ticket,
            org=next((o for o in orgs if o.id == ticket.org_id), None),
            when=time_formatter(portal.catalog(request), own.time_zone),
            note=note,
            error=error,
            MAX_NOTE=MAX_NOTE,
        )

    @router.get(f"{TICKETS}/{{ticket_id}}")
    async def ticket(request: Request, ticket_id: int) -> Response:
        session = await console.session(request)
        if not isinstance(session, WebSession):
            return session
        return await ticket_page(request, session, ticket_id)

    @router.post(f"{TICKETS}/{{ticket_id}}/close")
    async def close_ticket(request: Request, ticket_id: int) -> Response:
        session = await console.session(request)
        if not isinstance(session, WebSession):
            return session
        data = await console.form(request, session)
        if not isinstance(data, FormData):
            return data
        t = portal.catalog(request)
        _ = t.gettext
        note = str(data.get("note", ""))[: MAX_NOTE + 1].strip()
        error = ""
        if not note:
            error = _("Say in a note what was done about the ticket.")
        elif len(note) > MAX_NOTE:
            error = _("Keep the note under %(count)s characters.") % {"count": t.number(MAX_NOTE)}
        else:
            actor = session.actor.with_source_ip(client_ip(request))
            try:
                closed = await services.tickets.close(actor, ticket_id, note)
            except InvalidTransition:
                error = _("This ticket is closed already.")
            else:
                orgs = await console.orgs(session.actor, Permission.TICKET_MANAGE)
                slug = next((o.slug for o in orgs if o.id == closed.org_id), "")
                target = f"{TICKETS}?{urlencode({'org': slug, 'done': 'closed'})}"
                return RedirectResponse(target, status_code=303)
        return await ticket_page(
            request, session, ticket_id, note=note, error=error, status_code=422
        )

    return router


def _entry_notice(t: Catalog, done: str) -> str:
    _ = t.gettext
    return {"added": _("The entry was added."), "changed": _("The entry was saved.")}.get(done, "")
