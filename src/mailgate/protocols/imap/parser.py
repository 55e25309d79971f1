"""Command parser: :class:`~.framing.CommandFrame` in, typed :mod:`.commands` object out.

``parse_command`` raises :class:`~.lexer.ParseError` (never anything else) whose ``tag`` is
the client's tag, or ``"*"`` when none could be read.  Only syntax is checked here; whether
a command is allowed in the current state is the session's decision.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from typing import Final

from . import commands as c
from . import mailboxcmds as mb
from .fetch import parse_fetch_attributes, parse_fetch_modifiers
from .framing import CommandFrame
from .lexer import Cursor, ParseError
from .mailbox import parse_flag, parse_flag_list
from .mailboxcmds import ParserOptions, keywords, mailbox_name, sequence_set, texts
from .search import CHARSETS, SearchKey, parse_search

__all__ = ["ParserOptions", "is_done", "parse", "parse_command", "parse_sasl_response"]

_TAG: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\+]{1,64}(?= |$)')
_SEARCH_RETURN: Final = frozenset(b"MIN MAX ALL COUNT SAVE".split())
_SORT_KEYS: Final = frozenset(b"ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM DISPLAYTO".split())
_BADCHARSET: Final = "BADCHARSET (" + " ".join(CHARSETS) + ")"


_DEFAULT: Final = ParserOptions()


def parse_command(frame: CommandFrame, options: ParserOptions = _DEFAULT) -> c.Command:
    """Parse one command; raise :class:`ParseError` for anything invalid."""
    line = frame.lines[0]
    m = _TAG.match(line)
    if m is None:
        raise ParseError("*", "Empty command" if not line.strip() else "Missing or invalid tag")
    cur = Cursor(frame, m.group().decode("ascii"))
    cur.pos = m.end()
    try:
        cur.sp()
        name = cur.keyword()
        uid = False
        if name == b"UID":
            cur.sp()
            name = cur.keyword()
            if name not in _UID_COMMANDS:
                raise cur.error("Unknown UID command")
            uid = True
        handler = _HANDLERS.get(name)
        if handler is None:
            raise cur.error("Unknown command")
        command = handler(cur, options, uid)
        cur.end()
        return command
    except (ValueError, IndexError, RecursionError):  # defensive: never leak other errors
        raise cur.error("Invalid command") from None


def parse(frame: CommandFrame, options: ParserOptions = _DEFAULT) -> c.Command | ParseError:
    """Like :func:`parse_command` but returns the error instead of raising it."""
    try:
        return parse_command(frame, options)
    except ParseError as exc:
        return exc


def is_done(frame: CommandFrame) -> bool:
    """Whether a frame is the ``DONE`` that ends IDLE (RFC 2177)."""
    return not frame.literals and frame.lines[0].upper() == b"DONE"


def parse_sasl_response(frame: CommandFrame) -> bytes | None:
    """A client's AUTHENTICATE continuation line: decoded bytes, or None for ``*`` (cancel)."""
    line = frame.line.strip()
    if line == b"*":
        return None
    try:
        return binascii.a2b_base64(line, strict_mode=True)
    except binascii.Error:
        raise ParseError("*", "Invalid base64 in SASL response") from None


# -- helpers ------------------------------------------------------------------------------
# -- commands -----------------------------------------------------------------------------
Handler = Callable[[Cursor, ParserOptions, bool], c.Command]


def _no_args(cls: type[c.Command]) -> Handler:
    return lambda cur, opts, uid: cls(cur.tag)


