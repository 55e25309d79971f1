"""First start: the platform organisation and its first admin; the demo organisation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from mailgate.domain.access import SYSTEM, Actor, Role
from mailgate.domain.directory import Account
from mailgate.domain.names import Address
from mailgate.domain.ports import UnitOfWorkFactory
from mailgate.services.accounts import AccountService
from mailgate.services.demo_data import (
    DEMO_ENTRIES,
    DEMO_POLICIES,
    DEMO_REGIONS,
    DEMO_UNITS,
    demo_roster_csv,
)
from mailgate.services.entrypoints import EntryPointService
from mailgate.services.organisations import OrganisationService
from mailgate.services.policies import PolicyService, SelectorSpec
from mailgate.services.roster import RosterService

DEMO_SLUG = "example"
DEMO_DOMAIN = "example.test"


def generate_password() -> str:
    """A generated password people can type: 4 groups of 5 from an unambiguous alphabet."""
    alphabet = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


@dataclass(slots=True)
class SetupService:
    uow: UnitOfWorkFactory
    organisations: OrganisationService
    accounts: AccountService
    roster: RosterService
    entry_points: EntryPointService | None = None  # the demo's onboarding entries
    policies: PolicyService | None = None  # and its default policy set

    async def is_initialised(self) -> bool:
        async with self.uow(write=False) as uow:
            return bool(await uow.orgs.list(None))

    async def create_platform_admin(
        self,
        actor: Actor,
        admin_address: str,
        password: str,
        org_slug: str = "platform",
        org_name: str = "Mailgate platform",
    ) -> Account:
        """The operator's organisation, the admin's domain and the first platform admin."""
        address = Address.parse(admin_address)
        await self.organisations.create(actor, org_slug, org_name)
        await self.organisations.add_domain(actor, org_slug, address.domain.unicode)
        account = await self.accounts.create(
            actor,
            str(address),
            display_name="Platform admin",
            password=password,
            skip_first_login=True,
            language="en",
            time_zone="UTC",
        )
        await self.accounts.grant_role(actor, str(address), Role.PLATFORM_ADMIN, None)
        return account

    async def seed_demo(self, actor: Actor = SYSTEM) -> tuple[str, str]:
        """Example Corp with example.test, org units, regions and about 50 roster entries.

        Returns the platform admin's address and generated password (shown once).
        """
        password = generate_password()
        await self.organisations.create(
            actor,
            DEMO_SLUG,
            "Example Corp",
            account_pool_limit=500,
            helpdesk_contact="IT 服务台 · it-help@example.test · 分机 8000",
        )
        await self.organisations.add_domain(actor, DEMO_SLUG, DEMO_DOMAIN)
        for code, name, tz in DEMO_REGIONS:
            await self.organisations.add_region(actor, DEMO_SLUG, code, name, tz, "zh_Hans")
        for path in DEMO_UNITS:
            await self.organisations.add_unit(actor, DEMO_SLUG, path)
        admin = f"admin@{DEMO_DOMAIN}"
        await self.accounts.create(
            actor,
            admin,
            display_name="系统管理员",
            password=password,
            skip_first_login=True,
        )
        await self.accounts.grant_role(actor, admin, Role.PLATFORM_ADMIN, None)
        await self.roster.import_csv(actor, DEMO_SLUG, demo_roster_csv().encode())
        await self._seed_onboarding(actor)
        return admin, password

    async def _seed_onboarding(self, actor: Actor) -> None:
        """The demo's entry points (portal, ticket API, partner portal on 10.0.0.0/8) and a
        default policy set (demo_data)."""
        if self.entry_points is not None:
            for slug, kind, networks, landing, reach_hint in DEMO_ENTRIES:
                await self.entry_points.add(
                    actor, DEMO_SLUG, slug, kind, DEMO_DOMAIN, networks=list(networks),
                    landing=landing, reach_hint=reach_hint,
                )  # fmt: skip
        if self.policies is not None:
            for name, position, selector, settings, require, description in DEMO_POLICIES:
                await self.policies.add(
                    actor, DEMO_SLUG, name, position=position,
                    selector=SelectorSpec(**selector), settings=settings, require=require,
                    description=description,
                )  # fmt: skip
