"""Repositories for organisations, domains, structure (units, positions, regions) and roster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from mailgate.domain.directory import (
    ROSTER_MUTABLE_FIELDS,
    Domain,
    Organisation,
    OrgUnit,
    Position,
    Region,
    RosterEntry,
)
from mailgate.domain.errors import Conflict
from mailgate.storage import rows
from mailgate.storage.tables import (
    domains,
    org_units,
    organisations,
    positions,
    regions,
    roster_entries,
)

BATCH = 2000


def like_pattern(query: str) -> str:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlOrganisationRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(
        self,
        slug: str,
        name: str,
        kind: str,
        account_pool_limit: int | None,
        default_quota: int,
        helpdesk_contact: str,
    ) -> Organisation:
        values = {
            "slug": slug,
            "name": name,
            "kind": kind,
            "account_pool_limit": account_pool_limit,
            "default_quota": default_quota,
            "helpdesk_contact": helpdesk_contact,
            "created_at": datetime.now(UTC),
        }
        try:
            res = await self.conn.execute(organisations.insert().values(values))
        except IntegrityError as exc:
            raise Conflict(f"an organisation with the slug {slug!r} already exists") from exc
        assert res.inserted_primary_key is not None  # noqa: S101
        return rows.organisation({"id": res.inserted_primary_key[0], **values})

    async def get(self, org_id: int) -> Organisation | None:
        r = await self.conn.execute(select(organisations).where(organisations.c.id == org_id))
        row = r.mappings().first()
        return rows.organisation(row) if row else None

    async def get_for_update(self, org_id: int) -> Organisation | None:
        # PostgreSQL: SELECT ... FOR UPDATE. SQLite ignores the clause; its writer transaction
        # began IMMEDIATE and already holds the database's write lock.
        q = select(organisations).where(organisations.c.id == org_id).with_for_update()
        row = (await self.conn.execute(q)).mappings().first()
        return rows.organisation(row) if row else None

    async def by_slug(self, slug: str) -> Organisation | None:
        r = await self.conn.execute(select(organisations).where(organisations.c.slug == slug))
        row = r.mappings().first()
        return rows.organisation(row) if row else None

    async def list(self, org_ids: frozenset[int] | None) -> list[Organisation]:
        q = select(organisations).order_by(organisations.c.slug)
        if org_ids is not None:
            q = q.where(organisations.c.id.in_(org_ids))
        return [rows.organisation(r) for r in (await self.conn.execute(q)).mappings()]

    async def update(self, org: Organisation) -> None:
        await self.conn.execute(
            update(organisations)
            .where(organisations.c.id == org.id)
            .values(
                name=org.name,
                kind=org.kind.value,
                account_pool_limit=org.account_pool_limit,
                default_quota=org.default_quota,
                helpdesk_contact=org.helpdesk_contact,
            )
        )


class SqlDomainRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, name: str, unicode_name: str, org_id: int) -> Domain:
        values = {
            "name": name,
            "unicode_name": unicode_name,
            "org_id": org_id,
            "created_at": datetime.now(UTC),
        }
        try:
            res = await self.conn.execute(domains.insert().values(values))
        except IntegrityError as exc:
            raise Conflict(f"the domain {unicode_name} is already registered") from exc
        assert res.inserted_primary_key is not None  # noqa: S101
        return rows.domain({"id": res.inserted_primary_key[0], **values})

    async def by_name(self, ascii_name: str) -> Domain | None:
        r = await self.conn.execute(select(domains).where(domains.c.name == ascii_name))
        row = r.mappings().first()
        return rows.domain(row) if row else None

    async def list(self, org_ids: frozenset[int] | None) -> list[Domain]:
        q = select(domains).order_by(domains.c.name)
        if org_ids is not None:
            q = q.where(domains.c.org_id.in_(org_ids))
        return [rows.domain(r) for r in (await self.conn.execute(q)).mappings()]


class SqlStructureRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def units(self, org_id: int) -> list[OrgUnit]:
        q = select(org_units).where(org_units.c.org_id == org_id).order_by(org_units.c.path)
        return [rows.org_unit(r) for r in (await self.conn.execute(q)).mappings()]

    async def add_unit(self, org_id: int, parent_id: int | None, name: str, path: str) -> OrgUnit:
        values = {"org_id": org_id, "parent_id": parent_id, "name": name, "path": path}
        res = await self.conn.execute(org_units.insert().values(values))
        assert res.inserted_primary_key is not None  # noqa: S101
        return rows.org_unit({"id": res.inserted_primary_key[0], **values})

    async def positions(self, org_id: int) -> list[Position]:
        q = select(positions).where(positions.c.org_id == org_id).order_by(positions.c.name)
        return [rows.position(r) for r in (await self.conn.execute(q)).mappings()]

    async def add_position(self, org_id: int, name: str) -> Position:
        res = await self.conn.execute(positions.insert().values(org_id=org_id, name=name))
        assert res.inserted_primary_key is not None  # noqa: S101
        return Position(res.inserted_primary_key[0], org_id, name)

    async def regions(self, org_id: int) -> list[Region]:
        q = select(regions).where(regions.c.org_id == org_id).order_by(regions.c.code)
        return [rows.region(r) for r in (await self.conn.execute(q)).mappings()]

    async def add_region(
        self, org_id: int, code: str, name: str, time_zone: str, language: str
    ) -> Region:
        values = {
            "org_id": org_id,
            "code": code,
            "name": name,
            "time_zone": time_zone,
            "language": language,
        }
        try:
            res = await self.conn.execute(regions.insert().values(values))
        except IntegrityError as exc:
            raise Conflict(f"the region code {code!r} already exists") from exc
        assert res.inserted_primary_key is not None  # noqa: S101
        return rows.region({"id": res.inserted_primary_key[0], **values})


_ROSTER_UPDATABLE = (*ROSTER_MUTABLE_FIELDS, "updated_at")


class SqlRosterRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def all_for_org(self, org_id: int) -> dict[str, RosterEntry]:
        q = select(roster_entries).where(roster_entries.c.org_id == org_id)
        result = await self.conn.stream(q)
        out: dict[str, RosterEntry] = {}
        async for r in result.mappings():
            entry = rows.roster_entry(r)
            out[entry.employee_id] = entry
        return out

    async def insert_many(self, items: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(items), BATCH):
            await self.conn.execute(roster_entries.insert(), list(items[start : start + BATCH]))

    async def update_many(self, items: Sequence[dict[str, Any]]) -> None:
        if not items:
            return
        stmt = (
            update(roster_entries)
            .where(roster_entries.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in _ROSTER_UPDATABLE})
        )
        params = [{f"b_{k}": v for k, v in item.items()} for item in items]
        for start in range(0, len(params), BATCH):
            await self.conn.execute(stmt, params[start : start + BATCH])

    async def get(self, org_id: int, employee_id: str) -> RosterEntry | None:
        q = select(roster_entries).where(
            roster_entries.c.org_id == org_id, roster_entries.c.employee_id == employee_id
        )
        row = (await self.conn.execute(q)).mappings().first()
        return rows.roster_entry(row) if row else None

    async def by_id(self, roster_id: int) -> RosterEntry | None:
        q = select(roster_entries).where(roster_entries.c.id == roster_id)
        row = (await self.conn.execute(q)).mappings().first()
        return rows.roster_entry(row) if row else None

    async def search(
        self, org_ids: frozenset[int] | None, query: str, offset: int, limit: int
    ) -> tuple[list[RosterEntry], int]:
        cond: list[ColumnElement[bool]] = []
        if org_ids is not None:
            cond.append(roster_entries.c.org_id.in_(org_ids))
        if query:
            pat = like_pattern(query)
            cond.append(
                or_(
                    roster_entries.c.employee_id.ilike(pat, escape="\\"),
                    roster_entries.c.name_zh.like(pat, escape="\\"),
                    roster_entries.c.name_latin.ilike(pat, escape="\\"),
                )
            )
        total = await self.conn.scalar(
            select(func.count()).select_from(roster_entries).where(*cond)
        )
        q = (
            select(roster_entries)
            .where(*cond)
            .order_by(roster_entries.c.org_id, roster_entries.c.employee_id)
            .offset(offset)
            .limit(limit)
        )
        found = [rows.roster_entry(r) for r in (await self.conn.execute(q)).mappings()]
        return found, int(total or 0)
