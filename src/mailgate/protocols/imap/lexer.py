"""Token reader over a :class:`~.framing.CommandFrame` (RFC 9051 section 9 primitives).

Each token is recognised by one anchored regular expression over a character class (linear,
no backtracking) or by ``bytes.find``; no per-byte Python loops.  Every failure raises
:class:`ParseError`, which carries the command tag so the server can answer ``BAD``.
"""

from __future__ import annotations

import re
from typing import Final

from .framing import CommandFrame

__all__ = ["Cursor", "ParseError"]

# ATOM-CHAR: any CHAR except atom-specials: ( ) { SP CTL % * " \ ]
_ATOM: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\\]]+')
_ASTRING: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\]+')  # plus "]"
_LIST_MAILBOX: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){"\\]+')  # plus % * ]
_QUOTED: Final = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*+)"')
_NUMBER: Final = re.compile(rb"[0-9]{1,20}")
_SEQSET: Final = re.compile(rb"[0-9*:,$]+")
_LITERAL: Final = re.compile(rb"(~?)\{([0-9]{1,10})\+?\}")
_ESCAPE: Final = re.compile(rb"\\([\"\\])")
NIL: Final = object()


class ParseError(Exception):
    """A command that cannot be executed as sent.

    ``tag`` is the client's tag or ``"*"``; ``text`` is short, safe to send to the client;
    ``status`` is ``BAD`` (syntax) or ``NO``; ``code`` an optional response code
    (e.g. ``BADCHARSET``, ``CLIENTBUG``).
    """

    def __init__(
        self, tag: str, text: str, *, status: str = "BAD", code: str | None = None
    ) -> None:
        super().__init__(text)
        self.tag = tag
        self.text = text
        self.status = status
        self.code = code


class Cursor:
    """Reads tokens left to right; literals are taken from the frame in order."""

    __slots__ = ("_index", "frame", "line", "pos", "tag")

    def __init__(self, frame: CommandFrame, tag: str = "*") -> None:
        self.frame = frame
        self._index = 0
        self.line = frame.lines[0]
        self.pos = 0
        self.tag = tag

    def error(self, text: str, *, status: str = "BAD", code: str | None = None) -> ParseError:
        return ParseError(self.tag, text, status=status, code=code)

    # -- position -------------------------------------------------------------------------
    def at_end(self) -> bool:
        return self.pos >= len(self.line) and self._index >= len(self.frame.literals)

    def peek(self) -> int:
        """The next byte, or -1 at the end of the command."""
        return self.line[self.pos] if self.pos < len(self.line) else -1

    def peek_upper(self, word: bytes) -> bool:
        """Whether the next characters are ``word`` (case-insensitively) then SP/)/end."""
        end = self.pos + len(word)
        if self.line[self.pos : end].upper() != word:
            return False
        return end == len(self.line) or self.line[end] in b" )("

    def expect(self, char: bytes) -> None:
        if not self.line.startswith(char, self.pos):
            raise self.error(f"Expected {char.decode()!r}")
        self.pos += 1

    def accept(self, char: bytes) -> bool:
        if self.line.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    def sp(self) -> None:
        if not self.line.startswith(b" ", self.pos):
            raise self.error(
                "Expected a space" if self.pos < len(self.line) else "Missing argument"
            )
        self.pos += 1

    def end(self) -> None:
        if not self.at_end():
            raise self.error("Unexpected characters at end of command")

    # -- primitives ----------------------------------------------------------------------
    def atom(self) -> bytes:
        m = _ATOM.match(self.line, self.pos)
        if m is None:
            raise self.error("Expected an atom")
        self.pos = m.end()
        return m.group()

    def keyword(self) -> bytes:
        """An atom, upper-cased (command names, search keys, option names)."""
        return self.atom().upper()

    def number(self, *, nonzero: bool = False, bits: int = 32) -> int:
        m = _NUMBER.match(self.line, self.pos)
        if m is None:
            raise self.error("Expected a number")
        value = int(m.group())
        if value >= 1 << bits or (nonzero and value == 0):
            raise self.error("Number out of range")
        self.pos = m.end()
        return value

    def sequence_text(self) -> bytes:
        m = _SEQSET.match(self.line, self.pos)
        if m is None:
            raise self.error("Expected a sequence set")
        self.pos = m.end()
        return m.group()

    def literal(self, *, allow_binary: bool = False) -> tuple[bytes, bool]:
        """``(data, is_literal8)``; the marker must end the current line."""
        m = _LITERAL.match(self.line, self.pos)
        if m is None or m.end() != len(self.line) or self._index >= len(self.frame.literals):
            raise self.error("Invalid literal")
        binary = bool(m.group(1))
        if binary and not allow_binary:
            raise self.error("literal8 not allowed here")
        data = self.frame.literals[self._index]
        self._index += 1
        self.line = self.frame.lines[self._index]
        self.pos = 0
        return data, binary

    def quoted(self) -> bytes:
        m = _QUOTED.match(self.line, self.pos)
        if m is None:
            raise self.error("Invalid quoted string")
        self.pos = m.end()
        body = m.group(1)
        return _ESCAPE.sub(rb"\1", body) if b"\\" in body else body

    def string(self) -> bytes:
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:
            data = self.literal()[0]
            if b"\x00" in data:
                raise self.error("NUL in literal string")
            return data
        raise self.error("Expected a string")

    def astring(self) -> bytes:
        c = self.peek()
        if c == 0x22 or c == 0x7B:
            return self.string()
        m = _ASTRING.match(self.line, self.pos)
        if m is None:
            raise self.error("Expected a string or atom")
        self.pos = m.end()
        return m.group()

    def nstring(self) -> bytes | None:
        if self.peek_upper(b"NIL"):
            self.pos += 3
            return None
        return self.string()

    def list_mailbox(self) -> bytes:
        c = self.peek()
        if c == 0x22 or c == 0x7B:
            return self.string()
        m = _LIST_MAILBOX.match(self.line, self.pos)
        if m is None:
            raise self.error("Expected a mailbox pattern")
        self.pos = m.end()
        return m.group()

    def text(self, data: bytes) -> str:
        """Client text as UTF-8 (RFC 9051 allows UTF-8 in strings)."""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("Invalid UTF-8 in string") from None

    def rest(self) -> bytes:
        """The remainder of the current line (no literals)."""
        data = self.line[self.pos :]
        self.pos = len(self.line)
        return data