def _authenticate(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    mechanism = cur.keyword().decode("ascii")
    initial = None
    if cur.accept(b" "):
        raw = cur.rest()
        try:
            initial = b"" if raw == b"=" else binascii.a2b_base64(raw, strict_mode=True)
        except binascii.Error:
            raise cur.error("Invalid base64 in initial response") from None
    return c.Authenticate(cur.tag, mechanism, initial)


def _login(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    user = cur.text(cur.astring())
    cur.sp()
    return c.Login(cur.tag, user, cur.text(cur.astring()))


def _enable(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    caps: list[bytes] = []
    while not caps or not cur.at_end():
        cur.sp()
        caps.append(cur.keyword())
    return c.Enable(cur.tag, texts(caps))


def _id(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    if cur.peek_upper(b"NIL"):
        cur.pos += 3
        return c.Id(cur.tag, None)
    cur.expect(b"(")
    params: list[tuple[str, str | None]] = []
    while not cur.accept(b")"):
        if params:
            cur.sp()
        key = cur.text(cur.string())
        cur.sp()
        value = cur.nstring()
        if len(key) > 30 or (value is not None and len(value) > 1024) or len(params) >= 30:
            raise cur.error("ID parameters too long or too many")
        params.append((key, None if value is None else cur.text(value)))
    return c.Id(cur.tag, tuple(params))


def _one_mailbox(cls: Callable[[str, str], c.Command]) -> Handler:
    def handler(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
        cur.sp()
        return cls(cur.tag, mailbox_name(cur, opts))

    return handler


def _expunge(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    if not uid:
        return c.Expunge(cur.tag)
    cur.sp()
    return c.Expunge(cur.tag, sequence_set(cur))


def _search_prefix(cur: Cursor) -> tuple[tuple[str, ...] | None, str | None]:
    returns = None
    charset = None
    cur.sp()
    if cur.peek_upper(b"RETURN"):
        cur.pos += 6
        cur.sp()
        words = keywords(cur, _SEARCH_RETURN, "SEARCH return option")
        returns = texts(words)
        cur.sp()
    if cur.peek_upper(b"CHARSET"):
        cur.pos += 7
        cur.sp()
        charset = _charset(cur)
        cur.sp()
    return returns, charset


def _charset(cur: Cursor) -> str:
    name = cur.astring().decode("ascii", "replace").upper()
    if name not in CHARSETS:
        raise cur.error("Unsupported charset", status="NO", code=_BADCHARSET)
    return name


def _criteria(cur: Cursor) -> SearchKey:
    if cur.at_end():
        raise cur.error("Missing search criteria")
    return parse_search(cur)


def _search(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    returns, charset = _search_prefix(cur)
    return c.Search(cur.tag, _criteria(cur), uid, charset, returns)


def _sort(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    returns, _ = _search_prefix(cur)
    words = keywords(cur, _SORT_KEYS | {b"REVERSE"}, "sort criterion")
    keys: list[c.SortKey] = []
    reverse = False
    for word in words:
        if word == b"REVERSE":
            if reverse:
                raise cur.error("Invalid sort criteria")
            reverse = True
        else:
            keys.append(c.SortKey(word.decode("ascii"), reverse))
            reverse = False
    if reverse or not keys:
        raise cur.error("Invalid sort criteria")
    cur.sp()
    charset = _charset(cur)
    cur.sp()
    return c.Sort(cur.tag, tuple(keys), charset, _criteria(cur), uid, returns)


def _fetch(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    seqset = sequence_set(cur)
    cur.sp()
    attributes = parse_fetch_attributes(cur)
    changed_since, vanished = None, False
    if cur.accept(b" "):
        changed_since, vanished = parse_fetch_modifiers(cur, uid)
    return c.Fetch(cur.tag, seqset, attributes, uid, changed_since, vanished)


def _store(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    seqset = sequence_set(cur)
    cur.sp()
    unchanged_since = None
    if cur.accept(b"("):
        if cur.keyword() != b"UNCHANGEDSINCE":
            raise cur.error("Unknown STORE modifier")
        cur.sp()
        unchanged_since = cur.number(bits=63)
        cur.expect(b")")
        cur.sp()
    mode = "+" if cur.accept(b"+") else "-" if cur.accept(b"-") else ""
    item = cur.keyword()
    if item not in (b"FLAGS", b"FLAGS.SILENT"):
        raise cur.error("Expected FLAGS or FLAGS.SILENT")
    cur.sp()
    if cur.peek() == 0x28:
        flags = parse_flag_list(cur)
    else:
        found = [parse_flag(cur)]
        while cur.accept(b" "):
            found.append(parse_flag(cur))
        flags = tuple(dict.fromkeys(found))
    silent = item == b"FLAGS.SILENT"
    return c.Store(cur.tag, seqset, mode, flags, silent, uid, unchanged_since)


def _copy_or_move(cls: type[c.Copy] | type[c.Move]) -> Handler:
    def handler(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
        cur.sp()
        seqset = sequence_set(cur)
        cur.sp()
        return cls(cur.tag, seqset, mailbox_name(cur, opts), uid)

    return handler


def _getquota(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    return c.GetQuota(cur.tag, cur.text(cur.astring()))


def _compress(cur: Cursor, opts: ParserOptions, uid: bool) -> c.Command:
    cur.sp()
    return c.Compress(cur.tag, cur.keyword().decode("ascii"))


_HANDLERS: Final[dict[bytes, Handler]] = {
    b"CAPABILITY": _no_args(c.Capability),
    b"NOOP": _no_args(c.Noop),
    b"LOGOUT": _no_args(c.Logout),
    b"STARTTLS": _no_args(c.StartTLS),
    b"AUTHENTICATE": _authenticate,
    b"LOGIN": _login,
    b"ENABLE": _enable,
    b"ID": _id,
    b"SELECT": lambda cur, opts, uid: mb.select(cur, opts, uid, c.Select),
    b"EXAMINE": lambda cur, opts, uid: mb.select(cur, opts, uid, c.Examine),
    b"CREATE": mb.create,
    b"DELETE": _one_mailbox(c.Delete),
    b"RENAME": mb.rename,
    b"SUBSCRIBE": _one_mailbox(c.Subscribe),
    b"UNSUBSCRIBE": _one_mailbox(c.Unsubscribe),
    b"LIST": mb.list_,
    b"LSUB": mb.lsub,
    b"NAMESPACE": _no_args(c.Namespace),
    b"STATUS": mb.status,
    b"APPEND": mb.append,
    b"IDLE": _no_args(c.Idle),
    b"CHECK": _no_args(c.Check),
    b"CLOSE": _no_args(c.Close),
    b"UNSELECT": _no_args(c.Unselect),
    b"EXPUNGE": _expunge,
    b"SEARCH": _search,
    b"SORT": _sort,
    b"FETCH": _fetch,
    b"STORE": _store,
    b"COPY": _copy_or_move(c.Copy),
    b"MOVE": _copy_or_move(c.Move),
    b"GETQUOTA": _getquota,
    b"GETQUOTAROOT": _one_mailbox(c.GetQuotaRoot),
    b"COMPRESS": _compress,
}
_UID_COMMANDS: Final = frozenset(b"FETCH SEARCH STORE COPY MOVE EXPUNGE SORT".split())
