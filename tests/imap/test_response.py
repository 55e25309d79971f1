"""Response formatting helpers."""

from __future__ import annotations

import datetime as dt

import pytest

from mailgate.protocols.imap import response as r


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"hello", b'"hello"'),
        (b'say "hi" \\o/', b'"say \\"hi\\" \\\\o/"'),
        (b"two\r\nlines", b"{10}\r\ntwo\r\nlines"),
        (b"nul\x00", b"{4}\r\nnul\x00"),
        ("已发送".encode(), b"{9}\r\n" + "已发送".encode()),
        (b"", b'""'),
    ],
)
def test_string_chooses_quoted_or_literal(value: bytes, expected: bytes) -> None:
    assert r.string(value) == expected


def test_utf8_strings_may_be_quoted_when_enabled() -> None:
    assert r.string("已发送", utf8=True) == '"已发送"'.encode()
    assert r.string(b"\xff\xfe", utf8=True) == b"{2}\r\n\xff\xfe"
    assert r.string(b"x" * 2000).startswith(b"{2000}\r\n")


def test_astring_nstring_literal8() -> None:
    assert r.astring("INBOX") == b"INBOX"
    assert r.astring("NIL") == b'"NIL"'
    assert r.astring("a b") == b'"a b"'
    assert r.astring("x]") == b'"x]"'
    assert r.nstring(None) == b"NIL"
    assert r.literal(b"\x00\x01", binary=True) == b"~{2}\r\n\x00\x01"


def test_mailbox_encoding() -> None:
    assert r.mailbox("INBOX") == b"INBOX"
    assert r.mailbox("~peter/mail/台北/日本語") == b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert r.mailbox("已发送") == b"&XfJT0ZAB-"
    assert r.mailbox("Sent Items") == b'"Sent Items"'
    assert r.mailbox("已发送", utf8=True) == '"已发送"'.encode()


def test_lists_sets_dates() -> None:
    assert r.flag_list(["\\Seen", "$Label1"]) == b"(\\Seen $Label1)"
    assert r.flag_list([]) == b"()"
    assert r.paren_list([b"1", b"2"]) == b"(1 2)"
    assert r.sequence_set([1, 2, 3, 5, 7, 8]) == b"1:3,5,7:8"
    tz = dt.timezone(-dt.timedelta(hours=7))
    when = dt.datetime(1996, 7, 17, 2, 44, 25, tzinfo=tz)
    assert r.date_time(when) == b'"17-Jul-1996 02:44:25 -0700"'
    assert r.date_time(dt.datetime(2024, 2, 5, 1, 2, 3)) == b'" 5-Feb-2024 01:02:03 +0000"'


def test_status_lines() -> None:
    assert r.tagged("a1", "OK", "SELECT completed", "READ-WRITE") == (
        b"a1 OK [READ-WRITE] SELECT completed\r\n"
    )
    assert r.tagged("a2", "NO", "bad\r\n* injected") == b"a2 NO bad * injected\r\n"
    # client-controlled text must not look like a response code
    assert r.tagged("a3", "BAD", "[ALERT] text") == b"a3 BAD  [ALERT] text\r\n"
    assert r.untagged(b"3", b"EXISTS") == b"* 3 EXISTS\r\n"
    assert r.status_line("OK", "UIDs valid", "UIDVALIDITY 3857529045") == (
        b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
    )
    assert r.continuation() == b"+ Ready\r\n"
    assert r.continuation("") == b"+ .\r\n"
