"""Mailbox-session types: what IMAP and POP3 servers get from the mail store, and give to it.

Pure values and rules, no I/O: UID sets, folder names, flag and keyword arithmetic (STORE),
snapshots for SELECT, change sets for CONDSTORE/QRESYNC, search criteria, notification kinds.
Protocol formatting (sequence numbers, modified UTF-7, response syntax) belongs to the servers.
"""

from __future__ import annotations

import bisect
import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from mailgate.domain.errors import InvalidInput
from mailgate.domain.mail import HIERARCHY_DELIMITER, HeaderFields, SpecialUse

INBOX = "INBOX"
MAX_FOLDER_NAME = 1000
MAX_KEYWORD = 100
MAX_KEYWORDS_PER_MESSAGE = 100
ALL_FLAGS = 0x1F  # Flag.SEEN | ANSWERED | FLAGGED | DELETED | DRAFT

# IMAP atom: no ( ) { SP CTL % * " \ ] (RFC 9051 atom-specials); a keyword is an atom.
_KEYWORD = re.compile(r'^[^\x00-\x20\x7f(){%*"\\\]]+$')


class ChangeKind(enum.StrEnum):
    """What happened to a mailbox; published after the change committed."""

    APPENDED = "appended"  # new messages (delivery, APPEND, COPY/MOVE into it)
    FLAGS = "flags"  # flags or keywords changed
    EXPUNGED = "expunged"  # messages removed (EXPUNGE, MOVE out, POP3 UPDATE)
    FOLDER = "folder"  # the folder was renamed or deleted (its UIDVALIDITY may have changed)


class StoreMode(enum.Enum):
    REPLACE = "replace"  # FLAGS
    ADD = "add"  # +FLAGS
    REMOVE = "remove"  # -FLAGS


@dataclass(frozen=True, slots=True)
class UidSet:
    """A set of UIDs as sorted, merged, inclusive ranges (`*` is resolved by the caller)."""

    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def from_ranges(cls, ranges: Iterable[tuple[int, int]]) -> UidSet:
        spans = sorted((min(a, b), max(a, b)) for a, b in ranges)
        merged: list[tuple[int, int]] = []
        for lo, hi in spans:
            if hi < 1:
                continue
            lo = max(lo, 1)
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return cls(tuple(merged))

    @classmethod
    def of(cls, uids: Iterable[int]) -> UidSet:
        return cls.from_ranges((u, u) for u in uids)

    @classmethod
    def span(cls, first: int, last: int) -> UidSet:
        return cls.from_ranges([(first, last)])

    def __contains__(self, uid: object) -> bool:
        if not isinstance(uid, int):
            return False
        i = bisect.bisect_right(self.ranges, (uid, 1 << 62)) - 1
        return i >= 0 and self.ranges[i][0] <= uid <= self.ranges[i][1]

    def __bool__(self) -> bool:
        return bool(self.ranges)


class MessageState(NamedTuple):
    """What SELECT, FETCH FLAGS and CONDSTORE need of one message."""

    uid: int
    modseq: int
    flags: int  # domain.mail.Flag bits
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """One folder for LIST (special-use, subscription) and STATUS (counts); sizes in bytes."""

    id: int
    name: str
    special_use: SpecialUse | None
    subscribed: bool
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: int
    unseen: int
    deleted: int
    size: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A selected mailbox: the messages in UID order (message sequence number = index + 1)."""

    mailbox_id: int
    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: list[MessageState]


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """FETCH metadata of one message; `mime` is the server's cached structure (JSON) or None."""

    id: int
    uid: int
    modseq: int
    flags: int
    keywords: tuple[str, ...]
    internal_date: datetime
    size: int
    blob_id: str
    mime: str | None
    headers: HeaderFields


@dataclass(frozen=True, slots=True)
class StoreResult:
    """`states`: the new state of each matched message that passed UNCHANGEDSINCE (changed or
    not, in UID order); `failed`: UIDs whose MODSEQ was above UNCHANGEDSINCE (MODIFIED)."""

    states: list[MessageState]
    failed: list[int]
    highestmodseq: int


@dataclass(frozen=True, slots=True)
class CopyResult:
    """COPYUID / MOVE: destination UIDVALIDITY and (source uid, destination uid) pairs."""

    uidvalidity: int
    pairs: list[tuple[int, int]]
    expunged: list[int] = field(default_factory=list)  # MOVE: source UIDs removed


@dataclass(frozen=True, slots=True)
class AppendResult:
    """APPENDUID: destination UIDVALIDITY and the new UIDs (one per appended message)."""

    mailbox_id: int
    uidvalidity: int
    uids: list[int]


