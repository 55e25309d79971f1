"""The pure part of SMTP: reply texts, enhanced status codes, AUTH payloads, line endings and the
Received header. Bytes and strings in, values out; no I/O, testable byte by byte.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

# Replies of our own, one place so docs/smtp.md and the tests can name them.
OK_QUEUED = "250 2.0.0 OK: message {} accepted"
RELAY_DENIED = "554 5.7.1 Relay access denied: this server only accepts mail for its own domains"
UNKNOWN_USER = "550 5.1.1 No such mailbox here"
MAILBOX_DISABLED = "550 5.2.1 This mailbox is disabled and does not accept mail"
MAILBOX_FULL = "452 4.2.2 Mailbox full; try again later"
GROUP_REFUSED = "550 5.7.1 You may not send to this group"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients; send the others in another message"
RATE_RECIPIENTS = (
    "452 4.5.3 Your account may address at most {} recipients in one message; "
    "send the others in another message"
)
RATE_MESSAGES = (
    "450 4.7.1 Your account has sent {} messages in the last hour, its limit; try again later"
)
AUTH_REQUIRED = "530 5.7.0 Authentication required"
AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
# RFC 4954's 534 5.7.9, as the big providers answer when an app password is needed.
APP_PASSWORD_REQUIRED = "534 5.7.9 Two-step verification is on: sign in with an app password, created at the portal page /account/app-passwords"  # noqa: E501, S105
# RFC 5248's 525 5.7.13 ("after a successful authentication to a disabled account"): the right
# password of an account that still owes its first login at the portal ({} is its URL).
NOT_ACTIVATED = "525 5.7.13 Account not activated yet: finish activating it at {} first"
SENDER_NOT_OWNED = "553 5.7.1 Sender address rejected: not owned by the authenticated user"
NULL_SENDER_REFUSED = "553 5.7.1 Authenticated users must give their own address as sender"
REMOTE_UNAVAILABLE = "451 4.4.0 Relaying to other domains is not available right now"
BARE_LINE_ENDING = (
    "550 5.6.0 Message refused: it contains a bare LF or CR; every line must end with CRLF "
    "(RFC 5321 section 2.3.8)"
)
ALREADY_TLS = "503 5.5.1 TLS is already active"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your address; try again later"
INTERNAL_ERROR = "451 4.3.0 Internal error; try again later (ref {})"

# aiosmtpd's own texts, rewritten where they lack an enhanced code or say too little.
_REWRITES = {
    "552 Error: message size exceeds fixed maximum message size": (
        "552 5.3.4 Message size exceeds the fixed maximum message size"
    ),
    "552 Error: Too much mail data": "552 5.3.4 Message size exceeds the fixed maximum size",
    "530 Must issue a STARTTLS command first": "530 5.7.0 Must issue a STARTTLS command first",
    "500 Line too long (see RFC5321 4.5.3.1.6)": "500 5.5.2 Line too long",
    "221 Bye": "221 2.0.0 Bye",
    "220 Ready to start TLS": "220 2.0.0 Ready to start TLS",
}
# Default enhanced code per basic reply code (RFC 3463), for replies that carry none.
_DEFAULT_ENHANCED = {
    "250": "2.0.0",
    "251": "2.1.5",
    "252": "2.5.0",
    "221": "2.0.0",
    "421": "4.3.0",
    "450": "4.2.0",
    "451": "4.3.0",
    "452": "4.3.1",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "535": "5.7.8",
    "538": "5.7.11",
    "550": "5.0.0",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.0.0",
    "555": "5.5.4",
}
_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}( |$)")


def with_enhanced_code(reply: str) -> str:
    """`reply` with an RFC 2034 enhanced status code when it has none.

    Leaves alone what must not carry one: 3xx intermediate replies (DATA, AUTH challenges),
    and replies that already have one. The greeting and EHLO/HELO replies are not passed here.
    """
    reply = _REWRITES.get(reply, reply)
    if _HAS_ENHANCED.match(reply) or len(reply) < 3 or reply[0] not in "245":
        return reply
    code, sep, text = reply[:3], reply[3:4], reply[4:]
    enhanced = _DEFAULT_ENHANCED.get(code, f"{code[0]}.0.0")
    return f"{code}{sep or ' '}{enhanced} {text}".rstrip()


def ehlo_lines(
    hostname: str, size: int, starttls: bool, auth: bool, mechanisms: tuple[str, ...]
) -> list[str]:
    """The EHLO reply: the keywords we honour, in a stable order."""
    keywords = ["PIPELINING", f"SIZE {size}", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"]
    if starttls:
        keywords.append("STARTTLS")
    if auth:
        keywords.append("AUTH " + " ".join(mechanisms))
    lines = [hostname, *keywords]
    return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]


def decode_plain(payload: bytes) -> tuple[str, str] | None:
    """(username, password) of an RFC 4616 PLAIN response, or None when malformed.

    An authorisation identity other than the user itself is refused (no proxy logins).
    """
    parts = payload.split(b"\x00")
    if len(parts) != 3:
        return None
    try:
        authzid, user, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        return None
    if not user or (authzid and authzid != user):
        return None
    return user, password


def decode_b64(text: str | bytes) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def has_bare_line_ending(data: bytes) -> bool:
    """True when `data` has a LF not preceded by CR or a CR not followed by LF."""
    if data.count(b"\n") != data.count(b"\r\n"):
        return True
    return data.count(b"\r") != data.count(b"\r\n")


def declared_size(mail_options: list[str]) -> int:
    """The SIZE= of MAIL FROM (already validated by the server), or 0."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


