"""Organisations, their domains, regions and org-unit trees."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import (
    Domain,
    Organisation,
    OrgKind,
    OrgUnit,
    Region,
    check_slug,
)
from mailgate.domain.errors import Conflict, InvalidInput, NotFound
from mailgate.domain.names import DomainName
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.services.audit import record
from mailgate.services.dkim import DkimService

LANGUAGES = ("zh_Hans", "zh_Hant", "en")
DEFAULT_QUOTA = 2 * 1024**3


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise InvalidInput(f"language {language!r} is not one of: {', '.join(LANGUAGES)}")
    return language


def check_time_zone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{tz!r} is not a known time zone (e.g. Asia/Shanghai)") from None
    return tz


async def org_by_slug(
    uow: UnitOfWork, actor: Actor, slug: str, permission: Permission
) -> Organisation:
    """The organisation, if the actor holds `permission` there; otherwise NotFound or denied."""
    org = await uow.orgs.by_slug(slug)
    if org is None or not actor.can(Permission.ORG_READ, org.id):
        raise NotFound(f"there is no organisation {slug!r}")
    actor.require(permission, org.id)
    return org


async def ensure_unit_path(uow: UnitOfWork, org_id: int, path: str, cache: dict[str, int]) -> int:
    """The id of the org unit at `path` ("A/B/C"), creating missing units along the way."""
    if path in cache:
        return cache[path]
    parent: int | None = None
    so_far: list[str] = []
    for name in path.split("/"):
        so_far.append(name)
        key = "/".join(so_far)
        if key not in cache:
            unit = await uow.structure.add_unit(org_id, parent, name, key)
            cache[key] = unit.id
        parent = cache[key]
    assert parent is not None  # noqa: S101 - paths are never empty here
    return parent


@dataclass(slots=True)
class OrganisationService:
    uow: UnitOfWorkFactory
    clock: Clock
    dkim: DkimService | None = None  # when set, every new domain gets a DKIM signing key

    async def create(
        self,
        actor: Actor,
        slug: str,
        name: str,
        kind: str = "internal",
        account_pool_limit: int | None = None,
        default_quota: int = DEFAULT_QUOTA,
        helpdesk_contact: str = "",
    ) -> Organisation:
        actor.require(Permission.ORG_CREATE, None)
        slug = check_slug(slug)
        name = name.strip()
        if not name:
            raise InvalidInput("the organisation needs a name")
        try:
            org_kind = OrgKind(kind)
        except ValueError:
            raise InvalidInput(f"kind must be 'internal' or 'partner', not {kind!r}") from None
        if account_pool_limit is not None and account_pool_limit < 0:
            raise InvalidInput("the account pool limit cannot be negative")
        async with self.uow() as uow:
            if await uow.orgs.by_slug(slug):
                raise Conflict(f"an organisation with the slug {slug!r} already exists")
            org = await uow.orgs.add(
                slug, name, org_kind.value, account_pool_limit, default_quota, helpdesk_contact
            )
            await record(
                uow,
                self.clock,
                actor,
                "org.create",
                f"org:{slug}",
                org.id,
                {"name": name, "kind": org_kind.value, "pool": account_pool_limit},
            )
            await uow.commit()
        return org

    async def update(
        self,
        actor: Actor,
        slug: str,
        *,
        name: str | None = None,
        account_pool_limit: int | bool | None = False,
        default_quota: int | None = None,
        helpdesk_contact: str | None = None,
    ) -> Organisation:
        """Change the given fields (`account_pool_limit=False` leaves the pool unchanged)."""
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, slug, Permission.ORG_UPDATE)
            changes: dict[str, object] = {}
            if name is not None and name.strip() != org.name:
                changes["name"] = org.name = name.strip()
            if account_pool_limit is not False and account_pool_limit != org.account_pool_limit:
                # Raising one's own pool is a platform decision.
                actor.require(Permission.ORG_CREATE, None)
                assert not isinstance(account_pool_limit, bool)  # noqa: S101
                changes["pool"] = org.account_pool_limit = account_pool_limit
            if default_quota is not None and default_quota != org.default_quota:
                changes["default_quota"] = org.default_quota = default_quota
            if helpdesk_contact is not None and helpdesk_contact != org.helpdesk_contact:
                changes["helpdesk_contact"] = org.helpdesk_contact = helpdesk_contact
            if changes:
                await uow.orgs.update(org)
                await record(uow, self.clock, actor, "org.update", f"org:{slug}", org.id, changes)
                await uow.commit()
        return org

    async def list(self, actor: Actor) -> list[Organisation]:
        async with self.uow(write=False) as uow:
            return await uow.orgs.list(actor.org_scope(Permission.ORG_READ))

    async def get(self, actor: Actor, slug: str) -> Organisation:
        async with self.uow(write=False) as uow:
            return await org_by_slug(uow, actor, slug, Permission.ORG_READ)

    async def add_domain(self, actor: Actor, slug: str, name: str) -> Domain:
        parsed = DomainName.parse(name)
        key = await self.dkim.new_key(parsed.ascii) if self.dkim else None
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, slug, Permission.DOMAIN_MANAGE)
            existing = await uow.domains.by_name(parsed.ascii)
            if existing is not None:
                raise Conflict(f"the domain {parsed.unicode} is already registered")
            domain = await uow.domains.add(parsed.ascii, parsed.unicode, org.id)
            summary = {"unicode": parsed.unicode}
            if key is not None:
                await uow.dkim.add(key)
                summary["dkim_selector"] = key.selector
            await record(
                uow,
                self.clock,
                actor,
                "domain.add",
                f"domain:{parsed.ascii}",
                org.id,
                summary,
            )
            await uow.commit()
        return domain

    async def list_domains(self, actor: Actor, slug: str | None = None) -> builtins.list[Domain]:
        async with self.uow(write=False) as uow:
            if slug is not None:
                org = await org_by_slug(uow, actor, slug, Permission.DIRECTORY_READ)
                return await uow.domains.list(frozenset({org.id}))
            return await uow.domains.list(actor.org_scope(Permission.DIRECTORY_READ))

    async def add_region(
        self,
        actor: Actor,
        slug: str,
        code: str,
        name: str,
        time_zone: str = "Asia/Shanghai",
        language: str = "zh_Hans",
    ) -> Region:
        code = code.strip().upper()
        if not code or not code.isalnum() or len(code) > 16:
            raise InvalidInput(f"region code {code!r} must be 1-16 letters or digits")
        check_time_zone(time_zone)
        check_language(language)
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, slug, Permission.DIRECTORY_WRITE)
            if any(r.code == code for r in await uow.structure.regions(org.id)):
                raise Conflict(f"the region code {code!r} already exists in {slug}")
            region = await uow.structure.add_region(org.id, code, name.strip(), time_zone, language)
            await record(
                uow,
                self.clock,
                actor,
                "region.add",
                f"region:{slug}/{code}",
                org.id,
                {"name": name, "time_zone": time_zone, "language": language},
            )
            await uow.commit()
        return region

    async def list_regions(self, actor: Actor, slug: str) -> builtins.list[Region]:
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, slug, Permission.DIRECTORY_READ)
            return await uow.structure.regions(org.id)

    async def add_unit(self, actor: Actor, slug: str, path: str) -> OrgUnit:
        parts = [p.strip() for p in path.split("/") if p.strip()]
        if not parts:
            raise InvalidInput("the org unit path is empty")
        clean = "/".join(parts)
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, slug, Permission.DIRECTORY_WRITE)
            units = await uow.structure.units(org.id)
            cache = {u.path: u.id for u in units}
            if clean in cache:
                raise Conflict(f"the org unit {clean!r} already exists")
            unit_id = await ensure_unit_path(uow, org.id, clean, cache)
            await record(uow, self.clock, actor, "orgunit.add", f"orgunit:{slug}/{clean}", org.id)
            unit = next(u for u in await uow.structure.units(org.id) if u.id == unit_id)
            await uow.commit()
        return unit

    async def list_units(self, actor: Actor, slug: str) -> builtins.list[OrgUnit]:
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, slug, Permission.DIRECTORY_READ)
            return await uow.structure.units(org.id)
