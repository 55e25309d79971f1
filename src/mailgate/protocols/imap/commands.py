"""Typed IMAP commands, one frozen dataclass per command (the parser's output).

Mailbox names are decoded ``str`` (modified UTF-7 or UTF-8 already undone, ``INBOX``
normalised); flags are ``str`` with system flags in canonical case (``\\Seen``); message
data stays ``bytes``.  ``uid`` on a command means it was sent as ``UID <command>``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .search import SearchKey
from .sequence import SequenceSet

__all__ = [
    "Append",
    "AppendMessage",
    "Authenticate",
    "Capability",
    "Check",
    "Close",
    "Command",
    "Compress",
    "Copy",
    "Create",
    "Delete",
    "Enable",
    "Examine",
    "Expunge",
    "Fetch",
    "FetchAttribute",
    "GetQuota",
    "GetQuotaRoot",
    "Id",
    "Idle",
    "List",
    "ListReturn",
    "Login",
    "Logout",
    "Lsub",
    "Move",
    "Namespace",
    "Noop",
    "QResync",
    "Rename",
    "Search",
    "Section",
    "Select",
    "Sort",
    "SortKey",
    "StartTLS",
    "Status",
    "Store",
    "Subscribe",
    "Unselect",
    "Unsubscribe",
]


@dataclass(frozen=True, slots=True)
class Command:
    tag: str


@dataclass(frozen=True, slots=True)
class Capability(Command): ...


@dataclass(frozen=True, slots=True)
class Noop(Command): ...


@dataclass(frozen=True, slots=True)
class Logout(Command): ...


@dataclass(frozen=True, slots=True)
class StartTLS(Command): ...


@dataclass(frozen=True, slots=True)
class Authenticate(Command):
    mechanism: str  # upper-case, e.g. "PLAIN"
    initial_response: bytes | None  # SASL-IR, base64-decoded; b"" for "="


@dataclass(frozen=True, slots=True)
class Login(Command):
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Enable(Command):
    capabilities: tuple[str, ...]  # upper-case


@dataclass(frozen=True, slots=True)
class Id(Command):
    parameters: tuple[tuple[str, str | None], ...] | None  # None for "ID NIL"


@dataclass(frozen=True, slots=True)
class QResync:
    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None  # (seq numbers, uids)


@dataclass(frozen=True, slots=True)
class Select(Command):
    mailbox: str
    condstore: bool = False
    qresync: QResync | None = None

    readonly = False


@dataclass(frozen=True, slots=True)
class Examine(Select):
    readonly = True


@dataclass(frozen=True, slots=True)
class Create(Command):
    mailbox: str
    special_use: tuple[str, ...] = ()  # e.g. ("\\Sent",)


@dataclass(frozen=True, slots=True)
class Delete(Command):
    mailbox: str


@dataclass(frozen=True, slots=True)
class Rename(Command):
    mailbox: str
    new_name: str


@dataclass(frozen=True, slots=True)
class Subscribe(Command):
    mailbox: str


@dataclass(frozen=True, slots=True)
class Unsubscribe(Command):
    mailbox: str


@dataclass(frozen=True, slots=True)
class ListReturn:
    subscribed: bool = False
    children: bool = False
    special_use: bool = False
    status: tuple[str, ...] | None = None  # LIST-STATUS items


@dataclass(frozen=True, slots=True)
class List(Command):
    reference: str
    patterns: tuple[str, ...]
    selection: frozenset[str] = frozenset()  # SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE
    returns: ListReturn = ListReturn()
    extended: bool = False  # selection options, several patterns or RETURN were used


@dataclass(frozen=True, slots=True)
class Lsub(Command):
    reference: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Namespace(Command): ...


@dataclass(frozen=True, slots=True)
class Status(Command):
    mailbox: str
    items: tuple[str, ...]  # upper-case: MESSAGES UIDNEXT ... HIGHESTMODSEQ


@dataclass(frozen=True, slots=True)
class AppendMessage:
    data: bytes
    flags: tuple[str, ...] = ()
    internal_date: dt.datetime | None = None
    binary: bool = False  # sent as literal8 (RFC 3516 APPEND of binary content)


@dataclass(frozen=True, slots=True)
class Append(Command):
    mailbox: str
    messages: tuple[AppendMessage, ...]  # more than one with MULTIAPPEND (RFC 3502)


@dataclass(frozen=True, slots=True)
class Idle(Command): ...


@dataclass(frozen=True, slots=True)
class Check(Command): ...


@dataclass(frozen=True, slots=True)
class Close(Command): ...


@dataclass(frozen=True, slots=True)
class Unselect(Command): ...


@dataclass(frozen=True, slots=True)
class Expunge(Command):
    uid_set: SequenceSet | None = None  # UID EXPUNGE (RFC 4315)


@dataclass(frozen=True, slots=True)
class Search(Command):
    criteria: SearchKey
    uid: bool = False
    charset: str | None = None
    returns: tuple[str, ...] | None = None  # ESEARCH RETURN options; () means ALL


@dataclass(frozen=True, slots=True)
class SortKey:
    key: str  # ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM DISPLAYTO
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class Sort(Command):
    keys: tuple[SortKey, ...]
    charset: str
    criteria: SearchKey
    uid: bool = False
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """``BODY[1.2.HEADER.FIELDS (From)]`` -> parts (1, 2), text "HEADER.FIELDS", headers."""

    parts: tuple[int, ...] = ()
    text: str | None = None  # HEADER HEADER.FIELDS HEADER.FIELDS.NOT TEXT MIME
    headers: tuple[str, ...] = ()  # upper-case field names

    def __bytes__(self) -> bytes:
        spec = ".".join(map(str, self.parts))
        if self.text:
            spec = f"{spec}.{self.text}" if spec else self.text
        if self.headers:
            spec += " (" + " ".join(self.headers) + ")"
        return spec.encode("ascii")


@dataclass(frozen=True, slots=True)
class FetchAttribute:
    """One fetch item.  ``name`` is upper-case without ``.PEEK``; ``peek`` records it."""

    name: str  # FLAGS UID ... BODY BINARY BINARY.SIZE RFC822 RFC822.HEADER ...
    section: Section | None = None  # for BODY[...] / BINARY[...] / BINARY.SIZE[...]
    partial: tuple[int, int] | None = None  # (origin, length)
    peek: bool = False

    def response_name(self) -> bytes:
        """The item name for the FETCH response (``BODY[TEXT]<0>``: PEEK dropped)."""
        if self.section is None:
            return self.name.encode("ascii")
        out = self.name.encode("ascii") + b"[" + bytes(self.section) + b"]"
        if self.partial is not None:
            out += b"<%d>" % self.partial[0]
        return out

    @property
    def sets_seen(self) -> bool:
        """Whether fetching this sets ``\\Seen`` (BODY[...], BINARY[...], RFC822, .TEXT)."""
        if self.peek:
            return False
        if self.name in ("BODY", "BINARY"):
            return self.section is not None
        return self.name in ("RFC822", "RFC822.TEXT")


@dataclass(frozen=True, slots=True)
class Fetch(Command):
    sequence_set: SequenceSet
    attributes: tuple[FetchAttribute, ...]
    uid: bool = False
    changed_since: int | None = None  # CONDSTORE
    vanished: bool = False  # QRESYNC, UID FETCH only


@dataclass(frozen=True, slots=True)
class Store(Command):
    sequence_set: SequenceSet
    mode: str  # "+" add, "-" remove, "" replace
    flags: tuple[str, ...]
    silent: bool = False
    uid: bool = False
    unchanged_since: int | None = None


@dataclass(frozen=True, slots=True)
class Copy(Command):
    sequence_set: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Move(Command):
    sequence_set: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True, slots=True)
class GetQuota(Command):
    root: str


@dataclass(frozen=True, slots=True)
class GetQuotaRoot(Command):
    mailbox: str


@dataclass(frozen=True, slots=True)
class Compress(Command):
    mechanism: str  # "DEFLATE"
