"""Entry points (R3): configuring where people apply, and the public look-up of an entry.

Administrators of an organisation (ORG_UPDATE) add and change entries; everyone with a role in
the organisation may list them. `public` is what the application pages use: an unknown or
disabled entry is NotFound, exactly as a mistyped slug. `reach` adds the network / device check:
a visitor from outside gets `EntryUnreachable`, a PermissionDenied that carries the entry's
"where to reach it" texts so the page can say where the entry can be used instead of refusing
bluntly. Every change is audited with the entry's new content.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from mailgate.domain.access import Actor, Permission
from mailgate.domain.entrypoints import EntryPointConfig, check_slug, parse_networks
from mailgate.domain.errors import InvalidInput, NotFound, PermissionDenied
from mailgate.domain.names import DomainName
from mailgate.domain.policy import EntryPoint
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.services.audit import record
from mailgate.services.organisations import org_by_slug

LANGUAGES = ("zh_Hans", "zh_Hant", "en")
MAX_TEXT = 4000  # characters of one landing or reach text
_CHANGEABLE = frozenset(
    {
        "enabled",
        "kind",
        "domain",
        "region",
        "networks",
        "trusted_devices_only",
        "landing",
        "reach_hint",
    }
)
_DEFAULT_HINT = {
    "en": "This entry can only be used from the company network (for example over the VPN) "
    "or from a trusted company device.",
    "zh_Hans": "此入口只能在公司网络（例如通过 VPN）或公司受信任的设备上使用。",
    "zh_Hant": "此入口只能在公司網路（例如透過 VPN）或公司受信任的裝置上使用。",
}


class EntryUnreachable(PermissionDenied):
    """The entry exists but not for this visitor's network or device; `hint` says, per
    language, where it can be reached."""

    code = "entry_unreachable"

    def __init__(self, entry: EntryPointConfig) -> None:
        self.entry = entry
        self.hint: Mapping[str, str] = dict(entry.reach_hint) or dict(_DEFAULT_HINT)
        super().__init__(
            f"the entry {entry.slug!r} cannot be used from here: {entry.text(self.hint, 'en')}"
        )


def without_controls(text: str, keep: str = "\n") -> str:
    """`text` without control characters (C0, DEL, C1) other than those in `keep`, stripped."""
    return "".join(ch for ch in text if ch in keep or unicodedata.category(ch) != "Cc").strip()


def _kind(value: str) -> EntryPoint:
    try:
        return EntryPoint(value.strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in EntryPoint)
        raise InvalidInput(f"unknown entry kind {value!r}; known: {known}") from None


def check_texts(texts: Mapping[str, str] | None, what: str) -> dict[str, str]:
    """Per-language texts: known languages only, control characters removed, bounded."""
    out: dict[str, str] = {}
    for language, text in (texts or {}).items():
        if language not in LANGUAGES:
            raise InvalidInput(f"{what}: unknown language {language!r}; use {', '.join(LANGUAGES)}")
        if not isinstance(text, str):
            raise InvalidInput(f"{what} in {language} must be a text")
        clean = without_controls(text, "\n\t")
        if len(clean) > MAX_TEXT:
            raise InvalidInput(f"{what} in {language} is longer than {MAX_TEXT} characters")
        if clean:
            out[language] = clean
    return out


def describe(entry: EntryPointConfig, domain: str = "", region: str = "") -> dict[str, Any]:
    """An entry as the audit log, the CLI's --json and the API show it."""
    return {
        "slug": entry.slug,
        "kind": entry.kind.value,
        "enabled": entry.enabled,
        "domain": domain or entry.domain_id,
        "region": region or entry.region_id,
        "networks": list(entry.networks),
        "trusted_devices_only": entry.trusted_devices_only,
        "landing": dict(entry.landing),
        "reach_hint": dict(entry.reach_hint),
    }


async def _domain_id(uow: UnitOfWork, org_id: int, name: str) -> int:
    parsed = DomainName.parse(name)
    domain = await uow.domains.by_name(parsed.ascii)
    if domain is None or domain.org_id != org_id:
        raise NotFound(f"the organisation has no domain {parsed.unicode}")
    return domain.id


async def _region_id(uow: UnitOfWork, org_id: int, code: str | None) -> int | None:
    if code is None or not code.strip():
        return None
    for region in await uow.structure.regions(org_id):
        if region.code.casefold() == code.strip().casefold():
            return region.id
    raise NotFound(f"there is no region {code!r}")


async def labels(uow: UnitOfWork, entry: EntryPointConfig) -> tuple[str, str]:
    """The entry's domain name (Unicode) and region code, for people to read."""
    domains = {d.id: d.unicode_name for d in await uow.domains.list(frozenset({entry.org_id}))}
    regions = {r.id: r.code for r in await uow.structure.regions(entry.org_id)}
    region = regions.get(entry.region_id, "") if entry.region_id is not None else ""
    return domains.get(entry.domain_id, ""), region


