"""Managing policies and resolving them for a person (domain.policy).

Administrators (ORG_UPDATE) add, change, reorder, disable and remove their organisation's
policies; everyone who may read the directory can ask how a person's settings are decided
(`explain`). Selectors are given by name (org-unit path, position name, region code, employment
type, entry point) and stored by id, so renaming a unit does not unbind its policies. Every
change is audited with the policy's full new content.

`resolve_for_account` is what the rest of Mailgate uses: the password policy of the account's
organisation and unit (services.credentials) and, with issue #6, onboarding decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Account, EmploymentType, RosterEntry
from mailgate.domain.errors import InvalidInput, NotFound
from mailgate.domain.passwords import PasswordPolicy
from mailgate.domain.policy import (
    Condition,
    EntryPoint,
    Policy,
    PolicyDraft,
    Resolution,
    Selector,
    Subject,
    resolve,
)
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.services.audit import record
from mailgate.services.organisations import org_by_slug


@dataclass(frozen=True, slots=True)
class SelectorSpec:
    """A selector as people write it: names instead of ids (all optional)."""

    unit: str | None = None  # org-unit path "研发中心/平台部"
    position: str | None = None
    region: str | None = None  # region code
    employment_type: str | None = None
    entry_point: str | None = None


E = TypeVar("E", EmploymentType, EntryPoint)


def _enum(kind: type[E], value: str | None, what: str) -> E | None:
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise InvalidInput(f"unknown {what} {value!r}; known: {known}") from None


async def _selector(uow: UnitOfWork, org_id: int, spec: SelectorSpec) -> Selector:
    unit_id = position_id = region_id = None
    if spec.unit:
        units = {u.path: u.id for u in await uow.structure.units(org_id)}
        if spec.unit.strip("/") not in units:
            raise NotFound(f"there is no org unit {spec.unit!r}")
        unit_id = units[spec.unit.strip("/")]
    if spec.position:
        positions = {p.name: p.id for p in await uow.structure.positions(org_id)}
        if spec.position not in positions:
            raise NotFound(f"there is no position {spec.position!r}")
        position_id = positions[spec.position]
    if spec.region:
        regions = {r.code: r.id for r in await uow.structure.regions(org_id)}
        if spec.region not in regions:
            raise NotFound(f"there is no region {spec.region!r}")
        region_id = regions[spec.region]
    return Selector(
        unit_id,
        position_id,
        region_id,
        _enum(EmploymentType, spec.employment_type, "employment type"),
        _enum(EntryPoint, spec.entry_point, "entry point"),
    )


def _conditions(names: Sequence[str]) -> tuple[Condition, ...]:
    try:
        return tuple(Condition(n) for n in names)
    except ValueError:
        known = ", ".join(c.value for c in Condition)
        raise InvalidInput(f"unknown condition in {list(names)}; known: {known}") from None


async def subject_for(
    uow: UnitOfWork, org_id: int, entry: RosterEntry | None, entry_point: EntryPoint | None
) -> Subject:
    """The policy subject of a roster entry (None: a person not on the roster)."""
    if entry is None:
        return Subject(org_id, entry_point=entry_point)
    parents = {u.id: u.parent_id for u in await uow.structure.units(org_id)}
    chain: list[int] = []
    unit = entry.org_unit_id
    while unit is not None and unit not in chain:
        chain.append(unit)
        unit = parents.get(unit)
    return Subject(
        org_id,
        tuple(chain),
        entry.position_id,
        entry.region_id,
        entry.employment_type,
        entry.status,
        entry_point,
    )


async def forwarding_scope(uow: UnitOfWork, account: Account) -> str:
    """The `forwarding` setting (domain.forwarding.ForwardingScope) that applies to the account
    now: what delivery, the user's page and the console all decide forwarding by."""
    entry = await uow.roster.by_id(account.roster_id) if account.roster_id else None
    subject = await subject_for(uow, account.org_id, entry, None)
    return str(resolve(await uow.policies.for_org(account.org_id), subject)["forwarding"])


def password_policy(resolution: Resolution) -> PasswordPolicy:
    rotation = resolution["password_rotation_days"]
    return PasswordPolicy(
        min_length=resolution["password_min_length"],
        min_length_with_second_factor=resolution["password_min_length_with_second_factor"],
        rotation_days=rotation or None,
        breach_check_enabled=resolution["password_breach_check"],
    )


