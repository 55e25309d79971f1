"""The console's list pages: organisations, domains, roster and accounts, each searchable and
paged through the query string (q, offset, limit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from mailgate.domain.directory import AccountState
from mailgate.web.lookups import organisations_by_id, roster_labels
from mailgate.web.portal.render import CONSOLE, Portal, pager

Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=200)]
Search = Annotated[str, Query(max_length=200)]
PAGE_SIZE = 25


def _matches(query: str, *fields: str) -> bool:
    needle = query.strip().casefold()
    return not needle or any(needle in f.casefold() for f in fields)


def pages_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services

    @router.get(f"{CONSOLE}/organisations")
    async def organisations(
        request: Request, q: Search = "", offset: Offset = 0, limit: Limit = PAGE_SIZE
    ) -> Response:
        session = await portal.session(request)
        if session is None:
            return portal.to_sign_in(request)
        orgs = await services.organisations.list(session.actor)
        domains = await services.organisations.list_domains(session.actor)
        domain_count: dict[int, int] = {}
        for d in domains:
            domain_count[d.org_id] = domain_count.get(d.org_id, 0) + 1
        found = [o for o in orgs if _matches(q, o.slug, o.name, o.helpdesk_contact)]
        shown = found[offset : offset + limit]
        return portal.render(
            request,
            "organisations.html",
            session=session,
            q=q,
            rows=shown,
            domain_count=domain_count,
            pager=pager(request, offset, limit, len(found), len(shown)),
        )

    @router.get(f"{CONSOLE}/domains")
    async def domains(
        request: Request, q: Search = "", offset: Offset = 0, limit: Limit = PAGE_SIZE
    ) -> Response:
        session = await portal.session(request)
        if session is None:
            return portal.to_sign_in(request)
        orgs = await organisations_by_id(services, session.actor)
        rows = [
            (d, orgs[d.org_id])
            for d in await services.organisations.list_domains(session.actor)
            if d.org_id in orgs
        ]
        found = [(d, o) for d, o in rows if _matches(q, d.name, d.unicode_name, o.slug, o.name)]
        shown = found[offset : offset + limit]
        return portal.render(
            request,
            "domains.html",
            session=session,
            q=q,
            rows=shown,
            pager=pager(request, offset, limit, len(found), len(shown)),
        )

    @router.get(f"{CONSOLE}/roster")
    async def roster(
        request: Request,
        q: Search = "",
        org: str = "",
        offset: Offset = 0,
        limit: Limit = PAGE_SIZE,
    ) -> Response:
        session = await portal.session(request)
        if session is None:
            return portal.to_sign_in(request)
        entries, total = await services.roster.search(
            session.actor, org_slug=org or None, query=q, offset=offset, limit=limit
        )
        labels = await roster_labels(services, session.actor, entries)
        return portal.render(
            request,
            "roster.html",
            session=session,
            q=q,
            org=org,
            rows=entries,
            labels=labels,
            orgs=sorted(labels.orgs.values(), key=lambda o: o.slug),
            pager=pager(request, offset, limit, total, len(entries)),
        )

    @router.get(f"{CONSOLE}/accounts")
    async def accounts(
        request: Request,
        q: Search = "",
        org: str = "",
        state: str = "",
        offset: Offset = 0,
        limit: Limit = PAGE_SIZE,
    ) -> Response:
        session = await portal.session(request)
        if session is None:
            return portal.to_sign_in(request)
        wanted = state if state in {s.value for s in AccountState} else ""
        found, total = await services.accounts.search(
            session.actor,
            org_slug=org or None,
            query=q,
            state=wanted or None,
            offset=offset,
            limit=limit,
        )
        orgs = await organisations_by_id(services, session.actor)
        return portal.render(
            request,
            "accounts.html",
            session=session,
            q=q,
            org=org,
            state=wanted,
            rows=found,
            orgs_by_id=orgs,
            orgs=sorted(orgs.values(), key=lambda o: o.slug),
            pager=pager(request, offset, limit, total, len(found)),
        )

    return router
