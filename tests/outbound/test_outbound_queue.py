"""The outbound queue end to end on loopback: durable enqueue, STARTTLS + DKIM-signed delivery,
retry after 4xx, bounce (RFC 3464) on 5xx and when retries run out, never bouncing a bounce."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import timedelta

import dkim
from sqlalchemy import select
from tests.outbound.conftest import FakeClock, Sink, message

from mailgate.domain.access import Actor
from mailgate.domain.queue import RecipientState
from mailgate.services.container import Services
from mailgate.services.dkim import dkim_txt
from mailgate.services.relay import OutboundWorker
from mailgate.storage.database import Database
from mailgate.storage.tables import blobs, outbound_messages, outbound_recipients


async def _refcount(database: Database, blob_id: str) -> int:
    async with database.reader.connect() as conn:
        return int(await conn.scalar(select(blobs.c.refcount).where(blobs.c.id == blob_id)) or 0)


async def _inbox(services: Services, root: Actor) -> list[bytes]:
    found, _ = await services.mailstore.messages(root, "li.na@acme.test")
    return [await services.mailstore.read(m.blob_id) for m in found]


async def test_enqueue_is_durable_and_holds_a_blob_reference(
    acme: Services, root: Actor, database: Database, worker: OutboundWorker, sink: Sink
) -> None:
    await acme.outbound.enqueue(
        "li.na@acme.test", ["bob@remote.test", "bob@remote.test", "eve@remote.test"], message()
    )
    async with database.reader.connect() as conn:
        (item,) = (await conn.execute(select(outbound_messages))).mappings().all()
        rcpts = (await conn.execute(select(outbound_recipients))).mappings().all()
    assert item["mail_from"] == "li.na@acme.test" and not item["released"]
    assert sorted(r["address"] for r in rcpts) == ["bob@remote.test", "eve@remote.test"]
    assert {r["state"] for r in rcpts} == {"queued"}
    assert await acme.mailstore.read(item["blob_id"])  # the body is on disk
    assert await _refcount(database, item["blob_id"]) == 1
    # The garbage collector leaves a queued body alone, whatever its age.
    report = await acme.mailstore.collect_garbage(root, grace_seconds=-1)
    assert report.unreferenced == 0 and report.orphans == 0

    assert await worker.process_due() == 1
    assert len(sink.received) == 1 and sorted(sink.received[0].rcpt_tos) == [
        "bob@remote.test",
        "eve@remote.test",
    ]
    assert await _refcount(database, item["blob_id"]) == 0  # released once, not per recipient
    items, total = await acme.outbound.list(root)
    assert (items, total) == ([], 0)
    done, _ = await acme.outbound.list(root, include_done=True)
    assert done[0].state is RecipientState.DELIVERED
    assert await worker.process_due() == 0


async def test_delivery_uses_starttls_and_a_dkim_signature_that_verifies(
    acme: Services, root: Actor, worker: OutboundWorker, sink: Sink
) -> None:
    original = message()
    await acme.outbound.enqueue("li.na@acme.test", ["bob@remote.test"], original)
    await worker.process_due()
    (got,) = sink.received
    assert got.tls, "opportunistic STARTTLS was not used"
    assert got.mail_from == "li.na@acme.test"
    assert got.data.startswith(b"DKIM-Signature:")
    assert got.data.endswith(original)  # byte for byte behind the signature, dots unstuffed
    records = await acme.dkim.records(root, "acme.test", "mx.acme.test")
    published = {r.name: r.value for r in records}
    key_record = published["mg2026._domainkey.acme.test."]

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return key_record.encode() if name == b"mg2026._domainkey.acme.test." else None

    assert dkim.verify(got.data, dnsfunc=dns)
    tampered = got.data.replace(b"Hello Bob", b"Hello Eve")
    assert not dkim.verify(tampered, dnsfunc=dns)
    key = await acme.dkim.ensure_key(root, "acme.test")
    assert key_record == dkim_txt(key)


async def test_a_4xx_reply_is_retried_after_the_back_off(
    acme: Services, root: Actor, worker: OutboundWorker, sink: Sink, clock: FakeClock
) -> None:
    sink.data_replies.append("451 4.3.0 try again later")
    await acme.outbound.enqueue("li.na@acme.test", ["bob@remote.test"], message())
    assert await worker.process_due() == 1
    assert sink.received == []
    (item,) = (await acme.outbound.list(root))[0]
    (r,) = item.recipients
    assert (r.state, r.attempts, r.status) == (RecipientState.DEFERRED, 1, "4.3.0")
    assert r.next_attempt == clock.now() + timedelta(minutes=5)
    assert "451 4.3.0 try again later" in r.last_error

    clock.advance(timedelta(minutes=4))
    assert await worker.process_due() == 0  # not due yet
    clock.advance(timedelta(minutes=1))
    assert await worker.process_due() == 1
    assert len(sink.received) == 1
    done, _ = await acme.outbound.list(root, include_done=True)
    assert done[0].recipients[0].state is RecipientState.DELIVERED
    assert await _inbox(acme, root) == []  # no bounce


def _parse_dsn(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


async def test_a_5xx_reply_bounces_to_the_local_sender(
    acme: Services, root: Actor, database: Database, worker: OutboundWorker, sink: Sink
) -> None:
    sink.rcpt_replies.append("550 5.1.1 <nobody@remote.test>: no such user")
    await acme.outbound.enqueue(
        "li.na@acme.test", ["nobody@remote.test", "bob@remote.test"], message()
    )
    await worker.process_due()
    assert sink.received[0].rcpt_tos == ["bob@remote.test"]  # the good one still went
    (raw,) = await _inbox(acme, root)
    assert raw.startswith(b"Return-Path: <>\r\n")
    dsn = _parse_dsn(raw)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["Auto-Submitted"] == "auto-replied"
    parts = list(dsn.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert "nobody@remote.test" in parts[0].get_content()
    status = parts[1].get_payload()
    assert isinstance(status, list) and len(status) == 2
    assert status[0]["Reporting-MTA"] == "dns; mx.acme.test"
    assert status[1]["Final-Recipient"] == "rfc822; nobody@remote.test"
    assert status[1]["Action"] == "failed"
    assert status[1]["Status"] == "5.1.1"
    assert "550 5.1.1" in status[1]["Diagnostic-Code"]
    assert status[1]["Remote-MTA"] == "dns; 127.0.0.1"
    assert b"Subject: Quarterly report" in raw and b"Hello Bob" not in raw
    done, _ = await acme.outbound.list(root, include_done=True)
    states = {r.address: r.state for r in done[0].recipients}
    assert states == {
        "nobody@remote.test": RecipientState.BOUNCED,
        "bob@remote.test": RecipientState.DELIVERED,
    }
    assert await _refcount(database, done[0].blob_id) == 0


async def test_retries_run_out_after_the_maximum_age_and_bounce(
    acme: Services, root: Actor, worker: OutboundWorker, clock: FakeClock
) -> None:
    await acme.outbound.enqueue("li.na@acme.test", ["bob@dead.test"], message(to="bob@dead.test"))
    attempts = 0
    while await _inbox(acme, root) == []:
        clock.advance(timedelta(hours=4))
        attempts += await worker.process_due()
        assert attempts < 100
    # 5 days at back-off 5, 10, 20 ... 240 minutes: a few dozen attempts, then the bounce.
    assert 20 < attempts < 50
    done, _ = await acme.outbound.list(root, include_done=True)
    (r,) = done[0].recipients
    assert r.state is RecipientState.BOUNCED and r.status == "4.4.7"
    assert "cannot connect" in r.last_error
    (raw,) = await _inbox(acme, root)
    status = _parse_dsn(raw).get_payload()[1].get_payload()
    assert status[1]["Status"] == "4.4.7"


async def test_a_bounce_is_never_bounced(
    acme: Services, root: Actor, worker: OutboundWorker, sink: Sink
) -> None:
    sink.rcpt_replies.append("550 5.1.1 no such user")
    await acme.outbound.enqueue("", ["nobody@remote.test"], message())
    await worker.process_due()
    assert worker.bounces == 0
    done, _ = await acme.outbound.list(root, include_done=True)
    assert done[0].state is RecipientState.BOUNCED
    assert await _inbox(acme, root) == []


async def test_the_worker_runs_until_stopped(
    acme: Services, worker: OutboundWorker, sink: Sink
) -> None:
    task = asyncio.create_task(worker.run())
    await acme.outbound.enqueue("li.na@acme.test", ["bob@remote.test"], message())
    async with asyncio.timeout(10):
        await sink.arrived.wait()
    worker.stop()
    await task
    assert len(sink.received) == 1
