"""SMTP smuggling: only <CRLF>.<CRLF> ends DATA, and a message with a bare LF or CR is refused
(docs/smtp.md), so no variant can slip a second message through. Raw sockets, byte-exact."""

from __future__ import annotations

import pytest
from tests.smtp.conftest import Raw, Smtp, in_thread

VARIANTS = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\n..\n"]
SMUGGLED = (
    b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<wang.wei@acme.test>\r\nDATA\r\n"
    b"From: ceo@acme.test\r\nSubject: smuggled\r\n\r\nsecond message\r\n"
)


def conversation(port: int, body: bytes) -> list[str]:
    raw = Raw(port)
    try:
        raw.cmd("EHLO attacker.example")
        out = [raw.cmd("MAIL FROM:<a@example.org>"), raw.cmd("RCPT TO:<li.na@acme.test>")]
        out.append(raw.cmd("DATA"))
        raw.send(body + b"\r\n.\r\n")
        out.append(raw.reply())
        # Nothing else is pending: the next reply answers our NOOP, not a smuggled command.
        out.append(raw.cmd("NOOP"))
        return out
    finally:
        raw.close()


@pytest.mark.parametrize("ending", VARIANTS, ids=repr)
async def test_no_variant_ends_data_or_delivers_a_second_message(smtp: Smtp, ending: bytes) -> None:
    body = b"Subject: first\r\n\r\nfirst message" + ending + SMUGGLED
    mail, rcpt, data, end, noop = await in_thread(conversation, smtp.mx, body)
    assert (mail[:3], rcpt[:3], data[:3]) == ("250", "250", "354")
    assert end.startswith("550 5.6.0") and "bare LF or CR" in end
    assert noop == "250 2.0.0 OK"
    assert await smtp.inbox("li.na@acme.test") == []
    assert await smtp.inbox("wang.wei@acme.test") == []


async def test_a_clean_message_keeps_its_bytes_and_is_dot_unstuffed(smtp: Smtp) -> None:
    body = b"Subject: dots\r\n\r\n..leading dot"
    *_, end, noop = await in_thread(conversation, smtp.mx, body)
    assert end.startswith("250 2.0.0") and noop.startswith("250")
    [stored] = await smtp.inbox("li.na@acme.test")
    assert stored.endswith(b"Subject: dots\r\n\r\n.leading dot\r\n")


async def test_a_real_end_of_data_followed_by_commands_is_two_transactions(smtp: Smtp) -> None:
    """The control case: with a proper <CRLF>.<CRLF> the rest is read as commands (pipelining),
    which is why the variants above must not be taken for one."""

    def pipelined() -> list[str]:
        raw = Raw(smtp.mx)
        try:
            raw.cmd("EHLO c.example")
            raw.cmd("MAIL FROM:<a@example.org>")
            raw.cmd("RCPT TO:<li.na@acme.test>")
            raw.cmd("DATA")
            raw.send(b"Subject: one\r\n\r\nfirst\r\n.\r\n" + SMUGGLED + b".\r\n")
            return [raw.reply() for _ in range(5)]
        finally:
            raw.close()

    replies = await in_thread(pipelined)
    assert [r[:3] for r in replies] == ["250", "250", "250", "354", "250"]
    assert len(await smtp.inbox("li.na@acme.test")) == 1
    assert len(await smtp.inbox("wang.wei@acme.test")) == 1
