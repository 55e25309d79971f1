"""Inbound MX: local recipients only, per-recipient verdicts, sizes, headers, durability."""

from __future__ import annotations

import asyncio
import smtplib

from sqlalchemy import func, select
from tests.smtp.conftest import Raw, Smtp, in_thread, message

from mailgate.storage.database import Database
from mailgate.storage.tables import blobs, messages


def mx_send(
    port: int, mail_from: str, rcpts: list[str], data: bytes
) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        return client.sendmail(mail_from, rcpts, data)


async def test_ehlo_advertises_what_is_honoured_and_no_auth(smtp: Smtp) -> None:
    def ehlo() -> tuple[str, str, str]:
        raw = Raw(smtp.mx)
        try:
            return raw.greeting, raw.cmd("EHLO client.example.org"), raw.cmd("AUTH PLAIN")
        finally:
            raw.close()

    greeting, reply, auth = await in_thread(ehlo)
    assert greeting.startswith("220 localhost ")
    lines = reply.split("\n")
    assert lines[0] == "250-localhost"
    keywords = {line[4:] for line in lines[1:]}
    assert keywords == {
        "PIPELINING",
        "SIZE 200000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
    }
    assert auth.startswith("502 5.5.1")


async def test_local_delivery_adds_received_and_return_path(smtp: Smtp) -> None:
    refused = await in_thread(mx_send, smtp.mx, "boss@example.org", ["LI.NA@acme.test"], message())
    assert refused == {}
    [stored] = await smtp.inbox("li.na@acme.test")
    assert stored.startswith(b"Return-Path: <boss@example.org>\r\nReceived: from ")
    head = stored.split(b"\r\n\r\n", 1)[0].decode()
    assert "\r\nAuthentication-Results: localhost; spf=pass smtp.mailfrom=boss@example.org" in head
    assert "by localhost (Mailgate)" in head and "with ESMTP" in head
    assert "for <LI.NA@acme.test>" in head
    assert stored.endswith(message())  # the body byte for byte


async def test_relay_unknown_disabled_and_group_policy(smtp: Smtp) -> None:
    def conversation() -> list[str]:
        raw = Raw(smtp.mx)
        try:
            raw.cmd("EHLO client.example.org")
            out = [raw.cmd("MAIL FROM:<x@example.org>")]
            for rcpt in (
                "someone@elsewhere.example",
                "nobody@acme.test",
                "disabled@acme.test",
                "board@acme.test",
                "locked@acme.test",
            ):
                out.append(raw.cmd(f"RCPT TO:<{rcpt}>"))
            return out
        finally:
            raw.close()

    mail, relay, unknown, disabled, group, locked = await in_thread(conversation)
    assert mail.startswith("250 2.1.0")
    assert relay.startswith("554 5.7.1")
    assert unknown.startswith("550 5.1.1")
    assert disabled.startswith("550 5.2.1")
    assert group.startswith("550 5.7.1")
    assert locked.startswith("250 2.1.5")  # a locked account still receives


async def test_over_quota_recipient_is_deferred_and_the_others_delivered(smtp: Smtp) -> None:
    data = message(body="x" * 2000)
    refused = await in_thread(
        mx_send, smtp.mx, "a@example.org", ["li.na@acme.test", "small@acme.test"], data
    )
    assert refused["small@acme.test"][0] == 452
    assert refused["small@acme.test"][1].startswith(b"4.2.2")
    assert len(await smtp.inbox("li.na@acme.test")) == 1
    assert await smtp.inbox("small@acme.test") == []


async def test_alias_and_group_store_one_blob_in_several_mailboxes(
    smtp: Smtp, database: Database
) -> None:
    await in_thread(mx_send, smtp.mx, "a@example.org", ["team@acme.test"], message("alias"))
    await in_thread(mx_send, smtp.mx, "a@example.org", ["all@acme.test"], message("group"))
    assert len(await smtp.inbox("li.na@acme.test")) == 2
    assert len(await smtp.inbox("wang.wei@acme.test")) == 2
    assert len(await smtp.inbox("zhao.min@acme.test")) == 1
    async with database.reader.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(blobs)) == 2
        assert await conn.scalar(select(func.count()).select_from(messages)) == 5
        refcounts = sorted((await conn.execute(select(blobs.c.refcount))).scalars())
    assert refcounts == [2, 3]


