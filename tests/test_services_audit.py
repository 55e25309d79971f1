"""`services.audit.verify` on both backends: an intact chain after many mutations, and rows
edited, deleted or swapped directly in the database are found and named by sequence number."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import AccountAction
from mailgate.domain.errors import PermissionDenied
from mailgate.services.container import Services
from mailgate.storage.database import Database
from mailgate.storage.tables import audit_events


async def _many_events(services: Services, root: Actor) -> int:
    await services.organisations.create(root, "acme", "Acme 公司")
    await services.organisations.add_domain(root, "acme", "例子.测试")
    for i in range(8):
        await services.accounts.create(root, f"user{i}@例子.测试", display_name=f"用户{i}")
    for i in range(4):
        await services.accounts.change_state(
            root, f"user{i}@例子.测试", AccountAction.DISABLE, reason="离职"
        )
    _, total = await services.audit.list(root, limit=1)
    return total


async def test_intact_chain_after_many_mutations(services: Services, root: Actor) -> None:
    total = await _many_events(services, root)
    assert total == 14
    report = await services.audit.verify(root)
    assert report.ok
    assert (report.count, report.head_seq) == (14, 14)
    events, _ = await services.audit.list(root, limit=1)
    assert report.head_hash == events[0].hash


async def test_edited_row_is_named(services: Services, root: Actor, database: Database) -> None:
    await _many_events(services, root)
    async with database.writer.begin() as conn:
        await conn.execute(
            update(audit_events).where(audit_events.c.seq == 5).values(summary='{"x": 1}')
        )
    report = await services.audit.verify(root)
    assert [(p.seq, p.what) for p in report.problems] == [
        (5, "content does not match its hash (edited)")
    ]


async def test_deleted_row_is_named(services: Services, root: Actor, database: Database) -> None:
    await _many_events(services, root)
    async with database.writer.begin() as conn:
        await conn.execute(delete(audit_events).where(audit_events.c.seq == 7))
    report = await services.audit.verify(root)
    assert not report.ok
    assert {p.seq for p in report.problems} == {8}
    assert any("events are missing before it" in p.what for p in report.problems)
    assert report.count == 13


async def test_swapped_rows_are_named(services: Services, root: Actor, database: Database) -> None:
    await _many_events(services, root)
    cols = [c for c in audit_events.c if c.name != "id"]
    async with database.writer.begin() as conn:
        rows = {
            r.seq: dict(r._mapping)
            for r in await conn.execute(select(audit_events).where(audit_events.c.seq.in_([3, 4])))
        }
        a, b = rows[3], rows[4]
        # Move seq 3 aside first: seq is unique.
        await conn.execute(update(audit_events).where(audit_events.c.id == a["id"]).values(seq=-1))
        await conn.execute(
            update(audit_events)
            .where(audit_events.c.id == b["id"])
            .values({c.name: a[c.name] for c in cols})
        )
        await conn.execute(
            update(audit_events)
            .where(audit_events.c.id == a["id"])
            .values({c.name: b[c.name] for c in cols})
        )
    report = await services.audit.verify(root)
    assert not report.ok
    assert {p.seq for p in report.problems} >= {3, 4}
    assert any("reordered" in p.what for p in report.problems)
    # Every problem names the row it was found in.
    assert {p.row_id for p in report.problems} >= {a["id"], b["id"]}


async def test_only_platform_admins_verify(services: Services, root: Actor) -> None:
    await _many_events(services, root)
    await services.accounts.create(
        root, "boss@例子.测试", password="pw-12345678", skip_first_login=True
    )
    await services.accounts.grant_role(root, "boss@例子.测试", Role.ORG_ADMIN, "acme")
    boss = await services.identity.act_as("boss@例子.测试")
    with pytest.raises(PermissionDenied):
        await services.audit.verify(boss)
    events, total = await services.audit.list(boss)
    assert total == 16 and all(e.org_id is not None for e in events)
