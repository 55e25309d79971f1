"""Mailbox commands (SELECT/EXAMINE, CREATE, RENAME, LIST, LSUB, STATUS, APPEND) and the
parsing helpers they share with :mod:`.parser`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from . import commands as c
from .lexer import Cursor
from .mailbox import decode_mailbox, parse_date_time, parse_flag_list
from .sequence import SequenceSet, SequenceSetError

__all__ = [
    "LIST_SELECT",
    "STATUS_ITEMS",
    "ParserOptions",
    "append",
    "create",
    "keywords",
    "list_",
    "lsub",
    "mailbox_name",
    "pattern",
    "rename",
    "select",
    "sequence_set",
    "status",
    "texts",
]

STATUS_ITEMS: Final = frozenset(
    b"MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT"
    b" MAILBOXID".split()
)
LIST_SELECT: Final = frozenset(b"SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE".split())


@dataclass(frozen=True, slots=True)
class ParserOptions:
    """Per-session parsing switches."""

    utf8_accept: bool = False  # after ENABLE UTF8=ACCEPT: names are UTF-8, not mUTF-7
    delimiter: str = "/"  # hierarchy delimiter, for INBOX normalisation


def mailbox_name(cur: Cursor, opts: ParserOptions) -> str:
    return decode_mailbox(cur, cur.astring(), utf8=opts.utf8_accept, delimiter=opts.delimiter)


def pattern(cur: Cursor, opts: ParserOptions) -> str:
    raw = cur.list_mailbox()
    return decode_mailbox(cur, raw, utf8=opts.utf8_accept, delimiter=opts.delimiter)


def sequence_set(cur: Cursor) -> SequenceSet:
    try:
        return SequenceSet.parse(cur.sequence_text())
    except SequenceSetError as exc:
        raise cur.error(f"Invalid sequence set: {exc}") from None


def keywords(cur: Cursor, allowed: frozenset[bytes] | None, what: str) -> list[bytes]:
    """``"(" [word *(SP word)] ")"`` of upper-cased atoms."""
    cur.expect(b"(")
    words: list[bytes] = []
    while not cur.accept(b")"):
        if words:
            cur.sp()
        word = cur.keyword()
        if allowed is not None and word not in allowed:
            raise cur.error(f"Unknown {what}")
        words.append(word)
    return words


def texts(words: list[bytes]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w.decode("ascii") for w in words))


def select(cur: Cursor, opts: ParserOptions, uid: bool, cls: type[c.Select]) -> c.Command:
    cur.sp()
    mailbox = mailbox_name(cur, opts)
    condstore = False
    qresync = None
    if cur.accept(b" "):
        cur.expect(b"(")
        while not cur.accept(b")"):
            if condstore or qresync:
                cur.sp()
            word = cur.keyword()
            if word == b"CONDSTORE":
                condstore = True
            elif word == b"QRESYNC" and qresync is None:
                cur.sp()
                qresync = _qresync(cur)
            else:
                raise cur.error("Unknown SELECT parameter")
    return cls(cur.tag, mailbox, condstore, qresync)


def _qresync(cur: Cursor) -> c.QResync:
    cur.expect(b"(")
    uidvalidity = cur.number(nonzero=True)
    cur.sp()
    modseq = cur.number(bits=63)
    known = None
    match = None
    if cur.accept(b" ") and cur.peek() != 0x28:
        known = sequence_set(cur)
        if known.saved:
            raise cur.error("Invalid known-uids")
        cur.accept(b" ")
    if cur.accept(b"("):
        seqs = sequence_set(cur)
        cur.sp()
        match = (seqs, sequence_set(cur))
        cur.expect(b")")
    cur.expect(b")")
    return c.QResync(uidvalidity, modseq, known, match)


def create(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    mailbox = mailbox_name(cur, opts)
    uses: tuple[str, ...] = ()
    if cur.accept(b" "):
        cur.expect(b"(")
        if cur.keyword() != b"USE":
            raise cur.error("Unknown CREATE parameter")
        cur.sp()
        uses = parse_flag_list(cur)
        if any(not u.startswith("\\") for u in uses):
            raise cur.error("Invalid special-use attribute")
        cur.expect(b")")
    return c.Create(cur.tag, mailbox, uses)


def rename(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    old = mailbox_name(cur, opts)
    cur.sp()
    return c.Rename(cur.tag, old, mailbox_name(cur, opts))


def list_(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    selection: frozenset[str] = frozenset()
    extended = False
    if cur.peek() == 0x28:
        extended = True
        selection = frozenset(texts(keywords(cur, LIST_SELECT, "LIST selection option")))
        if selection == {"RECURSIVEMATCH"}:
            raise cur.error("RECURSIVEMATCH needs another selection option")
        cur.sp()
    reference = decode_mailbox(cur, cur.astring(), utf8=opts.utf8_accept, normalize=False)
    cur.sp()
    if cur.accept(b"("):
        extended = True
        patterns = [pattern(cur, opts)]
        while not cur.accept(b")"):
            cur.sp()
            patterns.append(pattern(cur, opts))
    else:
        patterns = [pattern(cur, opts)]
    returns = c.ListReturn()
    if cur.accept(b" "):
        extended = True
        if cur.keyword() != b"RETURN":
            raise cur.error("Expected RETURN")
        cur.sp()
        returns = _list_return(cur)
    if "SUBSCRIBED" in selection and not returns.subscribed:
        returns = c.ListReturn(True, returns.children, returns.special_use, returns.status)
    return c.List(cur.tag, reference, tuple(patterns), selection, returns, extended)


def _list_return(cur: Cursor) -> c.ListReturn:
    cur.expect(b"(")
    seen: set[bytes] = set()
    status = None
    while not cur.accept(b")"):
        if seen:
            cur.sp()
        word = cur.keyword()
        if word == b"STATUS":
            cur.sp()
            status = texts(keywords(cur, STATUS_ITEMS, "STATUS item"))
        elif word not in (b"SUBSCRIBED", b"CHILDREN", b"SPECIAL-USE"):
            raise cur.error("Unknown LIST return option")
        seen.add(word)
    return c.ListReturn(b"SUBSCRIBED" in seen, b"CHILDREN" in seen, b"SPECIAL-USE" in seen, status)


def lsub(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    reference = decode_mailbox(cur, cur.astring(), utf8=opts.utf8_accept, normalize=False)
    cur.sp()
    return c.Lsub(cur.tag, reference, pattern(cur, opts))


def status(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    mailbox = mailbox_name(cur, opts)
    cur.sp()
    items = keywords(cur, STATUS_ITEMS, "STATUS item")
    if not items:
        raise cur.error("STATUS needs at least one item")
    return c.Status(cur.tag, mailbox, texts(items))


def append(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    mailbox = mailbox_name(cur, opts)
    messages: list[c.AppendMessage] = []
    while not messages or not cur.at_end():
        cur.sp()
        flags: tuple[str, ...] = ()
        date = None
        if cur.peek() == 0x28:
            flags = parse_flag_list(cur)
            cur.sp()
        if cur.peek() == 0x22:
            date = parse_date_time(cur)
            cur.sp()
        if cur.peek_upper(b"UTF8"):  # RFC 6855: UTF8 (literal8)
            cur.pos += 4
            cur.sp()
            cur.expect(b"(")
            data, binary = cur.literal(allow_binary=True)
            cur.expect(b")")
        else:
            data, binary = cur.literal(allow_binary=True)
        messages.append(c.AppendMessage(data, flags, date, binary))
    return c.Append(cur.tag, mailbox, tuple(messages))
