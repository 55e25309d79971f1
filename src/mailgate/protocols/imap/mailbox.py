"""Mailbox names, flags and dates as they appear in commands."""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from . import mutf7
from .lexer import Cursor
from .search import MONTHS

__all__ = [
    "SYSTEM_FLAGS",
    "decode_mailbox",
    "normalize_inbox",
    "parse_date_time",
    "parse_flag",
    "parse_flag_list",
]

SYSTEM_FLAGS: Final = {
    f.lower(): f
    for f in (
        "\\Answered",
        "\\Flagged",
        "\\Deleted",
        "\\Seen",
        "\\Draft",
        "\\Recent",
        "\\All",
        "\\Archive",
        "\\Drafts",
        "\\Junk",
        "\\Sent",
        "\\Trash",
        "\\Important",
    )
}
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_DATE_TIME: Final = re.compile(
    rb'"( ?[0-9]|[0-9]{2})-([A-Za-z]{3})-([0-9]{4}) '
    rb'([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)


def normalize_inbox(name: str, delimiter: str = "/") -> str:
    """``inbox`` -> ``INBOX``, also as the first level of a hierarchy (``Inbox/Sub``)."""
    head = name[:5]
    if head != "INBOX" and head.upper() == "INBOX":
        rest = name[5:]
        if not rest or rest.startswith(delimiter):
            return "INBOX" + rest
    return name


def decode_mailbox(
    cur: Cursor, raw: bytes, *, utf8: bool, delimiter: str = "/", normalize: bool = True
) -> str:
    """Wire bytes to a name: UTF-8 after ``ENABLE UTF8=ACCEPT``, else modified UTF-7."""
    try:
        name = raw.decode("utf-8") if utf8 else mutf7.decode(raw)
    except (UnicodeDecodeError, mutf7.MUTF7Error) as exc:
        if not utf8 and not raw.isascii():
            raise cur.error("8-bit mailbox name: use modified UTF-7") from None
        raise cur.error(f"Invalid mailbox name: {exc}") from None
    if _CONTROL.search(name) is not None:
        raise cur.error("Control characters in mailbox name")
    return normalize_inbox(name, delimiter) if normalize else name


def parse_flag(cur: Cursor, *, allow_wildcard: bool = False) -> str:
    if cur.accept(b"\\"):
        if allow_wildcard and cur.accept(b"*"):
            return "\\*"
        name = "\\" + cur.atom().decode("ascii")
        return SYSTEM_FLAGS.get(name.lower(), name)
    return cur.atom().decode("ascii")


def parse_flag_list(cur: Cursor) -> tuple[str, ...]:
    """``"(" [flag *(SP flag)] ")"`` without duplicates, in order."""
    cur.expect(b"(")
    flags: list[str] = []
    if not cur.accept(b")"):
        flags.append(parse_flag(cur))
        while not cur.accept(b")"):
            cur.sp()
            flags.append(parse_flag(cur))
    return tuple(dict.fromkeys(flags))


def parse_date_time(cur: Cursor) -> dt.datetime:
    """``"17-Jul-1996 02:44:25 -0700"`` to an aware datetime."""
    m = _DATE_TIME.match(cur.line, cur.pos)
    if m is None:
        raise cur.error("Invalid date-time")
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    month = MONTHS.get(mon.upper())
    try:
        if month is None or int(zm) > 59:
            raise ValueError
        offset = dt.timedelta(hours=int(zh), minutes=int(zm))
        tz = dt.timezone(-offset if sign == b"-" else offset)
        value = dt.datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=tz)
    except ValueError:
        raise cur.error("Invalid date-time") from None
    cur.pos = m.end()
    return value