async def test_oversized_message_refused_at_mail_size_and_at_data(smtp: Smtp) -> None:
    def conversation() -> tuple[str, str, str]:
        raw = Raw(smtp.mx)
        try:
            raw.cmd("EHLO c.example")
            at_mail = raw.cmd("MAIL FROM:<a@example.org> SIZE=200001")
            raw.cmd("MAIL FROM:<a@example.org>")
            raw.cmd("RCPT TO:<li.na@acme.test>")
            raw.cmd("DATA")
            line = b"y" * 998 + b"\r\n"
            raw.send(b"Subject: big\r\n\r\n" + line * 210 + b".\r\n")
            at_data = raw.reply()
            return at_mail, at_data, raw.cmd("NOOP")
        finally:
            raw.close()

    at_mail, at_data, noop = await in_thread(conversation)
    assert at_mail.startswith("552 5.3.4")
    assert at_data.startswith("552 5.3.4")
    assert noop.startswith("250 2.0.0")
    assert await smtp.inbox("li.na@acme.test") == []


async def test_recipient_limit_and_null_sender(smtp: Smtp) -> None:
    def conversation() -> list[str]:
        raw = Raw(smtp.mx)
        try:
            raw.cmd("EHLO c.example")
            out = [raw.cmd("MAIL FROM:<>")]
            out += [raw.cmd("RCPT TO:<li.na@acme.test>") for _ in range(9)]
            return out
        finally:
            raw.close()

    replies = await in_thread(conversation)
    assert replies[0].startswith("250")
    assert all(r.startswith("250") for r in replies[1:9])
    assert replies[9].startswith("452 4.5.3")


async def test_pipelined_commands_are_answered_in_order(smtp: Smtp) -> None:
    def conversation() -> list[str]:
        raw = Raw(smtp.mx)
        try:
            raw.cmd("EHLO c.example")
            raw.send(
                b"MAIL FROM:<a@example.org>\r\nRCPT TO:<li.na@acme.test>\r\n"
                b"RCPT TO:<nobody@acme.test>\r\nDATA\r\n"
            )
            out = [raw.reply() for _ in range(4)]
            raw.send(b"Subject: piped\r\n\r\nbody\r\n.\r\nQUIT\r\n")
            out += [raw.reply(), raw.reply()]
            return out
        finally:
            raw.close()

    replies = await in_thread(conversation)
    assert [r[:3] for r in replies] == ["250", "250", "550", "354", "250", "221"]
    assert len(await smtp.inbox("li.na@acme.test")) == 1


async def test_250_only_after_the_message_is_committed(smtp: Smtp) -> None:
    loop = asyncio.get_running_loop()

    def send_then_look() -> tuple[str, int]:
        raw = Raw(smtp.mx)
        try:
            raw.cmd("EHLO c.example")
            raw.cmd("MAIL FROM:<a@example.org>")
            raw.cmd("RCPT TO:<wang.wei@acme.test>")
            raw.cmd("DATA")
            raw.send(message("durable") + b".\r\n")
            reply = raw.reply()
            # Looked at the moment the 250 arrives, before anything else happens.
            found = asyncio.run_coroutine_threadsafe(smtp.inbox("wang.wei@acme.test"), loop)
            return reply, len(found.result(timeout=20))
        finally:
            raw.close()

    reply, count = await in_thread(send_then_look)
    assert reply.startswith("250 2.0.0") and count == 1


async def test_smtputf8_and_8bitmime_are_honoured(smtp: Smtp) -> None:
    data = "Subject: 季度报告\r\nFrom: 张伟@example.org\r\n\r\n你好，世界\r\n".encode()

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", smtp.mx, timeout=20) as client:
            return client.sendmail(
                "张伟@example.org", ["li.na@acme.test"], data, ["SMTPUTF8", "BODY=8BITMIME"]
            )

    assert await in_thread(send) == {}
    [stored] = await smtp.inbox("li.na@acme.test")
    assert stored.endswith(data)
    assert b"Return-Path: <\xe5\xbc\xa0\xe4\xbc\x9f@example.org>" in stored
    assert b"with UTF8SMTP" in stored


async def test_connections_per_ip_are_limited(smtp: Smtp) -> None:
    def open_many() -> tuple[str, str]:
        held = [Raw(smtp.mx) for _ in range(12)]
        try:
            extra = Raw(smtp.mx)
            extra.close()
            return held[-1].greeting, extra.greeting
        finally:
            for raw in held:
                raw.close()

    last_allowed, refused = await in_thread(open_many)
    assert last_allowed.startswith("220 ")
    assert refused.startswith("421 4.7.0")
