"""POP3 replies on the wire: status lines, multi-line responses, byte-stuffing and TOP.

Pure functions over bytes. Messages go out exactly as stored (CRLF included); the only changes
are the ones RFC 1939 section 3 requires: a line that starts with "." gets another ".", and a
message that does not end in a line break gets a CRLF before the terminating ".".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

CRLF = b"\r\n"
TERMINATOR = b".\r\n"


class Code(enum.StrEnum):
    """RFC 2449 / RFC 3206 response codes we send."""

    AUTH = "AUTH"  # the credentials were not accepted
    SYS_PERM = "SYS/PERM"  # the account may not use mail; retrying will not help
    SYS_TEMP = "SYS/TEMP"  # a problem on our side; try again later


def ok(text: str) -> bytes:
    return f"+OK {text}\r\n".encode()


def err(text: str, code: Code | None = None) -> bytes:
    prefix = f"[{code.value}] " if code is not None else ""
    return f"-ERR {prefix}{text}\r\n".encode()


def continuation() -> bytes:
    """An empty SASL challenge (RFC 5034: "+" followed by a space)."""
    return b"+ \r\n"


def multiline(first: bytes, lines: Iterable[str]) -> bytes:
    """A status line, text lines (stuffed) and the terminator."""
    body = b"".join(line.encode() + CRLF for line in lines)
    return first + stuff(body) + TERMINATOR


def stuff(data: bytes) -> bytes:
    """Byte-stuff `data` and make sure it ends with a line break, ready for TERMINATOR."""
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\n.", b"\n..")
    if data and not data.endswith(b"\n"):
        data += CRLF
    return data


def message(first: bytes, data: bytes) -> bytes:
    """A RETR or TOP response: the status line, the stuffed message and the terminator."""
    return first + stuff(data) + TERMINATOR


def top(data: bytes, lines: int) -> bytes:
    """The header, the blank line after it and the first `lines` lines of the body."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = data.find(separator)
        if end >= 0:
            break
    else:
        return data  # no body: all of it is header
    cut = end + len(separator)
    body = data[cut:]
    pos = 0
    for _ in range(lines):
        nl = body.find(b"\n", pos)
        if nl < 0:
            return data
        pos = nl + 1
    return data[: cut + pos]