@dataclass(slots=True)
class EntryPointService:
    uow: UnitOfWorkFactory
    clock: Clock

    async def add(
        self,
        actor: Actor,
        org_slug: str,
        slug: str,
        kind: str,
        domain: str,
        *,
        region: str | None = None,
        networks: list[str] | None = None,
        trusted_devices_only: bool = False,
        landing: dict[str, str] | None = None,
        reach_hint: dict[str, str] | None = None,
    ) -> EntryPointConfig:
        entry_slug = check_slug(slug)
        async with self.uow() as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.ORG_UPDATE)
            entry = await uow.entry_points.add(
                EntryPointConfig(
                    id=0,
                    org_id=org.id,
                    slug=entry_slug,
                    kind=_kind(kind),
                    domain_id=await _domain_id(uow, org.id, domain),
                    region_id=await _region_id(uow, org.id, region),
                    enabled=True,
                    networks=parse_networks(networks or []),
                    trusted_devices_only=trusted_devices_only,
                    landing=check_texts(landing, "the landing text"),
                    reach_hint=check_texts(reach_hint, "the reach hint"),
                )
            )
            await record(
                uow, self.clock, actor, "entry.add", f"entry:{entry.slug}", org.id,
                describe(entry, *await labels(uow, entry)),
            )  # fmt: skip
            await uow.commit()
        return entry

    async def update(self, actor: Actor, slug: str, **changes: Any) -> EntryPointConfig:
        """Change some of: enabled, kind, domain, region, networks, trusted_devices_only,
        landing, reach_hint (texts given replace the old ones per language; "" removes one)."""
        unknown = sorted(set(changes) - _CHANGEABLE)
        if unknown:
            raise InvalidInput(
                f"an entry has no setting {', '.join(unknown)}; "
                f"known: {', '.join(sorted(_CHANGEABLE))}"
            )
        async with self.uow() as uow:
            old = await self._visible(uow, actor, slug)
            actor.require(Permission.ORG_UPDATE, old.org_id)
            new = replace(old)
            if changes.get("enabled") is not None:
                new.enabled = bool(changes["enabled"])
            if changes.get("kind") is not None:
                new.kind = _kind(str(changes["kind"]))
            if changes.get("domain") is not None:
                new.domain_id = await _domain_id(uow, old.org_id, str(changes["domain"]))
            if "region" in changes:
                new.region_id = await _region_id(uow, old.org_id, changes["region"])
            if changes.get("networks") is not None:
                new.networks = parse_networks(list(changes["networks"]))
            if changes.get("trusted_devices_only") is not None:
                new.trusted_devices_only = bool(changes["trusted_devices_only"])
            for key, what in (("landing", "the landing text"), ("reach_hint", "the reach hint")):
                if changes.get(key) is None:
                    continue
                merged = {**getattr(old, key), **dict(changes[key])}
                setattr(new, key, check_texts(merged, what))
            await uow.entry_points.update(new)
            names = await labels(uow, new)
            await record(
                uow, self.clock, actor, "entry.update", f"entry:{new.slug}", new.org_id,
                {"before": describe(old, *await labels(uow, old)), "after": describe(new, *names)},
            )  # fmt: skip
            await uow.commit()
        return new

    async def list(self, actor: Actor, org_slug: str) -> list[EntryPointConfig]:
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.ORG_READ)
            return await uow.entry_points.for_org(org.id)

    async def get(self, actor: Actor, slug: str) -> tuple[EntryPointConfig, str, str]:
        """One entry with its domain name and region code, for those who may see it."""
        async with self.uow(write=False) as uow:
            entry = await self._visible(uow, actor, slug)
            domain, region = await labels(uow, entry)
            return entry, domain, region

    async def public(self, slug: str) -> EntryPointConfig:
        """An enabled entry; NotFound when unknown or disabled (the same answer for both)."""
        async with self.uow(write=False) as uow:
            return await public_entry(uow, slug)

    async def reach(self, slug: str, client_ip: str, trusted_device: bool) -> EntryPointConfig:
        """Like `public`, and EntryUnreachable when the visitor's network or device may not
        use it."""
        entry = await self.public(slug)
        check_reach(entry, client_ip, trusted_device)
        return entry

    async def _visible(self, uow: UnitOfWork, actor: Actor, slug: str) -> EntryPointConfig:
        entry = await _by_slug(uow, slug)
        if entry is None or not actor.can(Permission.ORG_READ, entry.org_id):
            raise NotFound(f"there is no entry {slug!r}")
        return entry


async def _by_slug(uow: UnitOfWork, slug: str) -> EntryPointConfig | None:
    try:
        key = check_slug(slug)
    except InvalidInput:
        return None
    return await uow.entry_points.by_slug(key)


async def public_entry(uow: UnitOfWork, slug: str) -> EntryPointConfig:
    entry = await _by_slug(uow, slug)
    if entry is None or not entry.enabled:
        raise NotFound(f"there is no entry {slug[:40]!r}")
    return entry


def check_reach(entry: EntryPointConfig, client_ip: str, trusted_device: bool) -> None:
    if not entry.reachable_from(client_ip, trusted_device):
        raise EntryUnreachable(entry)
