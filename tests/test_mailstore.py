"""The mail store: blob store, default folders, delivery through group commit, quota usage,
recipient resolution (accounts, aliases, groups, send policies) and garbage collection."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailgate.domain.access import Actor
from mailgate.domain.directory import AccountAction
from mailgate.domain.errors import NotFound
from mailgate.domain.mail import header_fields
from mailgate.services.container import Services
from mailgate.services.delivery import RecipientVerdict
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.tables import blobs, messages

PW = "a-long-enough-password"


def message(subject: str = "Hello", body: str = "Hi there.") -> bytes:
    return (
        f"From: Li Na <li.na@acme.test>\r\nTo: team@acme.test\r\nSubject: {subject}\r\n"
        "Message-ID: <m1@acme.test>\r\nDate: Sat, 28 Nov 2026 09:00:00 +0800\r\n"
        f"\r\n{body}\r\n"
    ).encode()


@pytest.fixture
async def acme(services: Services, root: Actor) -> Services:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    for local in ("li.na", "wang.wei", "zhao.min", "full"):
        await services.accounts.create(
            root, f"{local}@acme.test", password=PW, skip_first_login=True
        )
    await services.organisations.create(root, "other", "Other")
    await services.organisations.add_domain(root, "other", "other.test")
    await services.accounts.create(root, "x@other.test", password=PW, skip_first_login=True)
    return services


async def test_blob_store_is_content_addressed_and_durable_layout(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "b")
    data = b"same bytes\r\n"
    first = await store.put(data)
    second = await store.put(data)
    assert first == second and len(first) == 64
    path = store.path(first)
    assert path.parent.parent == tmp_path / "b" and path.parent.name == first[:2]
    assert path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == [first]  # no temporary files left
    with pytest.raises(NotFound):
        await store.get("0" * 64)
    with pytest.raises(NotFound):
        store.path("../../etc/passwd")


async def test_accounts_get_default_folders_with_special_use(acme: Services, root: Actor) -> None:
    folders = await acme.mailstore.folders(root, "li.na@acme.test")
    assert [(f.name, f.special_use) for f in folders] == [
        ("INBOX", None),
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Trash", "\\Trash"),
        ("Junk", "\\Junk"),
        ("Archive", "\\Archive"),
    ]
    assert all(f.uidnext == 1 and f.uidvalidity > 0 for f in folders)


async def test_a_message_for_several_people_is_stored_once(
    acme: Services, root: Actor, database: Database
) -> None:
    await acme.routes.add_alias(root, "team@acme.test", ["li.na@acme.test", "wang.wei@acme.test"])
    resolved = await acme.delivery.resolve("team@acme.test", "boss@example.org")
    assert resolved.verdict is RecipientVerdict.LOCAL and len(resolved.account_ids) == 2
    size = await acme.delivery.deliver("boss@example.org", resolved.account_ids, message())
    async with database.reader.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(blobs)) == 1
        assert await conn.scalar(select(blobs.c.refcount)) == 2
        assert await conn.scalar(select(func.count()).select_from(messages)) == 2
    for address in ("li.na@acme.test", "wang.wei@acme.test"):
        found, total = await acme.mailstore.messages(root, address)
        assert total == 1 and found[0].uid == 1 and found[0].size == size
        assert found[0].headers.subject == "Hello"
        stored = await acme.mailstore.read(found[0].blob_id)
        assert stored.startswith(b"Return-Path: <boss@example.org>\r\n")
        assert stored.endswith(message())  # byte for byte, CRLF kept
        account = await acme.accounts.get(root, address)
        assert account.quota > 0
    assert (await acme.accounts.get(root, "zhao.min@acme.test")).state == "active"


async def test_concurrent_deliveries_share_commits_and_get_distinct_uids(
    acme: Services, root: Actor
) -> None:
    target = (await acme.delivery.resolve("li.na@acme.test", None)).account_ids
    await asyncio.gather(
        *(acme.delivery.deliver("a@example.org", target, message(f"n{i}")) for i in range(40))
    )
    found, total = await acme.mailstore.messages(root, "li.na@acme.test", limit=100)
    assert total == 40
    assert sorted(m.uid for m in found) == list(range(1, 41))
    assert len({m.modseq for m in found}) == 40
    committer = acme.delivery.committer
    assert committer.committed == 40
    assert committer.batches < 40  # at least some deliveries shared a transaction
    folders = await acme.mailstore.folders(root, "li.na@acme.test")
    assert folders[0].uidnext == 41


async def test_recipient_verdicts(acme: Services, root: Actor) -> None:
    d = acme.delivery
    assert (await d.resolve("nobody@acme.test", None)).verdict is RecipientVerdict.UNKNOWN
    assert (await d.resolve("someone@gmail.test", None)).verdict is RecipientVerdict.REMOTE
    assert (await d.resolve("not an address", None)).verdict is RecipientVerdict.UNKNOWN
    assert (await d.resolve("LI.NA@ACME.TEST", None)).verdict is RecipientVerdict.LOCAL
    await acme.accounts.change_state(root, "zhao.min@acme.test", AccountAction.DISABLE)
    assert (await d.resolve("zhao.min@acme.test", None)).verdict is RecipientVerdict.DISABLED
    await acme.accounts.change_state(root, "wang.wei@acme.test", AccountAction.LOCK)
    assert (await d.resolve("wang.wei@acme.test", None)).verdict is RecipientVerdict.LOCAL


async def test_group_send_policies(acme: Services, root: Actor) -> None:
    await acme.routes.create_group(root, "members@acme.test", "M", "members")
    await acme.routes.add_member(root, "members@acme.test", "li.na@acme.test")
    await acme.routes.add_member(root, "members@acme.test", "wang.wei@acme.test")
    await acme.routes.create_group(root, "staff@acme.test", "S", "organisation")
    await acme.routes.add_member(root, "staff@acme.test", "zhao.min@acme.test")
    await acme.routes.create_group(root, "public@acme.test", "P", "anyone")
    await acme.routes.add_member(root, "public@acme.test", "zhao.min@acme.test")
    d = acme.delivery
    member = await d.resolve("members@acme.test", "li.na@acme.test")
    assert member.verdict is RecipientVerdict.LOCAL and len(member.account_ids) == 2
    for sender in ("zhao.min@acme.test", "x@other.test", None):
        assert (await d.resolve("members@acme.test", sender)).verdict is (
            RecipientVerdict.NOT_ALLOWED
        )
    assert (await d.resolve("staff@acme.test", "wang.wei@acme.test")).verdict is (
        RecipientVerdict.LOCAL
    )
    assert (await d.resolve("staff@acme.test", "x@other.test")).verdict is (
        RecipientVerdict.NOT_ALLOWED
    )
    assert (await d.resolve("public@acme.test", None)).verdict is RecipientVerdict.LOCAL


async def test_quota_is_counted_and_enforced_per_recipient(acme: Services, root: Actor) -> None:
    await acme.accounts.create(
        root, "tiny@acme.test", password=PW, skip_first_login=True, quota=1000
    )
    d = acme.delivery
    ok = await d.resolve("tiny@acme.test", None, declared_size=500)
    assert ok.verdict is RecipientVerdict.LOCAL
    await d.deliver("a@example.org", ok.account_ids, message(body="x" * 900))
    assert (await d.resolve("tiny@acme.test", None)).verdict is RecipientVerdict.OVER_QUOTA
    await acme.routes.add_alias(root, "both@acme.test", ["tiny@acme.test", "li.na@acme.test"])
    both = await d.resolve("both@acme.test", None)
    assert both.verdict is RecipientVerdict.LOCAL
    assert len(both.account_ids) == 1  # the full mailbox misses out, the other one receives


async def test_garbage_collector_removes_orphans_and_keeps_referenced_blobs(
    acme: Services, root: Actor, tmp_path: Path
) -> None:
    target = (await acme.delivery.resolve("li.na@acme.test", None)).account_ids
    await acme.delivery.deliver("a@example.org", target, message())
    store = acme.mailstore.blobs
    assert isinstance(store, FileBlobStore)
    orphan = await store.put(b"written, then the server crashed before the commit")
    old = 1_000_000_000
    for path in (tmp_path / "blobs").rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))
    report = await acme.mailstore.collect_garbage(root, grace_seconds=60)
    assert (report.unreferenced, report.orphans) == (0, 1)
    with pytest.raises(NotFound):
        await store.get(orphan)
    found, _ = await acme.mailstore.messages(root, "li.na@acme.test")
    assert (await store.get(found[0].blob_id)).endswith(message())
    fresh = await store.put(b"a delivery in progress")
    report = await acme.mailstore.collect_garbage(root, grace_seconds=60)
    assert report.orphans == 0 and await store.get(fresh)


def test_header_fields_decode_rfc2047_and_survive_garbage() -> None:
    raw = (
        b"Subject: =?UTF-8?B?56ys5LiJ5a2j5bqm5oql5ZGK?=\r\n"
        b"From: =?GB2312?B?1cXOsA==?= <z@a.test>\r\n"
        b"Date: not a date\r\n\r\nbody"
    )
    h = header_fields(raw)
    assert h.subject == "第三季度报告"
    assert h.from_.startswith("张伟")
    assert h.date is None
    assert header_fields(b"\xff\xfe garbage without headers").subject == ""


async def test_directory_changes_reach_the_delivery_cache_at_once(
    acme: Services, root: Actor
) -> None:
    d = acme.delivery
    assert (await d.resolve("wang.wei@acme.test", None)).verdict is RecipientVerdict.LOCAL
    assert (await d.resolve("later@acme.test", None)).verdict is RecipientVerdict.UNKNOWN
    hits = d.cache.hits
    assert (await d.resolve("wang.wei@acme.test", None)).verdict is RecipientVerdict.LOCAL
    assert d.cache.hits > hits  # the second lookup came from the cache
    await acme.accounts.change_state(root, "wang.wei@acme.test", AccountAction.DISABLE)
    assert (await d.resolve("wang.wei@acme.test", None)).verdict is RecipientVerdict.DISABLED
    await acme.routes.add_alias(root, "later@acme.test", ["li.na@acme.test"])
    assert (await d.resolve("later@acme.test", None)).verdict is RecipientVerdict.LOCAL


async def test_a_mailbox_filled_by_this_process_is_full_at_once(
    acme: Services, root: Actor
) -> None:
    await acme.accounts.create(
        root, "small@acme.test", password=PW, skip_first_login=True, quota=2000
    )
    d = acme.delivery
    first = await d.resolve("small@acme.test", None)
    assert first.verdict is RecipientVerdict.LOCAL  # usage now cached
    await d.deliver("a@example.org", first.account_ids, message(body="y" * 1990))
    assert (await d.resolve("small@acme.test", None)).verdict is RecipientVerdict.OVER_QUOTA