@dataclass(frozen=True, slots=True)
class Changes:
    """CONDSTORE/QRESYNC: states changed after a MODSEQ and UIDs expunged after it."""

    uidvalidity: int
    highestmodseq: int
    changed: list[MessageState]
    vanished: list[int]


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """GETQUOTA numbers for the account's one quota root ("")."""

    storage_used_kib: int
    storage_limit_kib: int
    messages: int


@dataclass(frozen=True, slots=True)
class Pop3Listing:
    mailbox_id: int
    uidvalidity: int
    messages: list[tuple[int, int, str]]  # (uid, size, blob id) in UID order


@dataclass(frozen=True, slots=True)
class NewAppend:
    """One message of an APPEND / MULTIAPPEND."""

    data: bytes
    flags: int = 0
    keywords: tuple[str, ...] = ()
    internal_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class MessageText:
    """Decoded, case-folded text of a message for BODY/TEXT search."""

    head: str
    body: str


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    """A conjunction of cheap criteria; the server composes OR/NOT with set operations over
    the snapshot's UIDs. Substrings match case-insensitively; dates compare the UTC day."""

    uids: UidSet | None = None
    subject: tuple[str, ...] = ()
    from_: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    header: tuple[tuple[str, str], ...] = ()  # (field name, substring); "" matches presence
    since: date | None = None  # internal date
    before: date | None = None
    on: date | None = None
    sent_since: date | None = None  # Date: header
    sent_before: date | None = None
    sent_on: date | None = None
    larger: int | None = None
    smaller: int | None = None
    flags_set: int = 0  # every bit must be set
    flags_unset: int = 0  # every bit must be clear
    keywords_set: tuple[str, ...] = ()
    keywords_unset: tuple[str, ...] = ()
    modseq: int | None = None  # MODSEQ >= n
    body: tuple[str, ...] = ()
    text: tuple[str, ...] = ()  # header or body


def fold(text: str) -> str:
    """The form both stored text and search terms take: NFKC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def folder_name(name: str) -> str:
    """A valid folder name: INBOX in any case becomes INBOX; a trailing delimiter is dropped.

    Raises InvalidInput for empty names, empty levels, control characters or excess length.
    """
    name = unicodedata.normalize("NFC", name)
    if name.endswith(HIERARCHY_DELIMITER):
        name = name[: -len(HIERARCHY_DELIMITER)]
    levels = name.split(HIERARCHY_DELIMITER)
    if not name or any(not level for level in levels) or len(name) > MAX_FOLDER_NAME:
        raise InvalidInput("a folder name needs non-empty levels separated by '/'")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in name):
        raise InvalidInput("a folder name may not contain control characters")
    if levels[0].upper() == INBOX:
        levels[0] = INBOX
    return HIERARCHY_DELIMITER.join(levels)


def parents_of(name: str) -> list[str]:
    """'a/b/c' -> ['a', 'a/b']."""
    levels = name.split(HIERARCHY_DELIMITER)
    return [HIERARCHY_DELIMITER.join(levels[:i]) for i in range(1, len(levels))]


def keywords(values: Iterable[str]) -> tuple[str, ...]:
    """Validated keywords without case-insensitive duplicates (the first spelling wins)."""
    out: list[str] = []
    seen: set[str] = set()
    for kw in values:
        if not _KEYWORD.match(kw) or len(kw) > MAX_KEYWORD:
            raise InvalidInput(f"not a valid keyword: {kw[:40]!r}")
        key = kw.casefold()
        if key not in seen:
            seen.add(key)
            out.append(kw)
    return tuple(out)


def system_flags(bits: int) -> int:
    if bits & ~ALL_FLAGS or bits < 0:
        raise InvalidInput("unknown system flag bits")
    return bits


def apply_store(
    mode: StoreMode,
    flags: int,
    kws: Sequence[str],
    new_flags: int,
    new_kws: Sequence[str],
) -> tuple[int, tuple[str, ...]]:
    """The (flags, keywords) of a message after STORE; keywords compare case-insensitively."""
    if mode is StoreMode.REPLACE:
        return new_flags, tuple(new_kws)
    if mode is StoreMode.ADD:
        have = {k.casefold() for k in kws}
        added = [k for k in new_kws if k.casefold() not in have]
        if len(kws) + len(added) > MAX_KEYWORDS_PER_MESSAGE:
            raise InvalidInput("too many keywords on one message")
        return flags | new_flags, (*kws, *added)
    gone = {k.casefold() for k in new_kws}
    return flags & ~new_flags, tuple(k for k in kws if k.casefold() not in gone)
