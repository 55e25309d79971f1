"""The pure parts, byte by byte: command parsing, SASL responses, stuffing and TOP."""

from __future__ import annotations

import pytest

from mailgate.protocols.pop3 import wire
from mailgate.protocols.pop3.parser import (
    Auth,
    Dele,
    Listing,
    ParseError,
    Pass,
    Retr,
    SaslCancel,
    Simple,
    Top,
    User,
    Verb,
    decode_plain,
    parse_command,
    parse_sasl_response,
)


@pytest.mark.parametrize(
    ("line", "command"),
    [
        (b"STAT\r\n", Simple(Verb.STAT)),
        (b"capa\r\n", Simple(Verb.CAPA)),
        (b"Quit\n", Simple(Verb.QUIT)),
        (b"USER li.na@acme.test\r\n", User("li.na@acme.test")),
        (b"PASS with two  spaces \r\n", Pass("with two  spaces ")),
        (b"PASS \xe5\xaf\x86\xe7\xa0\x81\r\n", Pass("密码")),
        (b"LIST\r\n", Listing(False, None)),
        (b"LIST 7\r\n", Listing(False, 7)),
        (b"UIDL 12\r\n", Listing(True, 12)),
        (b"RETR 1\r\n", Retr(1)),
        (b"DELE 3\r\n", Dele(3)),
        (b"TOP 2 0\r\n", Top(2, 0)),
        (b"AUTH\r\n", Auth(None)),
        (b"AUTH plain\r\n", Auth("PLAIN")),
        (b"AUTH PLAIN =\r\n", Auth("PLAIN", b"")),
        (b"AUTH PLAIN AGEAYg==\r\n", Auth("PLAIN", b"\x00a\x00b")),
    ],
)
def test_commands(line: bytes, command: object) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(
    "line",
    [
        b"\r\n",
        b"STAT 1\r\n",
        b"LIST 0\r\n",
        b"LIST -1\r\n",
        b"LIST 1234567890\r\n",
        b"RETR\r\n",
        b"RETR 1 2\r\n",
        b"RETR \xd9\xa3\r\n",  # an Arabic-Indic digit is not a message number
        b"TOP 1\r\n",
        b"USER\r\n",
        b"USER a b\r\n",
        b"PASS\r\n",
        b"LIST  1\r\n",
        b"STAT\x00\r\n",
        b"\xff\xfe\r\n",
        b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
        b"XTND XMIT\r\n",
        b"AUTH PLAIN !!!\r\n",
        b"AUTH PLAIN a b\r\n",
    ],
)
def test_errors(line: bytes) -> None:
    assert isinstance(parse_command(line), ParseError)


def test_sasl_responses_and_plain() -> None:
    assert parse_sasl_response(b"*\r\n") == SaslCancel()
    assert parse_sasl_response(b"AGEAYg==\r\n") == b"\x00a\x00b"
    assert parse_sasl_response(b"\r\n") == b""
    assert isinstance(parse_sasl_response(b"\xff\r\n"), ParseError)
    assert decode_plain(b"\x00li.na@acme.test\x00pw") == ("li.na@acme.test", "pw")
    assert decode_plain(b"li.na@acme.test\x00li.na@acme.test\x00pw") == ("li.na@acme.test", "pw")
    assert decode_plain(b"boss@acme.test\x00li.na@acme.test\x00pw") is None
    assert decode_plain(b"\x00\x00pw") is None
    assert decode_plain(b"\x00a\x00") is None
    assert decode_plain(b"a\x00b") is None
    assert decode_plain(b"\x00\xff\x00pw") is None


def test_stuffing_keeps_every_byte_but_the_added_dots() -> None:
    assert wire.stuff(b".a\r\nb\r\n.\r\n..c\r\n") == b"..a\r\nb\r\n..\r\n...c\r\n"
    assert wire.stuff(b"no final newline") == b"no final newline\r\n"
    assert wire.stuff(b"\xe4\xb8\xad\r\n") == b"\xe4\xb8\xad\r\n"
    assert wire.message(b"+OK\r\n", b"x\r\n") == b"+OK\r\nx\r\n.\r\n"
    assert wire.multiline(b"+OK\r\n", ["1 2", ".x"]) == b"+OK\r\n1 2\r\n..x\r\n.\r\n"


def test_top() -> None:
    msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
    assert wire.top(msg, 0) == b"A: 1\r\nB: 2\r\n\r\n"
    assert wire.top(msg, 2) == b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"
    assert wire.top(msg, 99) == msg
    assert wire.top(b"A: 1\r\n", 5) == b"A: 1\r\n"
    assert wire.top(b"A: 1\n\nx\ny\n", 1) == b"A: 1\n\nx\n"
    assert wire.top(b"A: 1\r\n\r\nno newline", 1) == b"A: 1\r\n\r\nno newline"


def test_replies() -> None:
    assert wire.ok("fine") == b"+OK fine\r\n"
    assert wire.err("no", wire.Code.SYS_PERM) == b"-ERR [SYS/PERM] no\r\n"
    assert wire.err("no") == b"-ERR no\r\n"
