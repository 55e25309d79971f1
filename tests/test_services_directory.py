"""Services on both backends: organisations, domains, accounts, aliases, groups and the rule
that every mutation writes exactly one audit event in its own transaction (and a failing one
writes none)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import AccountAction, AccountState
from mailgate.domain.errors import (
    AddressTaken,
    Conflict,
    DomainNotOwned,
    InvalidAddress,
    InvalidDomainName,
    InvalidInput,
    InvalidTransition,
    MailgateError,
    NotFound,
    PoolExhausted,
)
from mailgate.services.container import Services
from mailgate.storage.database import Database
from mailgate.storage.tables import accounts, address_claims, aliases, audit_events, groups


async def counts(db: Database) -> dict[str, int]:
    async with db.reader.connect() as conn:
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in (accounts, audit_events, address_claims, aliases, groups)
        }


async def org_with_domain(
    services: Services, root: Actor, slug: str = "acme", domain: str = "acme.test", **kw: Any
) -> None:
    await services.organisations.create(root, slug, f"{slug} Inc.", **kw)
    await services.organisations.add_domain(root, slug, domain)


async def refused(
    db: Database, exc: type[MailgateError], call: Awaitable[Any], match: str = ""
) -> MailgateError:
    """`call` raises `exc` (with `match` in its text) and writes nothing at all."""
    before = await counts(db)
    with pytest.raises(exc) as info:
        await call
    assert match in str(info.value)
    assert await counts(db) == before
    return info.value


async def test_organisations(services: Services, root: Actor, database: Database) -> None:
    org = await services.organisations.create(root, "Acme", "Acme 公司", account_pool_limit=5)
    assert (org.slug, org.name, org.account_pool_limit) == ("acme", "Acme 公司", 5)
    await services.organisations.create(root, "beta", "Beta", kind="partner")
    assert [o.slug for o in await services.organisations.list(root)] == ["acme", "beta"]
    assert (await services.organisations.get(root, "beta")).kind.value == "partner"
    await refused(
        database, Conflict, services.organisations.create(root, "acme", "Again"), "already exists"
    )
    await refused(database, InvalidInput, services.organisations.create(root, "-x", "X"), "slug")
    await refused(database, InvalidInput, services.organisations.create(root, "ok", " "), "name")
    await refused(
        database, InvalidInput, services.organisations.create(root, "ok", "X", kind="vendor")
    )
    with pytest.raises(NotFound):
        await services.organisations.get(root, "nope")
    updated = await services.organisations.update(root, "acme", account_pool_limit=None)
    assert updated.account_pool_limit is None
    assert (await services.organisations.get(root, "acme")).account_pool_limit is None


async def test_domains(services: Services, root: Actor, database: Database) -> None:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.create(root, "beta", "Beta")
    d = await services.organisations.add_domain(root, "acme", "例子。测试")
    assert (d.name, d.unicode_name) == ("xn--fsqu00a.xn--0zwm56d", "例子.测试")
    await refused(
        database,
        Conflict,
        services.organisations.add_domain(root, "beta", "XN--FSQU00A.xn--0zwm56d"),
        "already registered",
    )
    await refused(
        database,
        InvalidDomainName,
        services.organisations.add_domain(root, "acme", "pаypal.com"),
        "mixes scripts",
    )
    await refused(database, NotFound, services.organisations.add_domain(root, "nope", "ok.test"))
    assert [x.name for x in await services.organisations.list_domains(root, "acme")] == [d.name]
    assert await services.organisations.list_domains(root, "beta") == []


async def test_account_create_and_duplicates(
    services: Services, root: Actor, database: Database
) -> None:
    await org_with_domain(services, root, domain="例子.测试")
    a = await services.accounts.create(root, "Zhang.Wei@例子.测试", display_name="张伟")
    assert a.state is AccountState.PENDING_ACTIVATION
    assert a.address_key == "zhang.wei@xn--fsqu00a.xn--0zwm56d"
    assert a.required_actions and not a.skipped_first_login
    assert a.quota == 2 * 1024**3
    for dup in ("zhang.wei@例子.测试", "ZHANG.WEI@xn--fsqu00a.xn--0zwm56d", "Zhang.Wei@例子。测试"):
        await refused(database, AddressTaken, services.accounts.create(root, dup), "already")
    await refused(
        database,
        AddressTaken,
        services.routes.add_alias(root, "zhang.WEI@例子.测试", ["x@elsewhere.test"]),
    )
    await refused(
        database, AddressTaken, services.routes.create_group(root, "ZHANG.wei@例子.测试", "G")
    )
    got = await services.accounts.get(root, "ZHANG.WEI@例子.测试")
    assert got.id == a.id and got.display_name == "张伟"


async def test_account_create_bad_input_writes_nothing(
    services: Services, root: Actor, database: Database
) -> None:
    await org_with_domain(services, root)
    await services.organisations.create(root, "beta", "Beta")
    await services.organisations.add_domain(root, "beta", "beta.test")
    await refused(
        database,
        DomainNotOwned,
        services.accounts.create(root, "x@unknown.test"),
        "is not a domain of this Mailgate",
    )
    await refused(
        database,
        DomainNotOwned,
        services.accounts.create(root, "x@beta.test", org_slug="acme"),
        "does not belong to this organisation",
    )
    await refused(database, InvalidAddress, services.accounts.create(root, "x y@acme.test"))
    await refused(database, InvalidAddress, services.accounts.create(root, "x@pаypal.com"))
    await refused(
        database,
        InvalidInput,
        services.accounts.create(root, "x@acme.test", skip_first_login=True),
        "needs a password",
    )
    await refused(
        database,
        InvalidInput,
        services.accounts.create(root, "x@acme.test", expires_on=date(2000, 1, 1)),
        "future",
    )
    await refused(
        database, NotFound, services.accounts.create(root, "x@acme.test", employee_id="E404")
    )
    await refused(
        database, InvalidInput, services.accounts.create(root, "x@acme.test", language="fr")
    )
    made = await services.accounts.create(root, "x@beta.test", org_slug="beta")
    assert made.address == "x@beta.test"


async def test_pool_exhausted(services: Services, root: Actor, database: Database) -> None:
    await org_with_domain(services, root, account_pool_limit=2)
    await services.accounts.create(
        root, "a@acme.test", password="pw-aaaaaaaa", skip_first_login=True
    )
    await services.accounts.create(root, "b@acme.test")
    await refused(
        database, PoolExhausted, services.accounts.create(root, "c@acme.test"), "2 of 2 mailboxes"
    )
    # A disabled account frees its place; enabling it again needs a free place.
    await services.accounts.change_state(root, "b@acme.test", AccountAction.DISABLE)
    await services.accounts.create(root, "c@acme.test")
    await refused(
        database,
        PoolExhausted,
        services.accounts.change_state(root, "b@acme.test", AccountAction.ENABLE),
    )


async def test_aliases_and_groups(services: Services, root: Actor, database: Database) -> None:
    await org_with_domain(services, root)
    await services.accounts.create(root, "li.na@acme.test")
    alias = await services.routes.add_alias(
        root, "Sales@acme.test", ["LI.NA@acme.test", "li.na@acme.test", "ext@other.test"]
    )
    assert alias.address_key == "sales@acme.test"
    assert alias.targets == ["LI.NA@acme.test", "ext@other.test"]
    await refused(database, AddressTaken, services.accounts.create(root, "SALES@acme.test"))
    await refused(
        database, AddressTaken, services.routes.create_group(root, "sales@acme.test", "S")
    )
    await refused(
        database,
        NotFound,
        services.routes.add_alias(root, "x@acme.test", ["ghost@acme.test"]),
        "no account, alias or group has it",
    )
    await refused(
        database, InvalidInput, services.routes.add_alias(root, "x@acme.test", ["X@acme.test"])
    )
    await refused(database, InvalidInput, services.routes.add_alias(root, "x@acme.test", []))
    group = await services.routes.create_group(root, "Team@acme.test", "团队", "members")
    assert group.send_policy.value == "members"
    await refused(database, AddressTaken, services.accounts.create(root, "team@ACME.test"))
    await refused(
        database, InvalidInput, services.routes.create_group(root, "g2@acme.test", "G", "nobody")
    )
    g = await services.routes.add_member(root, "team@acme.test", "li.na@acme.test")
    assert g.members == ["li.na@acme.test"]
    await refused(
        database, Conflict, services.routes.add_member(root, "team@acme.test", "li.na@acme.test")
    )
    await refused(
        database, InvalidInput, services.routes.add_member(root, "team@acme.test", "TEAM@acme.test")
    )
    await services.routes.remove_alias(root, "sales@acme.test")
    assert await services.routes.list_aliases(root) == []
    # The address is free again.
    await services.accounts.create(root, "sales@acme.test")
    assert [x.address for x in await services.routes.list_groups(root, "acme")] == [
        "Team@acme.test"
    ]


async def test_state_transitions(services: Services, root: Actor, database: Database) -> None:
    await org_with_domain(services, root)
    await services.accounts.create(root, "u@acme.test")
    await refused(
        database,
        InvalidInput,
        services.accounts.change_state(root, "u@acme.test", AccountAction.ACTIVATE),
        "set a password",
    )
    await services.accounts.create(root, "v@acme.test", password="secret-123")
    v = await services.accounts.change_state(root, "v@acme.test", AccountAction.ACTIVATE)
    assert v.state is AccountState.ACTIVE and v.skipped_first_login and not v.required_actions
    steps = [
        (AccountAction.LOCK, AccountState.LOCKED),
        (AccountAction.UNLOCK, AccountState.ACTIVE),
        (AccountAction.SUSPEND, AccountState.SUSPENDED),
        (AccountAction.REINSTATE, AccountState.ACTIVE),
        (AccountAction.EXPIRE, AccountState.EXPIRED),
    ]
    for action, state in steps:
        assert (await services.accounts.change_state(root, "V@acme.test", action)).state is state
    for forbidden in (AccountAction.UNLOCK, AccountAction.ENABLE, AccountAction.ACTIVATE):
        err = await refused(
            database,
            InvalidTransition,
            services.accounts.change_state(root, "v@acme.test", forbidden),
            f"an account that is expired cannot {forbidden.value}",
        )
        assert "allowed steps are: disable, reactivate" in str(err)
    await refused(
        database,
        InvalidInput,
        services.accounts.change_state(root, "v@acme.test", AccountAction.REACTIVATE),
        "new future end date",
    )
    later = date.today() + timedelta(days=400)
    back = await services.accounts.change_state(
        root, "v@acme.test", AccountAction.REACTIVATE, new_expiry=later, reason="contract renewed"
    )
    assert back.state is AccountState.ACTIVE and back.expires_on == later
    stored = await services.accounts.get(root, "v@acme.test")
    assert stored.state is AccountState.ACTIVE and stored.expires_on == later
    await refused(
        database,
        NotFound,
        services.accounts.change_state(root, "nobody@acme.test", AccountAction.LOCK),
    )
    events, _ = await services.audit.list(root, limit=1)
    assert events[0].action == "account.reactivate"
    assert events[0].summary == {
        "from": "expired",
        "to": "active",
        "reason": "contract renewed",
        "expires_on": later.isoformat(),
    }


async def test_every_mutation_writes_exactly_one_event(
    services: Services, root: Actor, database: Database
) -> None:
    s = services
    mutations: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("org.create", lambda: s.organisations.create(root, "acme", "Acme", account_pool_limit=9)),
        ("org.update", lambda: s.organisations.update(root, "acme", name="Acme Ltd")),
        ("domain.add", lambda: s.organisations.add_domain(root, "acme", "acme.test")),
        ("region.add", lambda: s.organisations.add_region(root, "acme", "BJ", "北京")),
        ("orgunit.add", lambda: s.organisations.add_unit(root, "acme", "研发中心/平台部")),
        (
            "account.create",
            lambda: s.accounts.create(
                root, "admin@acme.test", password="pw-1234567", skip_first_login=True
            ),
        ),
        (
            "account.lock",
            lambda: s.accounts.change_state(root, "admin@acme.test", AccountAction.LOCK),
        ),
        (
            "account.unlock",
            lambda: s.accounts.change_state(root, "admin@acme.test", AccountAction.UNLOCK),
        ),
        (
            "role.grant",
            lambda: s.accounts.grant_role(root, "admin@acme.test", Role.ORG_ADMIN, "acme"),
        ),
        ("alias.add", lambda: s.routes.add_alias(root, "al@acme.test", ["admin@acme.test"])),
        ("alias.remove", lambda: s.routes.remove_alias(root, "al@acme.test")),
        ("group.create", lambda: s.routes.create_group(root, "g@acme.test", "G")),
        ("group.add_member", lambda: s.routes.add_member(root, "g@acme.test", "admin@acme.test")),
        (
            "roster.import",
            lambda: s.roster.import_csv(
                root,
                "acme",
                "employee_id,name_zh,org_unit,employment_type\nE1,张伟,研发中心,intern\n".encode(),
            ),
        ),
        ("api_token.create", lambda: s.identity.create_api_token(root, "admin@acme.test", "ci")),
        (
            "session.sign_in",
            lambda: s.identity.sign_in(
                "admin@acme.test", "pw-1234567", source_ip="127.0.0.1", user_agent="pytest"
            ),
        ),
    ]
    for action, call in mutations:
        before = await counts(database)
        await call()
        after = await counts(database)
        assert after["audit_events"] == before["audit_events"] + 1, action
        events, _ = await s.audit.list(root, limit=1)
        assert events[0].action == action
        assert events[0].actor in ("cli:test", "admin@acme.test")
    # No-op updates and failures write nothing.
    before = await counts(database)
    await s.organisations.update(root, "acme", name="Acme Ltd")
    for bad in (
        s.organisations.add_region(root, "acme", "BJ", "again"),
        s.organisations.add_unit(root, "acme", "研发中心"),
        s.routes.remove_alias(root, "al@acme.test"),
        s.accounts.grant_role(root, "admin@acme.test", Role.ORG_ADMIN, None),
    ):
        with pytest.raises(MailgateError):
            await bad
    assert await counts(database) == before
    assert (await s.audit.verify(root)).ok


async def test_audit_event_records_actor_ip_and_target(
    services: Services, root: Actor, database: Database
) -> None:
    await services.organisations.create(root.with_source_ip("192.0.2.7"), "acme", "Acme")
    (event,), total = await services.audit.list(root)
    assert total == 1
    assert (event.actor, event.action, event.target, event.source_ip) == (
        "cli:test",
        "org.create",
        "org:acme",
        "192.0.2.7",
    )
    assert event.summary == {"name": "Acme", "kind": "internal", "pool": None}
    assert event.occurred_at.tzinfo is not None
