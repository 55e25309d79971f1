"""Importing and searching the HR roster (R6's identity source)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import ROSTER_MUTABLE_FIELDS, RosterEntry
from mailgate.domain.ports import Clock, UnitOfWorkFactory
from mailgate.domain.roster import RejectedRow, RosterRow, decode_csv, parse_roster
from mailgate.services.audit import record
from mailgate.services.organisations import ensure_unit_path, org_by_slug

Progress = Callable[[int, int], None]
_COMPARED = ROSTER_MUTABLE_FIELDS


@dataclass(slots=True)
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged


def _values(entry: RosterEntry) -> dict[str, Any]:
    return {k: getattr(entry, k) for k in _COMPARED}


@dataclass(slots=True)
class RosterService:
    uow: UnitOfWorkFactory
    clock: Clock

    async def import_csv(
        self,
        actor: Actor,
        org_slug: str,
        data: bytes,
        *,
        encoding: str = "utf-8",
        progress: Progress | None = None,
    ) -> ImportReport:
        """Upsert every good row by employee ID in one transaction; report the others.

        Re-importing the same file changes nothing and writes no audit event.
        """
        text = decode_csv(data, encoding)
        parsed = list(parse_roster(text))
        report = ImportReport(rejected=[r for r in parsed if isinstance(r, RejectedRow)])
        good = [r for r in parsed if isinstance(r, RosterRow)]
        now = self.clock.now()
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.ROSTER_WRITE)
            existing = await uow.roster.all_for_org(org.id)
            units = {u.path: u.id for u in await uow.structure.units(org.id)}
            positions = {p.name: p.id for p in await uow.structure.positions(org.id)}
            regions = {r.code: r.id for r in await uow.structure.regions(org.id)}
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for done, row in enumerate(good, 1):
                if row.region_code and row.region_code not in regions:
                    known = ", ".join(sorted(regions)) or "none configured"
                    report.rejected.append(
                        RejectedRow(
                            row.line,
                            row.employee_id,
                            f"region {row.region_code!r} is not a region of {org.slug} "
                            f"(known: {known})",
                        )
                    )
                    continue
                position_id = None
                if row.position:
                    if row.position not in positions:
                        positions[row.position] = (
                            await uow.structure.add_position(org.id, row.position)
                        ).id
                    position_id = positions[row.position]
                values: dict[str, Any] = {
                    "name_zh": row.name_zh,
                    "name_latin": row.name_latin,
                    "org_unit_id": await ensure_unit_path(uow, org.id, row.org_unit_path, units),
                    "position_id": position_id,
                    "region_id": regions.get(row.region_code) if row.region_code else None,
                    "employment_type": row.employment_type,
                    "supervisor_employee_id": row.supervisor_employee_id,
                    "mobile": row.mobile,
                    "status": row.status,
                    "start_date": row.start_date,
                    "end_date": row.end_date,
                }
                old = existing.get(row.employee_id)
                if old is None:
                    values["employment_type"] = row.employment_type.value
                    values["status"] = row.status.value
                    inserts.append(
                        values
                        | {"org_id": org.id, "employee_id": row.employee_id, "updated_at": now}
                    )
                    report.created += 1
                elif _values(old) != values:
                    values["employment_type"] = row.employment_type.value
                    values["status"] = row.status.value
                    updates.append(values | {"id": old.id, "updated_at": now})
                    report.updated += 1
                else:
                    report.unchanged += 1
                if progress is not None and done % 1000 == 0:
                    progress(done, len(good))
            await uow.roster.insert_many(inserts)
            await uow.roster.update_many(updates)
            report.rejected.sort(key=lambda r: r.line)
            if inserts or updates:
                await record(
                    uow,
                    self.clock,
                    actor,
                    "roster.import",
                    f"roster:{org.slug}",
                    org.id,
                    {
                        "created": report.created,
                        "updated": report.updated,
                        "unchanged": report.unchanged,
                        "rejected": len(report.rejected),
                    },
                )
                await uow.commit()
        if progress is not None:
            progress(len(good), len(good))
        return report

    async def search(
        self,
        actor: Actor,
        *,
        org_slug: str | None = None,
        query: str = "",
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[RosterEntry], int]:
        async with self.uow(write=False) as uow:
            scope = actor.org_scope(Permission.ROSTER_READ)
            if org_slug is not None:
                scope = frozenset(
                    {(await org_by_slug(uow, actor, org_slug, Permission.ROSTER_READ)).id}
                )
            return await uow.roster.search(scope, query.strip(), offset, min(limit, 500))
