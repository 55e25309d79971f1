"""POP3 command lines to typed commands: pure functions, no I/O (docs/pop3.md).

`parse_command` takes one line as received (CRLF or bare LF optional) and returns a command
object or a `ParseError` whose text is safe to send after "-ERR ". `parse_sasl_response` does
the same for the client's line inside an AUTH exchange (RFC 5034). Lines longer than the
configured limit never reach this module: the server discards them while reading.

Limits follow RFC 2449 where they make sense: a keyword is 3 or 4 letters, a message number
at most 9 digits (more than any maildrop holds). Arguments may be longer than RFC 2449's 40
octets because passwords and SASL initial responses are (RFC 5034 section 4).
"""

from __future__ import annotations

import binascii
import enum
from base64 import b64decode
from dataclasses import dataclass

MAX_NUMBER_DIGITS = 9
MAX_ARGUMENT = 1024  # a user name or password (services.authentication caps them there too)


class Verb(enum.StrEnum):
    """Commands without arguments (and CAPA, which RFC 2449 gives none)."""

    STAT = "STAT"
    NOOP = "NOOP"
    RSET = "RSET"
    QUIT = "QUIT"
    CAPA = "CAPA"
    STLS = "STLS"


@dataclass(frozen=True, slots=True)
class Simple:
    verb: Verb


@dataclass(frozen=True, slots=True)
class User:
    name: str


@dataclass(frozen=True, slots=True)
class Pass:
    password: str


@dataclass(frozen=True, slots=True)
class Auth:
    """AUTH without a mechanism lists them (RFC 1734); `initial` is the decoded initial
    response, b"" for "=" (RFC 5034 section 4), None when absent."""

    mechanism: str | None
    initial: bytes | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """LIST or UIDL, for one message or (msg None) all of them."""

    uidl: bool
    msg: int | None


@dataclass(frozen=True, slots=True)
class Retr:
    msg: int


@dataclass(frozen=True, slots=True)
class Dele:
    msg: int


@dataclass(frozen=True, slots=True)
class Top:
    msg: int
    lines: int


Command = Simple | User | Pass | Auth | Listing | Retr | Dele | Top


@dataclass(frozen=True, slots=True)
class ParseError:
    """Why a line is not a command; the text is for the client."""

    text: str
    unknown: bool = False  # an unknown (or unoffered, like APOP) command rather than bad syntax


@dataclass(frozen=True, slots=True)
class SaslCancel:
    """The client answered a SASL challenge with "*"."""


def _strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line


def _number(token: str, what: str = "message number") -> int | ParseError:
    if not token.isascii() or not token.isdigit() or len(token) > MAX_NUMBER_DIGITS:
        return ParseError(f"Invalid {what}")
    return int(token)


def _message(args: list[str]) -> int | ParseError:
    if len(args) != 1:
        return ParseError("Expected one message number")
    n = _number(args[0])
    if isinstance(n, int) and n == 0:
        return ParseError("Message numbers start at 1")
    return n


EMPTY_RESPONSE = "="  # RFC 5034 section 4: an empty initial response


def _b64(token: str) -> bytes | ParseError:
    if token == EMPTY_RESPONSE:
        return b""
    try:
        return b64decode(token.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return ParseError("Invalid base64 data")


def parse_command(line: bytes) -> Command | ParseError:
    """One command line (at most the configured length) to a command or an error."""
    raw = _strip_eol(line)
    if b"\r" in raw or b"\n" in raw or b"\x00" in raw:
        return ParseError("Invalid characters in command")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ParseError("Command is not valid UTF-8")
    keyword, _, rest = text.partition(" ")
    if not (3 <= len(keyword) <= 4 and keyword.isascii() and keyword.isalpha()):
        return ParseError("Unknown command", unknown=True)
    verb = keyword.upper()
    if verb == "PASS":
        # RFC 1939 section 7: a password may contain spaces; everything after the first one.
        if not rest or len(rest) > MAX_ARGUMENT:
            return ParseError("Expected a password")
        return Pass(rest)
    args = rest.split(" ") if rest else []
    if any(not a for a in args):
        return ParseError("Arguments are separated by single spaces")
    if verb in Verb.__members__:
        if args:
            return ParseError(f"{verb} takes no arguments")
        return Simple(Verb(verb))
    if verb == "USER":
        if len(args) != 1 or len(args[0]) > MAX_ARGUMENT:
            return ParseError("Expected one user name")
        return User(args[0])
    if verb in ("LIST", "UIDL"):
        if not args:
            return Listing(verb == "UIDL", None)
        msg = _message(args)
        return msg if isinstance(msg, ParseError) else Listing(verb == "UIDL", msg)
    if verb in ("RETR", "DELE"):
        msg = _message(args)
        if isinstance(msg, ParseError):
            return msg
        return Retr(msg) if verb == "RETR" else Dele(msg)
    if verb == "TOP":
        if len(args) != 2:
            return ParseError("Expected a message number and a line count")
        msg, count = _message(args[:1]), _number(args[1], "line count")
        if isinstance(msg, ParseError):
            return msg
        return count if isinstance(count, ParseError) else Top(msg, count)
    if verb == "AUTH":
        if not args:
            return Auth(None)
        if len(args) > 2 or len(args[0]) > 20:
            return ParseError("Expected a mechanism and an optional initial response")
        initial = _b64(args[1]) if len(args) == 2 else None
        if isinstance(initial, ParseError):
            return initial
        return Auth(args[0].upper(), initial)
    return ParseError("Unknown command", unknown=True)


def parse_sasl_response(line: bytes) -> bytes | SaslCancel | ParseError:
    """The client's answer to a "+ " challenge: base64 data, or "*" to cancel."""
    raw = _strip_eol(line).strip(b" ")
    if raw == b"*":
        return SaslCancel()
    try:
        token = raw.decode("ascii")
    except UnicodeDecodeError:
        return ParseError("Invalid base64 data")
    return _b64(token) if token else b""


def decode_plain(message: bytes) -> tuple[str, str] | None:
    """RFC 4616 PLAIN: authzid NUL authcid NUL passwd -> (authcid, passwd), or None when the
    message is malformed or asks to act as someone else (no proxy authorisation)."""
    parts = message.split(b"\x00")
    if len(parts) != 3:
        return None
    try:
        authzid, authcid, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        return None
    if not authcid or not password or (authzid and authzid != authcid):
        return None
    return authcid, password
