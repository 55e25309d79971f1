"""FETCH attributes and modifiers (RFC 9051 6.4.5, RFC 3516 BINARY, RFC 7162 CONDSTORE)."""

from __future__ import annotations

import re
from typing import Final

from .commands import FetchAttribute, Section
from .lexer import Cursor

__all__ = ["MACROS", "parse_fetch_attributes", "parse_fetch_modifiers"]

_NAME: Final = re.compile(rb"[A-Za-z0-9.]+")
_PART: Final = re.compile(rb"[0-9]+(?:\.[0-9]+)*+")
_PARTIAL: Final = re.compile(rb"<([0-9]{1,10})\.([0-9]{1,10})>")

_SIMPLE: Final = {
    name: FetchAttribute(name.decode())
    for name in (
        b"FLAGS",
        b"INTERNALDATE",
        b"RFC822.SIZE",
        b"ENVELOPE",
        b"BODYSTRUCTURE",
        b"BODY",
        b"RFC822",
        b"RFC822.HEADER",
        b"RFC822.TEXT",
        b"UID",
        b"MODSEQ",
        b"SAVEDATE",
        b"EMAILID",
        b"THREADID",
    )
}
_FAST: Final = (_SIMPLE[b"FLAGS"], _SIMPLE[b"INTERNALDATE"], _SIMPLE[b"RFC822.SIZE"])
MACROS: Final = {
    b"FAST": _FAST,
    b"ALL": (*_FAST, _SIMPLE[b"ENVELOPE"]),
    b"FULL": (*_FAST, _SIMPLE[b"ENVELOPE"], _SIMPLE[b"BODY"]),
}
_SECTIONED: Final = frozenset((b"BODY", b"BODY.PEEK", b"BINARY", b"BINARY.PEEK", b"BINARY.SIZE"))
_MSGTEXT: Final = frozenset((b"HEADER", b"HEADER.FIELDS", b"HEADER.FIELDS.NOT", b"TEXT", b"MIME"))


def parse_fetch_attributes(cur: Cursor) -> tuple[FetchAttribute, ...]:
    """``ALL`` / ``FAST`` / ``FULL`` / one attribute / a parenthesised list of them."""
    if cur.accept(b"("):
        atts = [_attribute(cur)]
        while not cur.accept(b")"):
            cur.sp()
            atts.append(_attribute(cur))
        return tuple(atts)
    m = _NAME.match(cur.line, cur.pos)
    if m is not None:
        macro = MACROS.get(m.group().upper())
        if macro is not None:
            cur.pos = m.end()
            return macro
    return (_attribute(cur),)


def _attribute(cur: Cursor) -> FetchAttribute:
    m = _NAME.match(cur.line, cur.pos)
    if m is None:
        raise cur.error("Expected a fetch attribute")
    cur.pos = m.end()
    name = m.group().upper()
    if cur.peek() != 0x5B:  # "["
        simple = _SIMPLE.get(name)
        if simple is None:
            raise cur.error("Unknown fetch attribute")
        return simple
    if name not in _SECTIONED:
        raise cur.error("Unknown fetch attribute")
    peek = name.endswith(b".PEEK")
    base = name[:-5] if peek else name
    section = _binary_section(cur) if base.startswith(b"BINARY") else _section(cur)
    partial = None
    if cur.peek() == 0x3C and base != b"BINARY.SIZE":  # "<"
        pm = _PARTIAL.match(cur.line, cur.pos)
        if pm is None:
            raise cur.error("Invalid partial range")
        cur.pos = pm.end()
        origin, length = int(pm.group(1)), int(pm.group(2))
        if length == 0 or origin >= 1 << 32 or length >= 1 << 32:
            raise cur.error("Invalid partial range")
        partial = (origin, length)
    return FetchAttribute(base.decode(), section, partial, peek)


def _parts(cur: Cursor) -> tuple[int, ...]:
    m = _PART.match(cur.line, cur.pos)
    if m is None:
        return ()
    cur.pos = m.end()
    parts = tuple(int(p) for p in m.group().split(b"."))
    if 0 in parts or any(p >= 1 << 32 for p in parts):
        raise cur.error("Invalid section part number")
    return parts


def _binary_section(cur: Cursor) -> Section:
    cur.expect(b"[")
    parts = _parts(cur)
    cur.expect(b"]")
    return Section(parts)


def _section(cur: Cursor) -> Section:
    cur.expect(b"[")
    if cur.accept(b"]"):
        return Section()
    parts = _parts(cur)
    text = None
    if not parts or cur.accept(b"."):
        m = _NAME.match(cur.line, cur.pos)
        word = m.group().upper() if m is not None else b""
        if word not in _MSGTEXT or (word == b"MIME" and not parts):
            raise cur.error("Invalid section specification")
        cur.pos += len(word)
        text = word.decode()
    headers: tuple[str, ...] = ()
    if text is not None and text.startswith("HEADER.FIELDS"):
        cur.sp()
        cur.expect(b"(")
        names = [cur.astring()]
        while not cur.accept(b")"):
            cur.sp()
            names.append(cur.astring())
        for field in names:
            if not field or not field.isascii() or b":" in field:
                raise cur.error("Invalid header field name")
        headers = tuple(f.decode("ascii").upper() for f in names)
    cur.expect(b"]")
    return Section(parts, text, headers)


def parse_fetch_modifiers(cur: Cursor, uid: bool) -> tuple[int | None, bool]:
    """``(CHANGEDSINCE n [VANISHED])`` -> ``(changed_since, vanished)``."""
    changed_since: int | None = None
    vanished = False
    cur.expect(b"(")
    while True:
        word = cur.keyword()
        if word == b"CHANGEDSINCE" and changed_since is None:
            cur.sp()
            changed_since = cur.number(bits=63)
        elif word == b"VANISHED" and not vanished:
            vanished = True
        else:
            raise cur.error("Unknown or repeated FETCH modifier")
        if cur.accept(b")"):
            break
        cur.sp()
    if vanished and (not uid or changed_since is None):
        raise cur.error("VANISHED needs UID FETCH and CHANGEDSINCE")
    return changed_since, vanished
