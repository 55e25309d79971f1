"""Repository for policies (domain.policy)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mailgate.domain.directory import EmploymentType
from mailgate.domain.errors import Conflict
from mailgate.domain.policy import Condition, EntryPoint, Policy, PolicyDraft, Selector
from mailgate.storage.tables import policies


def _selector_json(s: Selector) -> dict[str, Any]:
    return {
        "org_unit_id": s.org_unit_id,
        "position_id": s.position_id,
        "region_id": s.region_id,
        "employment_type": s.employment_type.value if s.employment_type else None,
        "entry_point": s.entry_point.value if s.entry_point else None,
    }


def _selector(d: Mapping[str, Any]) -> Selector:
    return Selector(
        org_unit_id=d.get("org_unit_id"),
        position_id=d.get("position_id"),
        region_id=d.get("region_id"),
        employment_type=EmploymentType(d["employment_type"]) if d.get("employment_type") else None,
        entry_point=EntryPoint(d["entry_point"]) if d.get("entry_point") else None,
    )


def _settings_json(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}


def _settings(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _policy(r: Mapping[Any, Any]) -> Policy:
    return Policy(
        id=r["id"],
        org_id=r["org_id"],
        name=r["name"],
        position=r["position"],
        selector=_selector(r["selector"]),
        settings=_settings(r["settings"]),
        require=tuple(Condition(c) for c in r["require"]),
        enabled=r["enabled"],
        description=r["description"],
    )


def _values(draft: PolicyDraft, when: datetime) -> dict[str, Any]:
    return {
        "name": draft.name,
        "position": draft.position,
        "selector": _selector_json(draft.selector),
        "settings": _settings_json(draft.settings),
        "require": [c.value for c in draft.require],
        "enabled": draft.enabled,
        "description": draft.description,
        "updated_at": when,
    }


class SqlPolicyRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def for_org(self, org_id: int) -> list[Policy]:
        c = policies.c
        q = select(policies).where(c.org_id == org_id).order_by(c.position, c.id)
        return [_policy(r) for r in (await self.conn.execute(q)).mappings()]

    async def by_name(self, org_id: int, name: str) -> Policy | None:
        c = policies.c
        q = select(policies).where(c.org_id == org_id, c.name == name)
        r = (await self.conn.execute(q)).mappings().first()
        return _policy(r) if r else None

    async def add(self, org_id: int, draft: PolicyDraft, when: datetime) -> Policy:
        if await self.by_name(org_id, draft.name) is not None:
            raise Conflict(f"there is already a policy named {draft.name!r}")
        q = policies.insert().values(org_id=org_id, **_values(draft, when))
        try:
            row = (await self.conn.execute(q.returning(*policies.c))).mappings().one()
        except IntegrityError as exc:  # a concurrent add won the race
            raise Conflict(f"there is already a policy named {draft.name!r}") from exc
        return _policy(row)

    async def replace(self, policy_id: int, draft: PolicyDraft, when: datetime) -> None:
        q = update(policies).where(policies.c.id == policy_id).values(**_values(draft, when))
        try:
            await self.conn.execute(q)
        except IntegrityError as exc:
            raise Conflict(f"there is already a policy named {draft.name!r}") from exc

    async def delete(self, policy_id: int) -> None:
        await self.conn.execute(delete(policies).where(policies.c.id == policy_id))
