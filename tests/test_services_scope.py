"""Role scopes through every service method, on both backends: an organisation admin of A cannot
list, read, create or change B's objects; helpdesk may unlock only; reviewers only read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import AccountAction, AccountState
from mailgate.domain.errors import NotFound, PermissionDenied
from mailgate.services.container import Services
from mailgate.storage.database import Database
from mailgate.storage.tables import metadata

PW = "correct-horse-1"
ROSTER = "employee_id,name_zh,org_unit,employment_type\nE1,张伟,研发中心,full_time\n".encode()


@dataclass
class World:
    admin_a: Actor
    helpdesk_a: Actor
    reviewer_a: Actor


async def snapshot(db: Database) -> dict[str, int]:
    async with db.reader.connect() as conn:
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in metadata.sorted_tables
        }


async def _staff(services: Services, root: Actor, address: str, role: Role) -> Actor:
    await services.accounts.create(root, address, password=PW, skip_first_login=True)
    await services.accounts.grant_role(root, address, role, "org-a")
    return await services.identity.act_as(address)


@pytest.fixture
async def world(services: Services, root: Actor) -> World:
    for x in ("a", "b"):
        slug = f"org-{x}"
        await services.organisations.create(root, slug, f"Org {x.upper()}")
        await services.organisations.add_domain(root, slug, f"{x}.test")
        await services.organisations.add_region(root, slug, "BJ", "北京")
        await services.organisations.add_unit(root, slug, "研发中心")
        await services.roster.import_csv(root, slug, ROSTER)
        await services.accounts.create(root, f"user@{x}.test", password=PW, skip_first_login=True)
        await services.accounts.create(root, f"locked@{x}.test", password=PW, skip_first_login=True)
        await services.accounts.change_state(root, f"locked@{x}.test", AccountAction.LOCK)
        await services.routes.add_alias(root, f"alias@{x}.test", [f"user@{x}.test"])
        await services.routes.create_group(root, f"group@{x}.test", "G")
    return World(
        admin_a=await _staff(services, root, "admin@a.test", Role.ORG_ADMIN),
        helpdesk_a=await _staff(services, root, "help@a.test", Role.HELPDESK),
        reviewer_a=await _staff(services, root, "review@a.test", Role.REVIEWER),
    )


def b_calls(s: Services, actor: Actor) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every service method aimed at organisation B (or at everything, for creators)."""
    return {
        "org.create": lambda: s.organisations.create(actor, "org-c", "C"),
        "org.get": lambda: s.organisations.get(actor, "org-b"),
        "org.update": lambda: s.organisations.update(actor, "org-b", name="Mine now"),
        "org.add_domain": lambda: s.organisations.add_domain(actor, "org-b", "new-b.test"),
        "org.list_domains": lambda: s.organisations.list_domains(actor, "org-b"),
        "org.add_region": lambda: s.organisations.add_region(actor, "org-b", "SH", "上海"),
        "org.list_regions": lambda: s.organisations.list_regions(actor, "org-b"),
        "org.add_unit": lambda: s.organisations.add_unit(actor, "org-b", "市场部"),
        "org.list_units": lambda: s.organisations.list_units(actor, "org-b"),
        "account.create": lambda: s.accounts.create(actor, "new@b.test"),
        "account.create_in_org": lambda: s.accounts.create(actor, "new@b.test", org_slug="org-b"),
        "account.get": lambda: s.accounts.get(actor, "user@b.test"),
        "account.search_b": lambda: s.accounts.search(actor, org_slug="org-b"),
        "account.lock": lambda: s.accounts.change_state(actor, "user@b.test", AccountAction.LOCK),
        "account.unlock": lambda: s.accounts.change_state(
            actor, "locked@b.test", AccountAction.UNLOCK
        ),
        "account.disable": lambda: s.accounts.change_state(
            actor, "user@b.test", AccountAction.DISABLE
        ),
        "role.grant_b_account": lambda: s.accounts.grant_role(
            actor, "user@b.test", Role.ORG_ADMIN, "org-b"
        ),
        "role.grant_on_b": lambda: s.accounts.grant_role(
            actor, "user@a.test", Role.ORG_ADMIN, "org-b"
        ),
        "role.grant_platform": lambda: s.accounts.grant_role(
            actor, "user@a.test", Role.PLATFORM_ADMIN, None
        ),
        "alias.add": lambda: s.routes.add_alias(actor, "x@b.test", ["user@b.test"]),
        "alias.remove": lambda: s.routes.remove_alias(actor, "alias@b.test"),
        "alias.list_b": lambda: s.routes.list_aliases(actor, "org-b"),
        "group.create": lambda: s.routes.create_group(actor, "g2@b.test", "G2"),
        "group.add_member": lambda: s.routes.add_member(actor, "group@b.test", "user@b.test"),
        "group.list_b": lambda: s.routes.list_groups(actor, "org-b"),
        "roster.import": lambda: s.roster.import_csv(actor, "org-b", ROSTER),
        "roster.search_b": lambda: s.roster.search(actor, org_slug="org-b"),
        "audit.verify": lambda: s.audit.verify(actor),
        "token.create": lambda: s.identity.create_api_token(actor, "user@b.test", "t"),
    }


