"""What the public application pages need to know before anything is filed (read-only).

The landing page of an entry explains who may apply and what to prepare: the settings of the
entry's *general* policy, that is the policies resolved for a person known only by the
organisation and the entry point (`EntryLanding`). The form's second step asks for what the
policy of the person with the given employee ID requires (`FormRequirements`): their unit,
position, region and employment type may bind stricter rules. Both answers are the same for
a disabled and an unknown entry (NotFound), and `requirements` says nothing about whether the
employee ID is on the roster beyond what its policies ask for.

Filing itself is `services.applications` (it checks everything again). `position_names` serves
the console's policy pages, which show a selector's position by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailgate.domain.access import Actor, Permission
from mailgate.domain.entrypoints import EntryPointConfig
from mailgate.domain.errors import NotFound
from mailgate.domain.policy import Condition, EntryPoint, Resolution, resolve
from mailgate.domain.ports import UnitOfWork, UnitOfWorkFactory
from mailgate.services.organisations import org_by_slug
from mailgate.services.policies import subject_for

MAX_EMPLOYEE_ID = 64
# Always asked for, whatever the policy says: the key of the application, and the partner
# entry's agreement.
_ALWAYS = ("employee_id",)
_PARTNER = ("agreement_number",)


@dataclass(frozen=True, slots=True)
class EntryLanding:
    """An entry as its landing page shows it."""

    entry: EntryPointConfig
    org_name: str
    helpdesk_contact: str
    domain: str  # the mail domain new accounts get (Unicode form)
    region: str  # the region's name, "" for an organisation-wide entry
    self_service: bool
    conditions: tuple[Condition, ...]
    required_fields: tuple[str, ...]
    required_documents: tuple[str, ...]
    approval_chain: tuple[str, ...]
    decision_days: int


@dataclass(frozen=True, slots=True)
class FormRequirements:
    """The fields and documents one person's application must have."""

    fields: tuple[str, ...]
    documents: tuple[str, ...]


def _fields(resolution: Resolution, kind: EntryPoint) -> tuple[str, ...]:
    wanted = [*_ALWAYS, *resolution["required_fields"]]
    if kind is EntryPoint.PARTNER:
        wanted.extend(_PARTNER)
    return tuple(dict.fromkeys(wanted))


@dataclass(slots=True)
class ApplyFormService:
    uow: UnitOfWorkFactory

    async def _entry(self, uow: UnitOfWork, slug: str) -> EntryPointConfig:
        entry = await uow.entry_points.by_slug(slug.strip().lower()[:40])
        if entry is None or not entry.enabled:
            raise NotFound("there is no such application entry")
        return entry

    async def landing(self, slug: str) -> EntryLanding:
        async with self.uow(write=False) as uow:
            entry = await self._entry(uow, slug)
            org = await uow.orgs.get(entry.org_id)
            if org is None:
                raise NotFound("there is no such application entry")
            domains = {d.id: d for d in await uow.domains.list(frozenset({org.id}))}
            domain = domains.get(entry.domain_id)
            regions = {r.id: r for r in await uow.structure.regions(org.id)}
            region = regions.get(entry.region_id) if entry.region_id is not None else None
            policies = await uow.policies.for_org(org.id)
            general = resolve(policies, await subject_for(uow, org.id, None, entry.kind))
        conditions = tuple(
            dict.fromkeys(
                c for p in policies if p.enabled and p.name in general.matched for c in p.require
            )
        )
        return EntryLanding(
            entry=entry,
            org_name=org.name,
            helpdesk_contact=org.helpdesk_contact,
            domain=domain.unicode_name if domain else "",
            region=region.name if region else "",
            self_service=bool(general["self_service"]),
            conditions=conditions,
            required_fields=_fields(general, entry.kind),
            required_documents=tuple(general["required_documents"]),
            approval_chain=tuple(general["approval_chain"]),
            decision_days=int(general["decision_days"]),
        )

    async def requirements(self, slug: str, employee_id: str) -> FormRequirements:
        """What the application of the person with `employee_id` through this entry needs."""
        async with self.uow(write=False) as uow:
            entry = await self._entry(uow, slug)
            return await _requirements(uow, entry.org_id, entry.kind, employee_id)

    async def requirements_in(
        self, org_id: int, kind: EntryPoint, employee_id: str
    ) -> FormRequirements:
        """The same for an application already filed (its answer to a reviewer's question)."""
        async with self.uow(write=False) as uow:
            return await _requirements(uow, org_id, kind, employee_id)

    async def position_names(self, actor: Actor, org_slug: str) -> dict[int, str]:
        """The organisation's positions by id (for showing policy selectors)."""
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.DIRECTORY_READ)
            return {p.id: p.name for p in await uow.structure.positions(org.id)}


async def _requirements(
    uow: UnitOfWork, org_id: int, kind: EntryPoint, employee_id: str
) -> FormRequirements:
    key = employee_id.strip()[:MAX_EMPLOYEE_ID]
    person = await uow.roster.get(org_id, key) if key else None
    if person is None and key and key.upper() != key:
        person = await uow.roster.get(org_id, key.upper())
    subject = await subject_for(uow, org_id, person, kind)
    resolution = resolve(await uow.policies.for_org(org_id), subject)
    return FormRequirements(_fields(resolution, kind), tuple(resolution["required_documents"]))