def null_sender(address: str | None) -> bool:
    return address in (None, "", "<>")


def new_message_id() -> str:
    """A short random id for the log, the Received header and the 250 reply."""
    return secrets.token_hex(6).upper()


@dataclass(frozen=True, slots=True)
class ReceivedInfo:
    helo: str
    client_ip: str
    by_host: str
    queue_id: str
    when: datetime
    esmtp: bool = True
    tls: bool = False
    authenticated: bool = False
    utf8: bool = False
    cipher: str | None = None
    recipient: str | None = None  # only when there is exactly one


def _clean(text: str, limit: int = 200) -> str:
    """A value from the client made safe for a header: printable, no parentheses games."""
    cleaned = "".join(c if c.isprintable() and c not in "()\\" else "?" for c in text)
    return cleaned[:limit] or "unknown"


def with_protocol(info: ReceivedInfo) -> str:
    """The `with` keyword of RFC 3848 / RFC 6531."""
    if not info.esmtp:
        return "SMTP"
    base = "UTF8SMTP" if info.utf8 else "ESMTP"
    return base + ("S" if info.tls else "") + ("A" if info.authenticated else "")


def received_header(info: ReceivedInfo) -> bytes:
    """A folded `Received:` header field (RFC 5321 section 4.4), CRLF-terminated."""
    parts = [
        f"Received: from {_clean(info.helo)} ([{_clean(info.client_ip, 45)}])",
        f"by {info.by_host} (Mailgate)",
        f"with {with_protocol(info)}" + (f" ({_clean(info.cipher, 80)})" if info.cipher else ""),
        f"id {info.queue_id}",
    ]
    if info.recipient:
        parts.append(f"for <{_clean(info.recipient, 320)}>")
    parts[-1] += ";"
    parts.append(format_datetime(info.when))
    return ("\r\n\t".join(parts) + "\r\n").encode("utf-8")


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(
    rf"\s*<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    rf"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)>\s*"
)


def simple_path(arg: str) -> tuple[str, str] | None:
    """(address, rest) for a plain ASCII `<local@domain> params`, else None (full parser)."""
    match = _SIMPLE_PATH.match(arg)
    if match is None:
        return None
    return match.group(1), arg[match.end() :]