@pytest.mark.parametrize("who", ["admin_a", "helpdesk_a", "reviewer_a"])
async def test_nothing_of_b_is_reachable(
    services: Services, world: World, database: Database, who: str
) -> None:
    actor: Actor = getattr(world, who)
    before = await snapshot(database)
    calls = b_calls(services, actor)
    for name, call in calls.items():
        with pytest.raises((NotFound, PermissionDenied)):
            await call()
            pytest.fail(f"{who} reached {name}")
    assert await snapshot(database) == before

    # Listings without an organisation show A's objects only.
    assert [o.slug for o in await services.organisations.list(actor)] == ["org-a"]
    assert {d.name for d in await services.organisations.list_domains(actor)} == {"a.test"}
    found, _ = await services.accounts.search(actor, limit=500)
    assert found and all(a.address.endswith("@a.test") for a in found)
    assert all(x.org_id == found[0].org_id for x in await services.routes.list_aliases(actor))
    assert all(x.org_id == found[0].org_id for x in await services.routes.list_groups(actor))
    entries, total = await services.roster.search(actor)
    assert total == 1 and entries[0].org_id == found[0].org_id
    events, _ = await services.audit.list(actor, limit=500)
    assert all(e.org_id == found[0].org_id for e in events)


async def test_b_objects_are_not_even_known(services: Services, world: World) -> None:
    # Reads and per-object changes say "not found", not "forbidden": existence stays private.
    for call in (
        services.organisations.get(world.admin_a, "org-b"),
        services.accounts.get(world.admin_a, "user@b.test"),
        services.accounts.change_state(world.admin_a, "user@b.test", AccountAction.LOCK),
        services.routes.remove_alias(world.admin_a, "alias@b.test"),
        services.routes.add_member(world.admin_a, "group@b.test", "user@a.test"),
        services.roster.search(world.admin_a, org_slug="org-b"),
    ):
        with pytest.raises(NotFound):
            await call


async def test_org_admin_manages_own_org(services: Services, world: World, root: Actor) -> None:
    admin = world.admin_a
    made = await services.accounts.create(admin, "new@a.test", org_slug="org-a")
    assert made.state is AccountState.PENDING_ACTIVATION
    await services.accounts.change_state(admin, "user@a.test", AccountAction.LOCK)
    await services.accounts.change_state(admin, "user@a.test", AccountAction.UNLOCK)
    await services.routes.add_alias(admin, "sales@a.test", ["new@a.test"])
    await services.organisations.add_unit(admin, "org-a", "市场部")
    await services.roster.import_csv(admin, "org-a", ROSTER)
    await services.accounts.grant_role(admin, "user@a.test", Role.HELPDESK, "org-a")
    with pytest.raises(PermissionDenied):  # domains and pool size are platform decisions
        await services.organisations.add_domain(admin, "org-a", "more-a.test")
    with pytest.raises(PermissionDenied):
        await services.organisations.update(admin, "org-a", account_pool_limit=1000)
    assert (await services.audit.verify(root)).ok


async def test_helpdesk_unlocks_only(services: Services, world: World, database: Database) -> None:
    help_a = world.helpdesk_a
    unlocked = await services.accounts.change_state(help_a, "locked@a.test", AccountAction.UNLOCK)
    assert unlocked.state is AccountState.ACTIVE
    assert (await services.accounts.get(help_a, "user@a.test")).address == "user@a.test"
    before = await snapshot(database)
    for call in (
        services.accounts.change_state(help_a, "user@a.test", AccountAction.LOCK),
        services.accounts.change_state(help_a, "user@a.test", AccountAction.DISABLE),
        services.accounts.create(help_a, "new@a.test"),
        services.routes.add_alias(help_a, "x@a.test", ["user@a.test"]),
        services.roster.import_csv(help_a, "org-a", ROSTER),
        services.organisations.add_region(help_a, "org-a", "SH", "上海"),
        services.accounts.grant_role(help_a, "user@a.test", Role.HELPDESK, "org-a"),
    ):
        with pytest.raises(PermissionDenied):
            await call
    assert await snapshot(database) == before


async def test_reviewer_reads_only(services: Services, world: World, database: Database) -> None:
    rev = world.reviewer_a
    assert (await services.accounts.get(rev, "user@a.test")).address == "user@a.test"
    assert (await services.roster.search(rev, org_slug="org-a"))[1] == 1
    assert len(await services.organisations.list_units(rev, "org-a")) == 1
    assert [x.address for x in await services.routes.list_aliases(rev, "org-a")] == ["alias@a.test"]
    before = await snapshot(database)
    for call in (
        services.accounts.change_state(rev, "locked@a.test", AccountAction.UNLOCK),
        services.accounts.change_state(rev, "user@a.test", AccountAction.LOCK),
        services.accounts.create(rev, "new@a.test"),
        services.routes.create_group(rev, "g9@a.test", "G9"),
        services.routes.add_member(rev, "group@a.test", "user@a.test"),
        services.roster.import_csv(rev, "org-a", ROSTER),
        services.organisations.add_unit(rev, "org-a", "市场部"),
        services.organisations.update(rev, "org-a", name="Renamed"),
        services.accounts.grant_role(rev, "user@a.test", Role.REVIEWER, "org-a"),
    ):
        with pytest.raises(PermissionDenied):
            await call
    assert await snapshot(database) == before
