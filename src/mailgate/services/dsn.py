"""Delivery status notifications (RFC 3464): the bounce a sender gets for recipients that failed.

    multipart/report; report-type=delivery-status
    ├── text/plain                  what happened, for a person
    ├── message/delivery-status     per-message and per-recipient fields, for software
    └── text/rfc822-headers         the header of the message that failed (not its body)

Built as bytes with CRLF line endings, no I/O.
"""

from __future__ import annotations

import email.utils
import secrets
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    address: str
    status: str  # RFC 3463, e.g. 5.1.1
    diagnostic: str  # the remote reply, e.g. "550 5.1.1 no such user"
    remote_mta: str = ""
    last_attempt: datetime | None = None


def _clean(text: str, limit: int = 900) -> str:
    """One line of printable text (no CR/LF can sneak a field into the report)."""
    return "".join(c if c.isprintable() else " " for c in " ".join(text.split()))[:limit]


def _original_header(original: bytes) -> bytes:
    end = original.find(b"\r\n\r\n")
    head = original if end < 0 else original[: end + 2]
    return head[: 64 * 1024]


def build_dsn(
    reporting_mta: str,
    mail_from: str,
    original: bytes,
    failed: list[FailedRecipient],
    arrival: datetime,
    now: datetime,
) -> bytes:
    """A bounce to `mail_from` for `failed` recipients of `original`."""
    boundary = f"=_mailgate_dsn_{secrets.token_hex(12)}"
    date = email.utils.format_datetime(now)
    human = [
        f"This is the mail system at {reporting_mta}.",
        "",
        "Your message could not be delivered to one or more recipients.",
        "",
    ]
    for f in failed:
        human.append(f"<{_clean(f.address)}>: {_clean(f.diagnostic)}")
    status_fields = [
        f"Reporting-MTA: dns; {_clean(reporting_mta)}",
        f"Arrival-Date: {email.utils.format_datetime(arrival)}",
        "",
    ]
    for f in failed:
        status_fields += [
            f"Final-Recipient: rfc822; {_clean(f.address)}",
            "Action: failed",
            f"Status: {_clean(f.status, 16)}",
        ]
        if f.remote_mta:
            status_fields.append(f"Remote-MTA: dns; {_clean(f.remote_mta)}")
        if f.diagnostic:
            status_fields.append(f"Diagnostic-Code: smtp; {_clean(f.diagnostic)}")
        if f.last_attempt is not None:
            last = email.utils.format_datetime(f.last_attempt)
            status_fields.append(f"Last-Attempt-Date: {last}")
        status_fields.append("")
    head = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{_clean(mail_from)}>",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {date}",
        f"Message-ID: <{secrets.token_hex(16)}@{reporting_mta}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated delivery status notification.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        *human,
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        *status_fields,
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "Content-Transfer-Encoding: 8bit",
        "",
    ]
    body = "\r\n".join(head).encode("utf-8") + b"\r\n"
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    return body + _original_header(original) + tail
