"""Mailbox sessions (the IMAP/POP3 back end): folders, SELECT, APPEND, STORE, EXPUNGE, COPY,
MOVE, CONDSTORE/QRESYNC changes, quota and POP3, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from mailgate.domain.access import Actor
from mailgate.domain.errors import Conflict, InvalidInput, NotFound, QuotaExceeded, RuleViolation
from mailgate.domain.mail import Flag, SpecialUse, header_fields
from mailgate.domain.mailbox import NewAppend, StoreMode, UidSet
from mailgate.domain.ports import NewMessage
from mailgate.services.container import Services
from mailgate.services.groupcommit import GroupCommitter
from mailgate.services.mailboxes import MailboxService
from mailgate.storage.database import Database
from mailgate.storage.tables import accounts, blobs

PW = "a-long-enough-password"


def mail(subject: str = "Hello", body: str = "Hi there.", extra: str = "") -> bytes:
    return (
        f"From: Li Na <li.na@acme.test>\r\nTo: team@acme.test\r\nSubject: {subject}\r\n{extra}"
        "Message-ID: <m1@acme.test>\r\nDate: Sat, 28 Nov 2026 09:00:00 +0800\r\n"
        f"\r\n{body}\r\n"
    ).encode()


@pytest.fixture
async def acct(services: Services, root: Actor) -> int:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    account = await services.accounts.create(
        root, "li.na@acme.test", password=PW, skip_first_login=True, quota=100_000
    )
    return account.id


async def other_account(services: Services, root: Actor) -> int:
    account = await services.accounts.create(
        root, "wang.wei@acme.test", password=PW, skip_first_login=True
    )
    return account.id


async def test_folder_list_create_delete_rename_subscribe(services: Services, acct: int) -> None:
    mb = services.mailboxes
    names = [f.name for f in await mb.folders(acct)]
    assert names == ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"]
    assert (await mb.status(acct, "inbox")).name == "INBOX"
    await mb.create(acct, "项目/季度报告/2026", SpecialUse.ARCHIVE)
    status = {f.name: f for f in await mb.folders(acct)}
    assert {"项目", "项目/季度报告", "项目/季度报告/2026"} <= set(status)
    assert status["项目/季度报告/2026"].special_use is SpecialUse.ARCHIVE
    with pytest.raises(Conflict):
        await mb.create(acct, "项目/")
    for bad in ("", "a//b", "/a", "x\x00y"):
        with pytest.raises(InvalidInput):
            await mb.create(acct, bad)
    with pytest.raises(RuleViolation):
        await mb.delete(acct, "INBOX")
    # Renaming a parent renames its children, each with a new UIDVALIDITY.
    before = status["项目/季度报告/2026"].uidvalidity
    await mb.rename(acct, "项目", "Projects/Old")
    after = {f.name: f for f in await mb.folders(acct)}
    assert "项目" not in after and "Projects/Old/季度报告/2026" in after
    assert "Projects" in after
    assert after["Projects/Old/季度报告/2026"].uidvalidity > before
    uvs = [f.uidvalidity for f in after.values()]
    assert len(set(uvs[6:])) == len(uvs[6:])  # folders made in this test all differ
    with pytest.raises(Conflict):
        await mb.rename(acct, "Sent", "Drafts")
    with pytest.raises(RuleViolation):
        await mb.rename(acct, "Projects", "Projects/Inner")
    with pytest.raises(NotFound):
        await mb.rename(acct, "Nope", "Other")
    # Deleting a parent keeps its children.
    await mb.delete(acct, "Projects/Old")
    left = {f.name for f in await mb.folders(acct)}
    assert "Projects/Old" not in left and "Projects/Old/季度报告" in left
    # A folder deleted and re-created never gets its old UIDVALIDITY back.
    await mb.create(acct, "Again")
    first = (await mb.status(acct, "Again")).uidvalidity
    await mb.delete(acct, "Again")
    await mb.create(acct, "Again")
    assert (await mb.status(acct, "Again")).uidvalidity > first
    await mb.set_subscribed(acct, "Again", False)
    assert not (await mb.status(acct, "Again")).subscribed
    with pytest.raises(NotFound):
        await mb.set_subscribed(acct, "Missing", True)


async def test_append_select_fetch_and_status_counts(services: Services, acct: int) -> None:
    mb = services.mailboxes
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    result = await mb.append(
        acct,
        "Drafts",
        [
            NewAppend(mail("one"), Flag.SEEN | Flag.DRAFT, ("$Label1", "$label1"), when),
            NewAppend(mail("two")),
        ],
    )
    box = await mb.status(acct, "Drafts")
    assert result.uidvalidity == box.uidvalidity and result.uids == [1, 2]
    assert (box.messages, box.unseen, box.deleted, box.uidnext) == (2, 1, 0, 3)
    assert box.size == len(mail("one")) + len(mail("two"))
    snap = await mb.select(acct, "Drafts")
    assert [m.uid for m in snap.messages] == [1, 2]
    assert snap.messages[0].flags == Flag.SEEN | Flag.DRAFT
    assert snap.messages[0].keywords == ("$Label1",)  # case-insensitively unique
    assert snap.highestmodseq >= max(m.modseq for m in snap.messages)
    meta = await mb.fetch(acct, snap.mailbox_id, UidSet.of([1, 2, 99]))
    assert [m.uid for m in meta] == [1, 2]
    assert meta[0].internal_date == when and meta[0].headers.subject == "one"
    assert await mb.body(meta[0].blob_id) == mail("one")  # byte for byte
    assert meta[0].mime is None
    await mb.cache_mime(acct, [meta[0].id], '{"type": "text/plain"}')
    again = await mb.fetch(acct, snap.mailbox_id, UidSet.of([1]))
    assert again[0].mime == '{"type": "text/plain"}'
    with pytest.raises(NotFound):
        await mb.append(acct, "Missing", [NewAppend(mail())])
    with pytest.raises(InvalidInput):
        await mb.append(acct, "INBOX", [NewAppend(mail(), keywords=("bad word",))])
    with pytest.raises(InvalidInput):
        await mb.append(acct, "INBOX", [NewAppend(mail(), internal_date=datetime(2026, 1, 1))])


async def test_other_accounts_folders_are_invisible(
    services: Services, acct: int, root: Actor
) -> None:
    other = await other_account(services, root)
    mb = services.mailboxes
    theirs = await mb.select(other, "INBOX")
    with pytest.raises(NotFound):
        await mb.fetch(acct, theirs.mailbox_id, UidSet.span(1, 10))
    with pytest.raises(NotFound):
        await mb.store(acct, theirs.mailbox_id, UidSet.span(1, 10), StoreMode.ADD, Flag.SEEN)


async def test_store_flags_keywords_and_unchangedsince(services: Services, acct: int) -> None:
    mb = services.mailboxes
    await mb.append(acct, "INBOX", [NewAppend(mail(str(i))) for i in range(3)])
    snap = await mb.select(acct, "INBOX")
    box = snap.mailbox_id
    base = snap.highestmodseq
    r = await mb.store(acct, box, UidSet.span(1, 2), StoreMode.ADD, Flag.SEEN, ["$Junk"])
    assert r.failed == [] and r.highestmodseq == base + 1
    assert [(s.uid, s.flags, s.keywords, s.modseq) for s in r.states] == [
        (1, Flag.SEEN, ("$Junk",), base + 1),
        (2, Flag.SEEN, ("$Junk",), base + 1),
    ]
    # Adding what is there changes nothing and bumps nothing.
    same = await mb.store(acct, box, UidSet.of([1]), StoreMode.ADD, Flag.SEEN, ["$JUNK"])
    assert same.highestmodseq == base + 1 and same.states[0].keywords == ("$Junk",)
    removed = await mb.store(acct, box, UidSet.of([1]), StoreMode.REMOVE, 0, ["$junk"])
    assert removed.states[0].keywords == () and removed.states[0].modseq == base + 2
    # UNCHANGEDSINCE: message 1 changed after base + 1, message 3 did not.
    cond = await mb.store(
        acct, box, UidSet.of([1, 3]), StoreMode.REPLACE, Flag.FLAGGED, [], unchanged_since=base + 1
    )
    assert cond.failed == [1]
    assert [(s.uid, s.flags) for s in cond.states] == [(3, Flag.FLAGGED)]
    changes = await mb.changes(acct, box, base + 1)
    assert {s.uid for s in changes.changed} == {1, 3}
    assert changes.highestmodseq == base + 3 and changes.vanished == []
    with pytest.raises(InvalidInput):
        await mb.store(acct, box, UidSet.of([1]), StoreMode.ADD, 1 << 10)


async def test_expunge_vanished_quota_and_blob_refs(
    services: Services, acct: int, database: Database
) -> None:
    mb = services.mailboxes
    await mb.append(acct, "INBOX", [NewAppend(mail(str(i))) for i in range(5)])
    snap = await mb.select(acct, "INBOX")
    box = snap.mailbox_id
    await mb.store(acct, box, UidSet.of([2, 3, 5]), StoreMode.ADD, Flag.DELETED)
    mark = (await mb.status(acct, "INBOX")).highestmodseq
    assert (await mb.status(acct, "INBOX")).deleted == 3
    # UID EXPUNGE only removes deleted messages inside the set.
    assert await mb.expunge(acct, box, UidSet.span(1, 3)) == [2, 3]
    assert await mb.expunge(acct, box) == [5]
    assert [m.uid for m in (await mb.snapshot(acct, box)).messages] == [1, 4]
    changes = await mb.changes(acct, box, mark)
    assert changes.vanished == [2, 3, 5] and changes.changed == []
    assert (await mb.changes(acct, box, mark, UidSet.of([3]))).vanished == [3]
    quota = await mb.quota(acct)
    assert quota.messages == 2 and quota.storage_used_kib == 1
    async with database.reader.connect() as conn:
        used = await conn.scalar(select(accounts.c.quota_used).where(accounts.c.id == acct))
    assert used == len(mail("0")) * 2
    assert quota.storage_limit_kib == 100_000 // 1024
    async with database.reader.connect() as conn:
        refs = sorted((await conn.execute(select(blobs.c.refcount))).scalars())
    assert refs == [0, 0, 0, 1, 1]
    # Deleting a folder releases its messages too.
    await mb.append(acct, "Junk", [NewAppend(mail("spam"))])
    before = (await mb.quota(acct)).messages
    await mb.delete(acct, "Junk")
    assert (await mb.quota(acct)).messages == before - 1


async def test_copy_move_quota_and_inbox_rename(services: Services, acct: int) -> None:
    mb = services.mailboxes
    await mb.append(acct, "INBOX", [NewAppend(mail(str(i)), Flag.SEEN) for i in range(3)])
    await mb.append(acct, "Archive", [NewAppend(mail("old"))])
    inbox = (await mb.select(acct, "INBOX")).mailbox_id
    copied = await mb.copy(acct, inbox, UidSet.of([1, 3]), "Archive")
    archive = await mb.status(acct, "Archive")
    assert copied.uidvalidity == archive.uidvalidity and copied.pairs == [(1, 2), (3, 3)]
    assert archive.messages == 3 and archive.unseen == 1  # flags travel along
    moved = await mb.move(acct, inbox, UidSet.span(2, 3), "Trash")
    assert moved.pairs == [(2, 1), (3, 2)] and moved.expunged == [2, 3]
    assert [m.uid for m in (await mb.snapshot(acct, inbox)).messages] == [1]
    with pytest.raises(NotFound):
        await mb.copy(acct, inbox, UidSet.of([1]), "Nowhere")
    # Quota: COPY and APPEND refuse to overfill; MOVE needs no room.
    big = mail(body="x" * 60_000)
    await mb.append(acct, "INBOX", [NewAppend(big)])
    with pytest.raises(QuotaExceeded):
        await mb.append(acct, "INBOX", [NewAppend(big)])
    big_uid = (await mb.snapshot(acct, inbox)).messages[-1].uid
    with pytest.raises(QuotaExceeded):
        await mb.copy(acct, inbox, UidSet.of([big_uid]), "Archive")
    assert (await mb.move(acct, inbox, UidSet.of([big_uid]), "Archive")).pairs
    # RENAME INBOX: messages move to the new folder, INBOX stays, empty, UIDs never reused.
    inbox_before = await mb.status(acct, "INBOX")
    assert inbox_before.messages == 1
    await mb.rename(acct, "INBOX", "Old Inbox")
    inbox_after = await mb.status(acct, "INBOX")
    old = await mb.status(acct, "Old Inbox")
    assert inbox_after.messages == 0 and old.messages == 1
    assert inbox_after.uidvalidity == inbox_before.uidvalidity
    assert inbox_after.uidnext == inbox_before.uidnext
    assert old.uidvalidity != inbox_before.uidvalidity
    gone = await mb.changes(acct, inbox, inbox_before.highestmodseq)
    assert gone.vanished == [1]
    result = await mb.append(acct, "INBOX", [NewAppend(mail("new"))])
    assert result.uids == [inbox_before.uidnext]


async def test_pop3_listing_and_update(services: Services, acct: int) -> None:
    mb = services.mailboxes
    await mb.append(acct, "INBOX", [NewAppend(mail(str(i))) for i in range(3)])
    drop = await mb.pop3_listing(acct)
    assert [(u, s) for u, s, _ in drop.messages] == [(i, len(mail(str(i - 1)))) for i in (1, 2, 3)]
    # An IMAP session expunged message 2 meanwhile: POP3's UPDATE skips it.
    await mb.store(acct, drop.mailbox_id, UidSet.of([2]), StoreMode.ADD, Flag.DELETED)
    await mb.expunge(acct, drop.mailbox_id)
    assert await mb.pop3_delete(acct, drop.mailbox_id, [1, 2]) == [1]
    assert [u for u, _, _ in (await mb.pop3_listing(acct)).messages] == [3]


async def test_events_reach_idle_sessions_after_commit(services: Services, acct: int) -> None:
    mb = services.mailboxes
    snap = await mb.select(acct, "INBOX")
    sub = mb.watch(snap.mailbox_id)
    try:
        waiter = asyncio.create_task(sub.wait())
        await asyncio.sleep(0)
        assert not waiter.done()
        await services.delivery.deliver("a@example.org", [acct], mail("pushed"))
        async with asyncio.timeout(1):
            assert await waiter == {"appended"}
        await mb.store(acct, snap.mailbox_id, UidSet.of([1]), StoreMode.ADD, Flag.DELETED)
        await mb.expunge(acct, snap.mailbox_id)
        assert sub.pending() == {"flags", "expunged"}
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await sub.wait()
    finally:
        sub.close()
    assert services.events.subscribers(snap.mailbox_id) == 0


async def test_concurrent_appends_get_distinct_increasing_uids(
    services: Services, acct: int
) -> None:
    """8 sessions x 25 APPENDs; each session has its own committer, so on PostgreSQL the
    transactions really run concurrently and the mailbox row lock must serialise them."""
    base = services.mailboxes
    sessions = [
        MailboxService(
            base.uow,
            base.clock,
            base.blobs,
            GroupCommitter(base.uow, events=base.events),
            base.events,
        )
        for _ in range(8)
    ]

    async def client(n: int, mb: MailboxService) -> list[int]:
        uids: list[int] = []
        for i in range(25):
            result = await mb.append(acct, "INBOX", [NewAppend(mail(f"{n}-{i}"))])
            uids.extend(result.uids)
        return uids

    results = await asyncio.gather(*(client(n, mb) for n, mb in enumerate(sessions)))
    every = [u for r in results for u in r]
    assert len(set(every)) == 200 and sorted(every) == list(range(1, 201))
    assert all(r == sorted(r) for r in results)  # strictly increasing per session
    snap = await base.select(acct, "INBOX")
    assert [m.uid for m in snap.messages] == list(range(1, 201)) and snap.uidnext == 201
    assert len({m.modseq for m in snap.messages}) == 200


async def test_select_of_ten_thousand_messages_is_one_fast_query(
    services: Services, acct: int
) -> None:
    mb = services.mailboxes
    data = mail("bulk")
    blob = await mb.blobs.put(data)
    box = await mb.status(acct, "Archive")
    now = datetime.now(UTC)
    items = [
        NewMessage(box.id, acct, blob, len(data), 0, [], now, header_fields(data))
        for _ in range(10_000)
    ]
    await mb.committer.append(items)
    started = asyncio.get_running_loop().time()
    snap = await mb.select(acct, "Archive")
    elapsed = asyncio.get_running_loop().time() - started
    assert len(snap.messages) == 10_000 and snap.messages[-1].uid == 10_000
    assert elapsed < 2.0, elapsed


async def test_concurrent_copy_move_and_delivery_never_reuse_uids(
    services: Services, acct: int
) -> None:
    base = services.mailboxes
    await base.append(acct, "Archive", [NewAppend(mail(f"a{i}")) for i in range(10)])
    archive = (await base.select(acct, "Archive")).mailbox_id

    def session() -> MailboxService:
        committer = GroupCommitter(base.uow, events=base.events)
        return MailboxService(base.uow, base.clock, base.blobs, committer, base.events)

    async def copier() -> list[int]:
        mb = session()
        out: list[int] = []
        for _ in range(5):
            out += [d for _, d in (await mb.copy(acct, archive, UidSet.span(1, 10), "INBOX")).pairs]
        return out

    async def appender() -> list[int]:
        mb = session()
        out: list[int] = []
        for i in range(10):
            out += (await mb.append(acct, "INBOX", [NewAppend(mail(f"n{i}"))])).uids
        return out

    async def deliverer() -> list[int]:
        for i in range(10):
            await services.delivery.deliver("a@example.org", [acct], mail(f"d{i}"))
        return []

    results = await asyncio.gather(copier(), copier(), appender(), appender(), deliverer())
    every = [u for r in results for u in r]
    assert len(every) == len(set(every)) == 120
    snap = await base.select(acct, "INBOX")
    assert [m.uid for m in snap.messages] == list(range(1, 131))
    # MOVE out under concurrent STOREs keeps UIDs unique in the target too.
    inbox = snap.mailbox_id

    async def mover(lo: int) -> list[int]:
        r = await session().move(acct, inbox, UidSet.span(lo, lo + 19), "Trash")
        return [d for _, d in r.pairs]

    async def flagger() -> None:
        for _ in range(5):
            await session().store(acct, inbox, UidSet.span(1, 130), StoreMode.ADD, Flag.SEEN)

    moved = await asyncio.gather(mover(1), mover(21), mover(41), flagger())
    trash = [u for r in moved[:3] for u in r]
    assert sorted(trash) == list(range(1, 61))
    assert len((await base.select(acct, "INBOX")).messages) == 70
