"""The IT ticket list (R2): where people who may not apply by themselves end up, never a dead end.

When the policy refuses self-service, `services.applications` opens a ticket with the reason in
plain words and the form as details (`open_ticket_in`, in the filing's transaction). The
helpdesk (TICKET_MANAGE: helpdesk and organisation admins) lists, exports and closes tickets;
everybody else is refused, and tickets of other organisations do not exist for them. The same
person filing again while their ticket is open gets that ticket back rather than a second one.
Export and close are audited.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Organisation
from mailgate.domain.errors import InvalidInput, InvalidTransition, NotFound
from mailgate.domain.onboarding import Ticket, TicketState
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.services.audit import record
from mailgate.services.entrypoints import without_controls
from mailgate.services.organisations import org_by_slug

MAX_NOTE = 2000
_PAGE = 500
CSV_COLUMNS = (
    "id",
    "state",
    "created_at",
    "employee_id",
    "name",
    "reason",
    "application_id",
    "closed_at",
    "note",
    "details",
)


def _state(value: str | None) -> TicketState | None:
    if value is None or value == "":
        return None
    try:
        return TicketState(value)
    except ValueError:
        known = ", ".join(s.value for s in TicketState)
        raise InvalidInput(f"unknown ticket state {value!r}; known: {known}") from None


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def ticket_row(ticket: Ticket) -> dict[str, str]:
    return {
        "id": str(ticket.id),
        "state": ticket.state.value,
        "created_at": ticket.created_at.isoformat(),
        "employee_id": ticket.employee_id,
        "name": ticket.name,
        "reason": ticket.reason,
        "application_id": "" if ticket.application_id is None else str(ticket.application_id),
        "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else "",
        "note": ticket.note,
        "details": json.dumps(dict(ticket.details), ensure_ascii=False, sort_keys=True),
    }


async def open_ticket_in(
    uow: UnitOfWork,
    clock: Clock,
    actor: Actor,
    org: Organisation,
    employee_id: str,
    name: str,
    reason: str,
    details: Mapping[str, str],
) -> tuple[Ticket, bool]:
    """A ticket for this person in the caller's transaction (the organisation row should be
    locked by the caller); (ticket, True) when new, (their open ticket, False) otherwise."""
    key = employee_id.casefold()
    offset = 0
    while True:
        found, total = await uow.tickets.search(
            frozenset({org.id}), TicketState.OPEN, offset, _PAGE
        )
        for ticket in found:
            if ticket.employee_id.casefold() == key:
                return ticket, False
        offset += _PAGE
        if offset >= total:
            break
    ticket = await uow.tickets.add(
        Ticket(
            id=0,
            org_id=org.id,
            employee_id=employee_id,
            name=name[:100],
            reason=reason[:MAX_NOTE],
            details=dict(details),
            state=TicketState.OPEN,
            created_at=clock.now(),
        )
    )
    await record(
        uow, clock, actor, "ticket.create", f"ticket:{ticket.id}", org.id,
        {"employee_id": employee_id, "reason": ticket.reason},
    )  # fmt: skip
    return ticket, True


@dataclass(slots=True)
class TicketService:
    uow: UnitOfWorkFactory
    clock: Clock

    async def list(
        self,
        actor: Actor,
        org_slug: str,
        state: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[Ticket], int]:
        """Newest first, with the total."""
        wanted = _state(state)
        if offset < 0 or not 1 <= limit <= 500:
            raise InvalidInput("offset must be 0 or more and limit from 1 to 500")
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.TICKET_MANAGE)
            return await uow.tickets.search(frozenset({org.id}), wanted, offset, limit)

    async def get(self, actor: Actor, ticket_id: int, org_slug: str | None = None) -> Ticket:
        async with self.uow(write=False) as uow:
            return await self._visible(uow, actor, ticket_id, org_slug)

    async def export_csv(self, actor: Actor, org_slug: str) -> str:
        """Every ticket of the organisation as CSV (UTF-8 text, a header row, newest first)."""
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.TICKET_MANAGE)
            out = io.StringIO()
            writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\r\n")
            writer.writeheader()
            offset, count = 0, 0
            while True:
                found, total = await uow.tickets.search(frozenset({org.id}), None, offset, _PAGE)
                for ticket in found:
                    writer.writerow({k: _cell(v) for k, v in ticket_row(ticket).items()})
                count += len(found)
                offset += _PAGE
                if offset >= total or not found:
                    break
            await record(
                uow, self.clock, actor, "ticket.export", f"org:{org.slug}", org.id,
                {"tickets": count},
            )  # fmt: skip
            await uow.commit()
        return out.getvalue()

    async def close(
        self, actor: Actor, ticket_id: int, note: str, *, org_slug: str | None = None
    ) -> Ticket:
        """Close an open ticket with a note saying what was done (required)."""
        text = without_controls(note)
        if not text:
            raise InvalidInput("say in a note what was done about the ticket")
        if len(text) > MAX_NOTE:
            raise InvalidInput(f"the note is longer than {MAX_NOTE} characters")
        async with self.uow() as uow:
            ticket = await self._visible(uow, actor, ticket_id, org_slug)
            if ticket.state is TicketState.CLOSED:
                raise InvalidTransition(f"ticket {ticket.id} is closed already")
            ticket.state = TicketState.CLOSED
            ticket.closed_at = self.clock.now()
            ticket.note = text
            await uow.tickets.update(ticket)
            await record(
                uow, self.clock, actor, "ticket.close", f"ticket:{ticket.id}", ticket.org_id,
                {"note": text},
            )  # fmt: skip
            await uow.commit()
        return ticket

    async def _visible(
        self, uow: UnitOfWork, actor: Actor, ticket_id: int, org_slug: str | None
    ) -> Ticket:
        ticket = await uow.tickets.get(ticket_id)
        if ticket is None or not actor.can(Permission.ORG_READ, ticket.org_id):
            raise NotFound(f"there is no ticket {ticket_id}")
        if org_slug is not None:
            org = await org_by_slug(uow, actor, org_slug, Permission.ORG_READ)
            if org.id != ticket.org_id:
                raise NotFound(f"there is no ticket {ticket_id}")
        actor.require(Permission.TICKET_MANAGE, ticket.org_id)
        return ticket
