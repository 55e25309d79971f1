"""Mail store types: mailboxes (folders), message metadata, default folders, header fields.

Bodies are kept byte-for-byte in a content-addressed blob store; the SQL side holds what IMAP
and SEARCH need without opening a body (UID, MODSEQ, flags, sizes, and a few header fields).
"""

from __future__ import annotations

import email.utils
import enum
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32

HIERARCHY_DELIMITER = "/"
MAX_HEADER_FIELD = 998


class SpecialUse(enum.StrEnum):
    """RFC 6154 special-use attributes (INBOX has none; it is special by name)."""

    SENT = "\\Sent"
    DRAFTS = "\\Drafts"
    TRASH = "\\Trash"
    JUNK = "\\Junk"
    ARCHIVE = "\\Archive"


DEFAULT_FOLDERS: tuple[tuple[str, SpecialUse | None], ...] = (
    ("INBOX", None),
    ("Sent", SpecialUse.SENT),
    ("Drafts", SpecialUse.DRAFTS),
    ("Trash", SpecialUse.TRASH),
    ("Junk", SpecialUse.JUNK),
    ("Archive", SpecialUse.ARCHIVE),
)


class Flag(enum.IntFlag):
    """IMAP system flags as bits; keywords ($Label1, $Junk ...) are kept as text beside them."""

    SEEN = 1
    ANSWERED = 2
    FLAGGED = 4
    DELETED = 8
    DRAFT = 16


FLAG_NAMES = {
    Flag.SEEN: "\\Seen",
    Flag.ANSWERED: "\\Answered",
    Flag.FLAGGED: "\\Flagged",
    Flag.DELETED: "\\Deleted",
    Flag.DRAFT: "\\Draft",
}


@dataclass(slots=True)
class Mailbox:
    id: int
    account_id: int
    name: str
    special_use: SpecialUse | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    subscribed: bool


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """Header fields kept in SQL for listing, ENVELOPE and SEARCH (decoded to text)."""

    subject: str = ""
    from_: str = ""
    to: str = ""
    cc: str = ""
    message_id: str = ""
    date: datetime | None = None


@dataclass(slots=True)
class StoredMessage:
    id: int
    mailbox_id: int
    uid: int
    modseq: int
    flags: int
    keywords: list[str]
    internal_date: datetime
    size: int
    blob_id: str
    headers: HeaderFields = field(default_factory=HeaderFields)


def blob_id_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decoded(value: str | None) -> str:
    if not value:
        return ""
    try:
        text = str(make_header(decode_header(value)))
    except (UnicodeError, LookupError, ValueError, TypeError):
        text = value
    text = re.sub(r"\s+", " ", text).strip()
    return text[:MAX_HEADER_FIELD]


def header_fields(data: bytes) -> HeaderFields:
    """Decoded Subject/From/To/Cc/Message-ID/Date of a message; never raises on bad input."""
    head_end = data.find(b"\r\n\r\n")
    head = data if head_end < 0 else data[: head_end + 4]
    msg = BytesHeaderParser(policy=compat32).parsebytes(head)
    date = None
    raw_date = msg.get("Date")
    if raw_date:
        try:
            date = email.utils.parsedate_to_datetime(str(raw_date))
        except (TypeError, ValueError, IndexError):
            date = None
        if date is not None and date.tzinfo is None:
            date = None
    return HeaderFields(
        subject=_decoded(msg.get("Subject")),
        from_=_decoded(msg.get("From")),
        to=_decoded(msg.get("To")),
        cc=_decoded(msg.get("Cc")),
        message_id=_decoded(msg.get("Message-ID"))[:250],
        date=date,
    )
