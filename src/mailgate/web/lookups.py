"""Names the web shows next to ids: organisation slugs, org-unit paths, region names.

All of them come from the services, under the caller's own scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mailgate.domain.access import Actor
from mailgate.domain.directory import Organisation, Region, RosterEntry
from mailgate.services.container import Services


async def organisations_by_id(services: Services, actor: Actor) -> dict[int, Organisation]:
    return {org.id: org for org in await services.organisations.list(actor)}


async def org_slugs(services: Services, actor: Actor) -> dict[int, str]:
    return {
        org_id: org.slug for org_id, org in (await organisations_by_id(services, actor)).items()
    }


@dataclass(slots=True)
class RosterLabels:
    """Unit paths and regions of the organisations some roster entries belong to."""

    orgs: dict[int, Organisation]
    units: dict[int, str] = field(default_factory=dict)
    regions: dict[int, Region] = field(default_factory=dict)

    def org_slug(self, entry: RosterEntry) -> str:
        org = self.orgs.get(entry.org_id)
        return org.slug if org else ""

    def org_name(self, entry: RosterEntry) -> str:
        org = self.orgs.get(entry.org_id)
        return org.name if org else ""

    def unit(self, entry: RosterEntry) -> str:
        return self.units.get(entry.org_unit_id, "") if entry.org_unit_id is not None else ""

    def region_code(self, entry: RosterEntry) -> str:
        region = self.regions.get(entry.region_id) if entry.region_id is not None else None
        return region.code if region else ""

    def region_name(self, entry: RosterEntry) -> str:
        region = self.regions.get(entry.region_id) if entry.region_id is not None else None
        return region.name if region else ""


async def roster_labels(
    services: Services, actor: Actor, entries: Iterable[RosterEntry]
) -> RosterLabels:
    labels = RosterLabels(await organisations_by_id(services, actor))
    for org_id in sorted({e.org_id for e in entries}):
        org = labels.orgs.get(org_id)
        if org is None:
            continue
        for unit in await services.organisations.list_units(actor, org.slug):
            labels.units[unit.id] = unit.path
        for region in await services.organisations.list_regions(actor, org.slug):
            labels.regions[region.id] = region
    return labels
