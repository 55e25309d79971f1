"""Repositories for onboarding: entry points, applications (with decisions, documents and
supervisor links) and tickets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mailgate.domain.entrypoints import EntryPointConfig
from mailgate.domain.errors import Conflict
from mailgate.domain.onboarding import (
    Application,
    ApplicationForm,
    ApplicationState,
    Decision,
    Document,
    DocumentType,
    RosterCheck,
    Step,
    Ticket,
    TicketState,
)
from mailgate.domain.policy import EntryPoint
from mailgate.domain.ports import ApprovalLink
from mailgate.storage.directory_repos import like_pattern
from mailgate.storage.tables import (
    application_decisions,
    application_documents,
    applications,
    approval_links,
    blobs,
    entry_points,
    tickets,
)

_OPEN = [s.value for s in ApplicationState if s.open]
_WAITING = [ApplicationState.AWAITING_SUPERVISOR.value, ApplicationState.AWAITING_REVIEW.value]


# --- entry points ------------------------------------------------------------------------------


def _entry(r: Mapping[Any, Any]) -> EntryPointConfig:
    return EntryPointConfig(
        id=r["id"],
        org_id=r["org_id"],
        slug=r["slug"],
        kind=EntryPoint(r["kind"]),
        domain_id=r["domain_id"],
        region_id=r["region_id"],
        enabled=r["enabled"],
        networks=tuple(r["networks"]),
        trusted_devices_only=r["trusted_devices_only"],
        landing=dict(r["landing"]),
        reach_hint=dict(r["reach_hint"]),
    )


def _entry_values(e: EntryPointConfig) -> dict[str, Any]:
    return {
        "org_id": e.org_id,
        "slug": e.slug,
        "kind": e.kind.value,
        "domain_id": e.domain_id,
        "region_id": e.region_id,
        "enabled": e.enabled,
        "networks": list(e.networks),
        "trusted_devices_only": e.trusted_devices_only,
        "landing": dict(e.landing),
        "reach_hint": dict(e.reach_hint),
    }


class SqlEntryPointRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _one(self, where: Any) -> EntryPointConfig | None:
        r = (await self.conn.execute(select(entry_points).where(where))).mappings().first()
        return _entry(r) if r else None

    async def add(self, entry: EntryPointConfig) -> EntryPointConfig:
        if await self.by_slug(entry.slug) is not None:
            raise Conflict(f"the entry {entry.slug!r} exists already")
        q = entry_points.insert().values(_entry_values(entry)).returning(*entry_points.c)
        try:
            return _entry((await self.conn.execute(q)).mappings().one())
        except IntegrityError as exc:  # a concurrent add won the race
            raise Conflict(f"the entry {entry.slug!r} exists already") from exc

    async def by_slug(self, slug: str) -> EntryPointConfig | None:
        return await self._one(entry_points.c.slug == slug)

    async def for_org(self, org_id: int) -> list[EntryPointConfig]:
        q = select(entry_points).where(entry_points.c.org_id == org_id).order_by(entry_points.c.id)
        return [_entry(r) for r in (await self.conn.execute(q)).mappings()]

    async def update(self, entry: EntryPointConfig) -> None:
        q = update(entry_points).where(entry_points.c.id == entry.id)
        await self.conn.execute(q.values(_entry_values(entry)))


# --- applications ------------------------------------------------------------------------------


def _application(r: Mapping[Any, Any]) -> Application:
    form = ApplicationForm(**r["form"])
    return Application(
        id=r["id"],
        org_id=r["org_id"],
        domain_id=r["domain_id"],
        entry_point=EntryPoint(r["entry_point"]),
        state=ApplicationState(r["state"]),
        form=form,
        approval_chain=tuple(r["approval_chain"]),
        stage=r["stage"],
        roster_id=r["roster_id"],
        roster_checks=tuple(RosterCheck(c) for c in r["roster_checks"]),
        checklist=tuple(r["checklist"]),
        four_eyes=r["four_eyes"],
        tracking_digest=r["tracking_digest"],
        created_at=r["created_at"],
        submitted_at=r["submitted_at"],
        decided_at=r["decided_at"],
        deadline=r["deadline"],
        reminded_at=r["reminded_at"],
        decision_reason=r["decision_reason"],
        account_id=r["account_id"],
        applicant_account_id=r["applicant_account_id"],
        filed_by=r["filed_by"],
    )


def _application_values(a: Application) -> dict[str, Any]:
    return {
        "org_id": a.org_id,
        "domain_id": a.domain_id,
        "entry_point": a.entry_point.value,
        "state": a.state.value,
        "employee_id": a.form.employee_id.casefold(),
        "form": asdict(a.form),
        "approval_chain": list(a.approval_chain),
        "stage": a.stage,
        "roster_id": a.roster_id,
        "roster_checks": [c.value for c in a.roster_checks],
        "checklist": list(a.checklist),
        "four_eyes": a.four_eyes,
        "tracking_digest": a.tracking_digest,
        "created_at": a.created_at,
        "submitted_at": a.submitted_at,
        "decided_at": a.decided_at,
        "deadline": a.deadline,
        "reminded_at": a.reminded_at,
        "decision_reason": a.decision_reason,
        "account_id": a.account_id,
        "applicant_account_id": a.applicant_account_id,
        "filed_by": a.filed_by,
    }


def _decision(r: Mapping[Any, Any]) -> Decision:
    return Decision(
        application_id=r["application_id"],
        at=r["at"],
        actor=r["actor"],
        step=Step(r["step"]) if r["step"] else None,
        stage=r["stage"],
        comment=r["comment"],
        checklist=dict(r["checklist"]),
        actor_account_id=r["actor_account_id"],
        id=r["id"],
    )


def _document(r: Mapping[Any, Any]) -> Document:
    return Document(
        id=r["id"],
        application_id=r["application_id"],
        blob_id=r["blob_id"],
        filename=r["filename"],
        content_type=DocumentType(r["content_type"]),
        size=r["size"],
        label=r["label"],
        uploaded_at=r["uploaded_at"],
    )


class SqlApplicationRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _many(self, q: Any) -> list[Application]:
        return [_application(r) for r in (await self.conn.execute(q)).mappings()]

    async def add(self, application: Application) -> Application:
        q = applications.insert().values(_application_values(application))
        row = (await self.conn.execute(q.returning(*applications.c))).mappings().one()
        return _application(row)

    async def get(self, application_id: int, *, lock: bool = False) -> Application | None:
        q = select(applications).where(applications.c.id == application_id)
        if lock and self.conn.dialect.name == "postgresql":
            q = q.with_for_update()
        found = await self._many(q)
        return found[0] if found else None

    async def by_tracking(self, digest: str) -> Application | None:
        found = await self._many(
            select(applications).where(applications.c.tracking_digest == digest)
        )
        return found[0] if found else None

    async def by_account(self, account_id: int) -> Application | None:
        found = await self._many(
            select(applications).where(applications.c.account_id == account_id)
        )
        return found[0] if found else None

    async def open_for(self, domain_id: int, employee_id: str) -> list[Application]:
        c = applications.c
        q = select(applications).where(
            c.domain_id == domain_id,
            c.employee_id == employee_id.casefold(),
            c.state.in_(_OPEN),
        )
        return await self._many(q)

    async def update(self, application: Application) -> None:
        q = update(applications).where(applications.c.id == application.id)
        await self.conn.execute(q.values(_application_values(application)))

    async def search(
        self,
        org_ids: frozenset[int] | None,
        states: Sequence[ApplicationState] | None,
        waiting_for: str | None,
        query: str,
        offset: int,
        limit: int,
    ) -> tuple[list[Application], int]:
        c = applications.c
        where: list[Any] = []
        if org_ids is not None:
            where.append(c.org_id.in_(sorted(org_ids)))
        if states:
            where.append(c.state.in_([s.value for s in states]))
        if query.strip():
            pattern = like_pattern(query.strip().casefold())
            where.append(
                or_(
                    c.employee_id.like(pattern, escape="\\"),
                    func.lower(c.form["name"].as_string()).like(pattern, escape="\\"),
                )
            )
        q = select(applications).where(and_(True, *where))
        found = await self._many(q.order_by(c.submitted_at, c.id))
        if waiting_for is not None:
            found = [a for a in found if a.waiting_for == waiting_for]
        return found[offset : offset + limit], len(found)

    async def past_deadline(self, now: datetime, limit: int) -> list[Application]:
        c = applications.c
        q = select(applications).where(
            c.state.in_(_OPEN), c.deadline.is_not(None), c.deadline < now
        )
        return await self._many(q.order_by(c.deadline).limit(limit))

    async def waiting_since(self, before: datetime, limit: int) -> list[Application]:
        c = applications.c
        q = select(applications).where(
            c.state.in_(_WAITING),
            or_(
                and_(c.reminded_at.is_(None), c.submitted_at < before),
                c.reminded_at < before,
            ),
        )
        return await self._many(q.order_by(c.id).limit(limit))

    async def add_decision(self, decision: Decision) -> None:
        await self.conn.execute(
            application_decisions.insert().values(
                application_id=decision.application_id,
                at=decision.at,
                actor=decision.actor[:320],
                actor_account_id=decision.actor_account_id,
                step=decision.step.value if decision.step else None,
                stage=decision.stage,
                comment=decision.comment[:2000],
                checklist=dict(decision.checklist),
            )
        )

    async def decisions(self, application_id: int) -> list[Decision]:
        c = application_decisions.c
        q = select(application_decisions).where(c.application_id == application_id)
        return [_decision(r) for r in (await self.conn.execute(q.order_by(c.id))).mappings()]

    async def add_document(self, document: Document) -> Document:
        # A reference in `blobs`, as messages and queued mail have: without it the store's
        # garbage collector would take the document's file for a crash's orphan.
        ins = (postgresql.insert if self.conn.dialect.name == "postgresql" else sqlite.insert)(
            blobs
        )
        await self.conn.execute(
            ins.values(
                id=document.blob_id, size=document.size, refcount=1, created_at=document.uploaded_at
            ).on_conflict_do_update(
                index_elements=[blobs.c.id], set_={"refcount": blobs.c.refcount + 1}
            )
        )
        q = application_documents.insert().values(
            application_id=document.application_id,
            blob_id=document.blob_id,
            filename=document.filename,
            content_type=document.content_type.value,
            size=document.size,
            label=document.label[:200],
            uploaded_at=document.uploaded_at,
        )
        row = (await self.conn.execute(q.returning(*application_documents.c))).mappings().one()
        return _document(row)

    async def documents(self, application_id: int) -> list[Document]:
        c = application_documents.c
        q = select(application_documents).where(c.application_id == application_id)
        return [_document(r) for r in (await self.conn.execute(q.order_by(c.id))).mappings()]

    async def add_link(
        self, application_id: int, stage: int, digest: str, expires_at: datetime
    ) -> None:
        await self.conn.execute(
            approval_links.insert().values(
                application_id=application_id, stage=stage, digest=digest, expires_at=expires_at
            )
        )

    async def link(self, digest: str) -> ApprovalLink | None:
        q = select(approval_links).where(approval_links.c.digest == digest)
        r = (await self.conn.execute(q)).mappings().first()
        if r is None:
            return None
        return ApprovalLink(r["id"], r["application_id"], r["stage"], r["expires_at"], r["used_at"])

    async def spend_link(self, link_id: int, when: datetime) -> bool:
        c = approval_links.c
        q = update(approval_links).where(c.id == link_id, c.used_at.is_(None)).values(used_at=when)
        return bool((await self.conn.execute(q)).rowcount)


# --- tickets -----------------------------------------------------------------------------------


def _ticket(r: Mapping[Any, Any]) -> Ticket:
    return Ticket(
        id=r["id"],
        org_id=r["org_id"],
        employee_id=r["employee_id"],
        name=r["name"],
        reason=r["reason"],
        details=dict(r["details"]),
        state=TicketState(r["state"]),
        created_at=r["created_at"],
        application_id=r["application_id"],
        closed_at=r["closed_at"],
        note=r["note"],
    )


def _ticket_values(t: Ticket) -> dict[str, Any]:
    return {
        "org_id": t.org_id,
        "employee_id": t.employee_id,
        "name": t.name,
        "reason": t.reason[:2000],
        "details": dict(t.details),
        "state": t.state.value,
        "created_at": t.created_at,
        "application_id": t.application_id,
        "closed_at": t.closed_at,
        "note": t.note[:2000],
    }


class SqlTicketRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, ticket: Ticket) -> Ticket:
        q = tickets.insert().values(_ticket_values(ticket)).returning(*tickets.c)
        return _ticket((await self.conn.execute(q)).mappings().one())

    async def get(self, ticket_id: int) -> Ticket | None:
        r = (
            (await self.conn.execute(select(tickets).where(tickets.c.id == ticket_id)))
            .mappings()
            .first()
        )
        return _ticket(r) if r else None

    async def search(
        self, org_ids: frozenset[int] | None, state: TicketState | None, offset: int, limit: int
    ) -> tuple[list[Ticket], int]:
        c = tickets.c
        where: list[Any] = []
        if org_ids is not None:
            where.append(c.org_id.in_(sorted(org_ids)))
        if state is not None:
            where.append(c.state == state.value)
        total = await self.conn.scalar(
            select(func.count()).select_from(tickets).where(and_(True, *where))
        )
        q = (
            select(tickets)
            .where(and_(True, *where))
            .order_by(c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [_ticket(r) for r in (await self.conn.execute(q)).mappings()], int(total or 0)

    async def update(self, ticket: Ticket) -> None:
        q = update(tickets).where(tickets.c.id == ticket.id)
        await self.conn.execute(q.values(_ticket_values(ticket)))
