"""Concurrent account creation on both backends: the account pool and the audit chain hold."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from mailgate.domain.access import Actor
from mailgate.domain.directory import AccountAction
from mailgate.domain.errors import AddressTaken, PoolExhausted
from mailgate.services.container import Services
from mailgate.storage.database import Database
from mailgate.storage.tables import accounts, address_claims, audit_events


async def _count(db: Database, table: object) -> int:
    async with db.reader.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_pool_limit_holds_under_concurrent_creation(
    services: Services, root: Actor, database: Database
) -> None:
    await services.organisations.create(root, "acme", "Acme", account_pool_limit=10)
    await services.organisations.add_domain(root, "acme", "acme.test")
    results = await asyncio.gather(
        *(services.accounts.create(root, f"u{i:02d}@acme.test") for i in range(20)),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(made) == 10
    assert all(isinstance(e, PoolExhausted) for e in failed), failed
    assert await _count(database, accounts) == 10
    assert await _count(database, address_claims) == 10
    assert await _count(database, audit_events) == 2 + 10
    report = await services.audit.verify(root)
    assert report.ok and report.head_seq == 12


async def test_same_address_concurrently_is_taken_once(
    services: Services, root: Actor, database: Database
) -> None:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    spellings = ["Zhang.Wei", "zhang.wei", "ZHANG.WEI", "zhang.Wei", "Zhang.WEI"] * 2
    results = await asyncio.gather(
        *(services.accounts.create(root, f"{s}@acme.test") for s in spellings),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(made) == 1
    assert all(isinstance(r, AddressTaken) for r in results if isinstance(r, BaseException))
    assert await _count(database, accounts) == 1
    assert (await services.audit.verify(root)).ok


async def test_enabling_concurrently_respects_the_pool(
    services: Services, root: Actor, database: Database
) -> None:
    await services.organisations.create(root, "acme", "Acme", account_pool_limit=5)
    await services.organisations.add_domain(root, "acme", "acme.test")
    for i in range(5):
        await services.accounts.create(root, f"u{i}@acme.test")
    for i in range(5):
        await services.accounts.change_state(root, f"u{i}@acme.test", AccountAction.DISABLE)
    for i in range(5, 8):
        await services.accounts.create(root, f"u{i}@acme.test")
    results = await asyncio.gather(
        *(
            services.accounts.change_state(root, f"u{i}@acme.test", AccountAction.ENABLE)
            for i in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 2
    found, _ = await services.accounts.search(root, state="disabled")
    assert len(found) == 3
    assert (await services.audit.verify(root)).ok
