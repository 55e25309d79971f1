"""Response formatting helpers: values and lines in, wire bytes out (no I/O).

Strings choose their form: an atom when allowed, a quoted string when every byte may be
quoted, otherwise a literal (CR, LF, NUL, 8-bit without UTF-8 permission, or long text).
Status text is sanitised so no client-controlled byte can break a response line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Final

from . import mutf7
from .sequence import compress

__all__ = [
    "astring",
    "continuation",
    "date_time",
    "flag_list",
    "literal",
    "mailbox",
    "nstring",
    "paren_list",
    "quoted",
    "sequence_set",
    "status_line",
    "string",
    "tagged",
    "untagged",
]

_ATOM_SAFE: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\\]]+')
_QUOTABLE: Final = re.compile(rb"[^\x00\r\n\x80-\xff]*")
_QUOTABLE_UTF8: Final = re.compile(rb"[^\x00\r\n]*")
_UNSAFE_TEXT: Final = re.compile(r"[\x00-\x1f\x7f]+")
_MONTHS: Final = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]
MAX_QUOTED: Final = 1024
CRLF: Final = b"\r\n"


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def quoted(value: bytes | str) -> bytes:
    """``"..."`` with ``\\`` and ``"`` escaped; the caller ensures no CR/LF/NUL."""
    data = _bytes(value)
    if b"\\" in data or b'"' in data:
        data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + data + b'"'


def literal(value: bytes | str, *, binary: bool = False) -> bytes:
    """``{N}CRLF`` + data (``~{N}`` for literal8 in BINARY responses)."""
    data = _bytes(value)
    return (b"~{%d}\r\n" if binary else b"{%d}\r\n") % len(data) + data


def string(value: bytes | str, *, utf8: bool = False) -> bytes:
    """Quoted when possible, literal otherwise; ``utf8`` allows 8-bit UTF-8 in quotes."""
    data = _bytes(value)
    if (
        len(data) <= MAX_QUOTED
        and (_QUOTABLE_UTF8 if utf8 else _QUOTABLE).fullmatch(data) is not None
        and (not utf8 or data.isascii() or _valid_utf8(data))
    ):
        return quoted(data)
    return literal(data)


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def nstring(value: bytes | str | None, *, utf8: bool = False) -> bytes:
    return b"NIL" if value is None else string(value, utf8=utf8)


def astring(value: bytes | str, *, utf8: bool = False) -> bytes:
    """An atom when every byte is an ATOM-CHAR (and it is not ``NIL``), else :func:`string`."""
    data = _bytes(value)
    if _ATOM_SAFE.fullmatch(data) is not None and data.upper() != b"NIL":
        return data
    return string(data, utf8=utf8)


def mailbox(name: str, *, utf8: bool = False) -> bytes:
    """A mailbox name as sent to the client: modified UTF-7 unless UTF8=ACCEPT is enabled."""
    if name.upper() == "INBOX":
        return b"INBOX"
    return astring(name.encode("utf-8") if utf8 else mutf7.encode(name), utf8=utf8)


def flag_list(flags: Iterable[str]) -> bytes:
    """``(\\Seen $Label1)``."""
    return b"(" + " ".join(flags).encode("ascii") + b")"


def paren_list(items: Iterable[bytes]) -> bytes:
    return b"(" + b" ".join(items) + b")"


def sequence_set(values: Iterable[int]) -> bytes:
    """UIDs or numbers as the shortest set: ``[1, 2, 3, 7]`` -> ``1:3,7``."""
    return compress(values)


def date_time(value: dt.datetime) -> bytes:
    """``"17-Jul-1996 02:44:25 -0700"`` (INTERNALDATE); naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    offset = value.utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    text = (
        f'"{value.day:2d}-{_MONTHS[value.month - 1]}-{value.year:04d} '
        f'{value.hour:02d}:{value.minute:02d}:{value.second:02d} {sign}{hh:02d}{mm:02d}"'
    )
    return text.encode("ascii")


def _safe_text(text: str) -> bytes:
    cleaned = _UNSAFE_TEXT.sub(" ", text).strip() or "."
    if cleaned.startswith("["):
        cleaned = " " + cleaned  # keep text from looking like a response code
    return cleaned.encode("utf-8")


def _code(code: str | None) -> bytes:
    return b"" if not code else b"[" + _UNSAFE_TEXT.sub(" ", code).encode("utf-8") + b"] "


def tagged(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    """``a1 OK [READ-WRITE] SELECT completed`` + CRLF."""
    head = f"{tag} {status} ".encode("ascii")
    return head + _code(code) + _safe_text(text) + CRLF


def untagged(*parts: bytes | str) -> bytes:
    """``* `` + space-joined parts + CRLF, e.g. ``untagged(b"3", b"EXISTS")``."""
    return b"* " + b" ".join(_bytes(p) for p in parts) + CRLF


def status_line(status: str, text: str, code: str | None = None) -> bytes:
    """Untagged status: ``* OK [UIDVALIDITY 3857529045] UIDs valid``."""
    return b"* " + status.encode("ascii") + b" " + _code(code) + _safe_text(text) + CRLF


def continuation(text: str = "Ready") -> bytes:
    """``+ Ready`` + CRLF (also for literals and SASL challenges, pre-encoded by caller)."""
    return b"+ " + _safe_text(text) + CRLF