def describe(policy: Policy) -> dict[str, Any]:
    """A policy as the audit log, the CLI's --json and the API show it."""
    s = policy.selector
    return {
        "name": policy.name,
        "position": policy.position,
        "enabled": policy.enabled,
        "selector": {
            "org_unit_id": s.org_unit_id,
            "position_id": s.position_id,
            "region_id": s.region_id,
            "employment_type": s.employment_type.value if s.employment_type else None,
            "entry_point": s.entry_point.value if s.entry_point else None,
        },
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in policy.settings.items()},
        "require": [c.value for c in policy.require],
        "description": policy.description,
    }


@dataclass(slots=True)
class PolicyService:
    uow: UnitOfWorkFactory
    clock: Clock

    async def list(self, actor: Actor, org_slug: str) -> list[Policy]:
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.DIRECTORY_READ)
            return await uow.policies.for_org(org.id)

    async def add(
        self,
        actor: Actor,
        org_slug: str,
        name: str,
        *,
        position: int,
        selector: SelectorSpec | None = None,
        settings: Mapping[str, Any] | None = None,
        require: Sequence[str] = (),
        description: str = "",
    ) -> Policy:
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.ORG_UPDATE)
            draft = PolicyDraft(
                name,
                position,
                await _selector(uow, org.id, selector or SelectorSpec()),
                dict(settings or {}),
                _conditions(require),
                True,
                description,
            ).check()
            policy = await uow.policies.add(org.id, draft, self.clock.now())
            await record(
                uow, self.clock, actor, "policy.add", f"policy:{org.slug}/{policy.name}",
                org.id, describe(policy),
            )  # fmt: skip
            await uow.commit()
        return policy

    async def change(
        self,
        actor: Actor,
        org_slug: str,
        name: str,
        *,
        settings: Mapping[str, Any] | None = None,
        unset: Sequence[str] = (),
        position: int | None = None,
        enabled: bool | None = None,
        new_name: str | None = None,
    ) -> Policy:
        """Set or unset some settings, move, enable/disable or rename a policy."""
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.ORG_UPDATE)
            old = await uow.policies.by_name(org.id, name)
            if old is None:
                raise NotFound(f"there is no policy {name!r} in {org.slug}")
            unknown = [k for k in unset if k not in old.settings]
            if unknown:
                raise InvalidInput(f"the policy does not set {', '.join(unknown)}")
            merged = {k: v for k, v in old.settings.items() if k not in unset}
            merged.update(settings or {})
            draft = PolicyDraft(
                new_name if new_name is not None else old.name,
                position if position is not None else old.position,
                old.selector,
                merged,
                old.require,
                enabled if enabled is not None else old.enabled,
                old.description,
            ).check()
            await uow.policies.replace(old.id, draft, self.clock.now())
            policy = await uow.policies.by_name(org.id, draft.name)
            assert policy is not None  # noqa: S101 - just written
            await record(
                uow, self.clock, actor, "policy.change", f"policy:{org.slug}/{policy.name}",
                org.id, {"before": describe(old), "after": describe(policy)},
            )  # fmt: skip
            await uow.commit()
        return policy

    async def remove(self, actor: Actor, org_slug: str, name: str) -> None:
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.ORG_UPDATE)
            old = await uow.policies.by_name(org.id, name)
            if old is None:
                raise NotFound(f"there is no policy {name!r} in {org.slug}")
            await uow.policies.delete(old.id)
            await record(
                uow, self.clock, actor, "policy.remove", f"policy:{org.slug}/{name}",
                org.id, describe(old),
            )  # fmt: skip
            await uow.commit()

    async def explain(
        self,
        actor: Actor,
        org_slug: str,
        employee_id: str,
        entry_point: str | None = None,
    ) -> Resolution:
        """How the settings of the person with `employee_id` are decided."""
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.DIRECTORY_READ)
            entry = await uow.roster.get(org.id, employee_id.strip())
            if entry is None:
                raise NotFound(f"employee {employee_id} is not in the roster of {org.slug}")
            point = _enum(EntryPoint, entry_point, "entry point")
            subject = await subject_for(uow, org.id, entry, point)
            return resolve(await uow.policies.for_org(org.id), subject)

    async def resolve_for_account(self, account: Account) -> Resolution:
        """The settings that apply to an existing account (its roster entry, if any)."""
        async with self.uow(write=False) as uow:
            entry = await uow.roster.by_id(account.roster_id) if account.roster_id else None
            subject = await subject_for(uow, account.org_id, entry, None)
            return resolve(await uow.policies.for_org(account.org_id), subject)
