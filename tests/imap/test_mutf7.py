"""Modified UTF-7 mailbox names (RFC 3501 section 5.1.3)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailgate.protocols.imap import mutf7

CASES = [
    ("INBOX", b"INBOX"),
    ("~peter/mail/台北/日本語", b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("台北", b"&U,BTFw-"),
    ("已发送", b"&XfJT0ZAB-"),
    ("草稿箱", b"&g0l6P3ux-"),
    ("草稿", b"&g0l6Pw-"),
    ("Tom & Jerry", b"Tom &- Jerry"),
    ("&", b"&-"),
    ("Entwürfe", b"Entw&APw-rfe"),
    ("😀", b"&2D3eAA-"),
    ("", b""),
]


@pytest.mark.parametrize(("name", "wire"), CASES)
def test_known_encodings(name: str, wire: bytes) -> None:
    assert mutf7.encode(name) == wire
    assert mutf7.decode(wire) == name


@pytest.mark.parametrize(
    "wire",
    [
        b"&U,BTFw",  # unterminated
        b"&Jjo!-",  # invalid base64
        b"&AGE-",  # printable ASCII must not be encoded
        b"&U,A-&U,A-",  # adjacent shifts are not canonical
        b"&U,BTF2-",  # non-zero padding bits
        b"caf\xc3\xa9",  # 8-bit
        b"a\x00b",  # control character
        b"&2D0-",  # lone surrogate
        b"&U/BTFw-",  # "/" instead of ","
    ],
)
def test_invalid_encodings_are_rejected(wire: bytes) -> None:
    with pytest.raises(mutf7.MUTF7Error):
        mutf7.decode(wire)


@given(st.text())
def test_round_trip(name: str) -> None:
    try:
        wire = mutf7.encode(name)
    except UnicodeEncodeError:  # lone surrogates cannot be names
        return
    assert wire.isascii()
    assert mutf7.decode(wire) == name


@given(st.binary(max_size=64))
def test_decode_never_raises_anything_else(data: bytes) -> None:
    with contextlib.suppress(mutf7.MUTF7Error):
        mutf7.decode(data)
