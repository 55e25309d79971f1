"""SEARCH criteria (RFC 9051 6.4.4, RFC 3501 6.4.4, RFC 7162 MODSEQ, RFC 5032 OLDER/YOUNGER).

The criteria become a small tree: leaves say what to test, :class:`SearchNot`,
:class:`SearchOr` and :class:`SearchAnd` combine them.  Nesting is limited to
:data:`MAX_DEPTH` so hostile input cannot exhaust the Python stack.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from .lexer import Cursor
from .sequence import SequenceSet, SequenceSetError

__all__ = [
    "CHARSETS",
    "MAX_DEPTH",
    "SearchAge",
    "SearchAll",
    "SearchAnd",
    "SearchDate",
    "SearchFlag",
    "SearchHeader",
    "SearchKey",
    "SearchModSeq",
    "SearchNot",
    "SearchOr",
    "SearchSet",
    "SearchSize",
    "SearchText",
    "parse_date",
    "parse_search",
]

MAX_DEPTH: Final = 40
CHARSETS: Final = ("UTF-8", "US-ASCII")
MONTHS: Final = {
    m: i for i, m in enumerate(b"JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)
}
_DATE: Final = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")


@dataclass(frozen=True, slots=True)
class SearchAll:
    pass


@dataclass(frozen=True, slots=True)
class SearchFlag:
    flag: str  # "\\Seen", "\\Recent", or a keyword
    present: bool = True


@dataclass(frozen=True, slots=True)
class SearchHeader:
    field: str  # upper-case: FROM TO CC BCC SUBJECT or any HEADER field
    value: str  # "" matches every message that has the field


@dataclass(frozen=True, slots=True)
class SearchText:
    where: str  # "BODY" or "TEXT" (headers and body)
    value: str


@dataclass(frozen=True, slots=True)
class SearchDate:
    field: str  # "INTERNAL" (BEFORE ON SINCE) or "SENT" (SENTBEFORE ...)
    op: str  # "BEFORE" "ON" "SINCE"
    date: dt.date


@dataclass(frozen=True, slots=True)
class SearchSize:
    op: str  # "LARGER" or "SMALLER"
    size: int


@dataclass(frozen=True, slots=True)
class SearchAge:
    op: str  # "OLDER" or "YOUNGER" (RFC 5032), in seconds
    seconds: int


@dataclass(frozen=True, slots=True)
class SearchSet:
    sequence_set: SequenceSet
    uid: bool = False


@dataclass(frozen=True, slots=True)
class SearchModSeq:
    modseq: int
    entry: tuple[str, str] | None = None  # (entry-name, "priv"/"shared"/"all")


@dataclass(frozen=True, slots=True)
class SearchNot:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class SearchOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class SearchAnd:
    keys: tuple[SearchKey, ...]


SearchKey = (
    SearchAll
    | SearchFlag
    | SearchHeader
    | SearchText
    | SearchDate
    | SearchSize
    | SearchAge
    | SearchSet
    | SearchModSeq
    | SearchNot
    | SearchOr
    | SearchAnd
)

_FLAG_KEYS: Final = {
    b"ANSWERED": ("\\Answered", True),
    b"DELETED": ("\\Deleted", True),
    b"DRAFT": ("\\Draft", True),
    b"FLAGGED": ("\\Flagged", True),
    b"SEEN": ("\\Seen", True),
    b"RECENT": ("\\Recent", True),
    b"OLD": ("\\Recent", False),
    b"UNANSWERED": ("\\Answered", False),
    b"UNDELETED": ("\\Deleted", False),
    b"UNDRAFT": ("\\Draft", False),
    b"UNFLAGGED": ("\\Flagged", False),
    b"UNSEEN": ("\\Seen", False),
}
_HEADER_KEYS: Final = frozenset((b"BCC", b"CC", b"FROM", b"SUBJECT", b"TO"))
_DATE_KEYS: Final = {
    b"BEFORE": ("INTERNAL", "BEFORE"),
    b"ON": ("INTERNAL", "ON"),
    b"SINCE": ("INTERNAL", "SINCE"),
    b"SENTBEFORE": ("SENT", "BEFORE"),
    b"SENTON": ("SENT", "ON"),
    b"SENTSINCE": ("SENT", "SINCE"),
}


def parse_date(cur: Cursor) -> dt.date:
    """``date-text`` or the same in double quotes, e.g. ``1-Feb-1994``."""
    quoted = cur.accept(b'"')
    m = _DATE.match(cur.line, cur.pos)
    if m is None:
        raise cur.error("Invalid date")
    month = MONTHS.get(m.group(2).upper())
    try:
        if month is None:
            raise ValueError
        value = dt.date(int(m.group(3)), month, int(m.group(1)))
    except ValueError:
        raise cur.error("Invalid date") from None
    cur.pos = m.end()
    if quoted:
        cur.expect(b'"')
    return value


def parse_search(cur: Cursor) -> SearchKey:
    """``search-key *(SP search-key)`` up to the end of the command."""
    keys = [_key(cur, 0)]
    while not cur.at_end():
        cur.sp()
        keys.append(_key(cur, 0))
    return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))


def _astr(cur: Cursor) -> str:
    return cur.text(cur.astring())


def _key(cur: Cursor, depth: int) -> SearchKey:
    if depth > MAX_DEPTH:
        raise cur.error("Search criteria nested too deeply")
    c = cur.peek()
    if c == 0x28:  # "("
        cur.pos += 1
        keys = [_key(cur, depth + 1)]
        while not cur.accept(b")"):
            cur.sp()
            keys.append(_key(cur, depth + 1))
        return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))
    if c >= 0 and c in b"0123456789*$":
        return SearchSet(_seqset(cur))
    name = cur.keyword()
    flag = _FLAG_KEYS.get(name)
    if flag is not None:
        return SearchFlag(*flag)
    if name == b"ALL":
        return SearchAll()
    if name == b"NEW":
        return SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False)))
    cur.sp()
    if name in _HEADER_KEYS:
        return SearchHeader(name.decode(), _astr(cur))
    date_key = _DATE_KEYS.get(name)
    if date_key is not None:
        return SearchDate(date_key[0], date_key[1], parse_date(cur))
    if name == b"NOT":
        return SearchNot(_key(cur, depth + 1))
    if name == b"OR":
        left = _key(cur, depth + 1)
        cur.sp()
        return SearchOr(left, _key(cur, depth + 1))
    if name in (b"BODY", b"TEXT"):
        return SearchText(name.decode(), _astr(cur))
    if name in (b"KEYWORD", b"UNKEYWORD"):
        return SearchFlag(cur.atom().decode("ascii"), name == b"KEYWORD")
    if name == b"HEADER":
        field = _astr(cur).upper()
        cur.sp()
        return SearchHeader(field, _astr(cur))
    if name in (b"LARGER", b"SMALLER"):
        return SearchSize(name.decode(), cur.number(bits=63))
    if name in (b"OLDER", b"YOUNGER"):
        return SearchAge(name.decode(), cur.number(nonzero=True))
    if name == b"UID":
        return SearchSet(_seqset(cur), uid=True)
    if name == b"MODSEQ":
        return _modseq(cur)
    raise cur.error("Unknown search key")


def _seqset(cur: Cursor) -> SequenceSet:
    try:
        return SequenceSet.parse(cur.sequence_text())
    except SequenceSetError as exc:
        raise cur.error(f"Invalid sequence set: {exc}") from None


def _modseq(cur: Cursor) -> SearchModSeq:
    entry = None
    if cur.peek() == 0x22:
        entry_name = cur.text(cur.quoted())
        cur.sp()
        entry_type = cur.keyword().decode().lower()
        if entry_type not in ("priv", "shared", "all"):
            raise cur.error("Invalid MODSEQ entry type")
        entry = (entry_name, entry_type)
        cur.sp()
    return SearchModSeq(cur.number(bits=63), entry)
