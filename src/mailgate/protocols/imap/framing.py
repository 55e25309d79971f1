"""Command framing: bytes from the client in, complete commands (lines plus literals) out.

:class:`FrameReader` is a pure state machine.  The server feeds it whatever it read and acts
on the returned events: a :class:`CommandFrame` goes to :func:`~.parser.parse_command`;
:class:`NeedContinuation` means "send ``+ Ready``" (a synchronising literal was accepted);
:class:`FrameError` means "reply ``<tag> <status> [TOOBIG] <text>``" (or ``* BAD``).

Limits are enforced while reading, never after buffering: a literal larger than allowed is
refused from its announcement alone.  For a synchronising literal the client waits for a
``+`` that never comes, so nothing is read; for a non-synchronising one (``{N+}``,
RFC 7888) the reader discards exactly N bytes without keeping them, then skips the rest of
that command (``FrameError.discard`` tells the server how many, so it may prefer to close).
A line that grows past ``max_line`` without LF is refused at once and skipped up to LF.
The reader never holds more than ``max_line`` bytes of an unfinished line plus the
``max_command`` bytes of one accepted command.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "LITERAL_MINUS_MAX",
    "CommandFrame",
    "Event",
    "FrameError",
    "FrameErrorKind",
    "FrameLimits",
    "FrameReader",
    "NeedContinuation",
    "tag_of",
]

LITERAL_MINUS_MAX = 4096
_TAG_BYTES = frozenset(range(0x21, 0x7F)) - frozenset(b'(){%*"\\+')
_TAIL = 24


@dataclass(frozen=True, slots=True)
class FrameLimits:
    """Caller-chosen limits (from settings); sizes in bytes."""

    max_line: int = 64 * 1024
    max_literal: int = 64 * 1024 * 1024
    max_command: int = 80 * 1024 * 1024
    literal_plus: bool = True
    """True when LITERAL+ is advertised; False for LITERAL- ({N+} only up to 4096)."""


@dataclass(frozen=True, slots=True)
class CommandFrame:
    """One complete command: ``lines[i]`` ends with the marker of ``literals[i]``.

    Lines carry no CRLF.  ``len(lines) == len(literals) + 1``.
    """

    lines: tuple[bytes, ...]
    literals: tuple[bytes, ...] = ()

    @property
    def line(self) -> bytes:
        """The whole text of a literal-free frame (IDLE's DONE, a SASL response line)."""
        return self.lines[0] if not self.literals else b""

    @property
    def size(self) -> int:
        return sum(map(len, self.lines)) + sum(map(len, self.literals))


@dataclass(frozen=True, slots=True)
class NeedContinuation:
    """A synchronising literal of ``size`` bytes was accepted: send a continuation request."""

    size: int


class FrameErrorKind(enum.Enum):
    LINE_TOO_LONG = "line too long"
    LITERAL_TOO_BIG = "literal too big"
    COMMAND_TOO_BIG = "command too big"


@dataclass(frozen=True, slots=True)
class FrameError:
    """A command refused by the framing layer; the reader has already recovered."""

    kind: FrameErrorKind
    tag: str | None
    text: str
    status: str = "BAD"
    code: str | None = "TOOBIG"
    discard: int = 0
    """Bytes of a refused non-synchronising literal the reader is now skipping."""

    @property
    def response_tag(self) -> str:
        return self.tag if self.tag is not None else "*"


Event = CommandFrame | NeedContinuation | FrameError


def tag_of(line: bytes) -> str | None:
    """The tag at the start of a command line, if it is a syntactically valid tag."""
    tag = line.split(b" ", 1)[0]
    if not tag or len(tag) > 64 or not _TAG_BYTES.issuperset(tag):
        return None
    return tag.decode("ascii")


def _marker(line: bytes) -> tuple[int, bool] | None:
    """``(size, synchronising)`` when the line ends with ``{N}``, ``{N+}`` or ``~{N}``."""
    if not line.endswith(b"}"):
        return None
    start = line.rfind(b"{", max(0, len(line) - 14))
    if start < 0:
        return None
    digits = line[start + 1 : -1]
    sync = not digits.endswith(b"+")
    if not sync:
        digits = digits[:-1]
    if not digits.isdigit():
        return None
    return int(digits), sync


class _Mode(enum.Enum):
    LINE = 1
    LITERAL = 2
    SKIP_LINE = 3
    SKIP_LITERAL = 4


@dataclass(slots=True)
class FrameReader:
    """Feed bytes, get :data:`Event` objects.  One reader per connection."""

    limits: FrameLimits = field(default_factory=FrameLimits)
    _mode: _Mode = _Mode.LINE
    _buf: bytearray = field(default_factory=bytearray)
    _lines: list[bytes] = field(default_factory=list)
    _literals: list[bytes] = field(default_factory=list)
    _chunks: list[bytes] = field(default_factory=list)
    _left: int = 0
    _size: int = 0
    _tail: bytes = b""

    @property
    def buffered(self) -> int:
        """Bytes currently held (for tests and metrics)."""
        held = len(self._buf) + sum(map(len, self._chunks))
        return held + sum(map(len, self._lines)) + sum(map(len, self._literals))

    @property
    def in_literal(self) -> bool:
        return self._mode is _Mode.LITERAL

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        events: list[Event] = []
        data = bytes(data)
        pos = 0
        end = len(data)
        while pos < end:
            mode = self._mode
            if mode is _Mode.LINE:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    if len(self._buf) + end - pos > self.limits.max_line:
                        self._overlong(bytes(self._buf[:80]) + data[pos : pos + 80], events)
                        self._tail = data[-_TAIL:]
                    else:
                        self._buf += data[pos:]
                    break
                if self._buf:
                    self._buf += data[pos:nl]
                    line = bytes(self._buf)
                    self._buf.clear()
                else:
                    line = data[pos:nl]
                pos = nl + 1
                self._on_line(line[:-1] if line.endswith(b"\r") else line, events)
            elif mode is _Mode.LITERAL or mode is _Mode.SKIP_LITERAL:
                take = min(self._left, end - pos)
                if mode is _Mode.LITERAL:
                    self._chunks.append(data[pos : pos + take])
                pos += take
                self._left -= take
                if self._left == 0:
                    if mode is _Mode.LITERAL:
                        self._literals.append(b"".join(self._chunks))
                        self._chunks.clear()
                        self._mode = _Mode.LINE
                    else:
                        self._mode = _Mode.SKIP_LINE
                        self._tail = b""
            else:
                nl = data.find(b"\n", pos)
                stop = end if nl < 0 else nl
                self._tail = (self._tail + data[max(pos, stop - _TAIL) : stop])[-_TAIL:]
                if nl < 0:
                    break
                pos = nl + 1
                self._end_skipped_line()
        return events

    def _reset(self) -> None:
        self._lines.clear()
        self._literals.clear()
        self._chunks.clear()
        self._size = 0

    def _first(self, line: bytes) -> bytes:
        return self._lines[0] if self._lines else line

    def _overlong(self, start: bytes, events: list[Event]) -> None:
        tag = tag_of(self._first(start))
        self._reset()
        self._buf.clear()
        self._mode = _Mode.SKIP_LINE
        text = "Command line too long"
        events.append(FrameError(FrameErrorKind.LINE_TOO_LONG, tag, text, code=None))

    def _on_line(self, line: bytes, events: list[Event]) -> None:
        limits = self.limits
        if len(line) > limits.max_line:
            self._tail = line[-_TAIL:]
            self._overlong(line[:80], events)
            self._end_skipped_line()
            return
        self._size += len(line) + 2
        marker = _marker(line)
        if marker is None:
            if self._size > limits.max_command:
                self._refuse(FrameErrorKind.COMMAND_TOO_BIG, line, None, events)
                return
            self._lines.append(line)
            events.append(CommandFrame(tuple(self._lines), tuple(self._literals)))
            self._reset()
            return
        size, sync = marker
        if size > limits.max_literal:
            self._refuse(FrameErrorKind.LITERAL_TOO_BIG, line, marker, events)
        elif self._size + size > limits.max_command:
            self._refuse(FrameErrorKind.COMMAND_TOO_BIG, line, marker, events)
        elif not sync and not limits.literal_plus and size > LITERAL_MINUS_MAX:
            self._refuse(FrameErrorKind.LITERAL_TOO_BIG, line, marker, events)
        else:
            self._lines.append(line)
            self._size += size
            if size == 0:
                self._literals.append(b"")
            else:
                self._left = size
                self._mode = _Mode.LITERAL
            if sync:
                events.append(NeedContinuation(size))

    def _refuse(
        self,
        kind: FrameErrorKind,
        line: bytes,
        marker: tuple[int, bool] | None,
        events: list[Event],
    ) -> None:
        tag = tag_of(self._first(line))
        self._reset()
        if marker is not None and not marker[1]:
            size = marker[0]
            text = f"Literal of {size} bytes refused ({kind.value})"
            events.append(FrameError(kind, tag, text, discard=size))
            self._skip_literal(size)
        elif marker is not None:
            # Synchronising: no "+" is sent, so the client sends nothing more for it.
            text = f"Literal of {marker[0]} bytes refused ({kind.value})"
            events.append(FrameError(kind, tag, text, status="NO"))
            self._mode = _Mode.LINE
        else:
            events.append(FrameError(kind, tag, f"Command refused ({kind.value})"))
            self._mode = _Mode.LINE

    def _skip_literal(self, size: int) -> None:
        self._tail = b""
        if size:
            self._left = size
            self._mode = _Mode.SKIP_LITERAL
        else:
            self._mode = _Mode.SKIP_LINE

    def _end_skipped_line(self) -> None:
        """A skipped line ended: skip a following non-synchronising literal too."""
        tail = self._tail[:-1] if self._tail.endswith(b"\r") else self._tail
        marker = _marker(tail)
        if marker is not None and not marker[1]:
            self._skip_literal(marker[0])
        else:
            self._mode = _Mode.LINE
            self._tail = b""
