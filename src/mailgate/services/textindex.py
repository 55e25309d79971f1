"""Text for BODY/TEXT search: decoded headers and text parts of a message, case-folded.

One function, `extract_text`, so a richer MIME module can replace it later. Uses only the
stdlib: RFC 2047 encoded words in headers, Content-Transfer-Encoding and charsets of text/*
parts (HTML reduced to its text); attachments that are not text are skipped. Never raises on
malformed input. Search terms go through the same `fold` (NFKC, case-folded, spaces collapsed),
so a substring test on the result is IMAP's case-insensitive substring match.
"""

from __future__ import annotations

import asyncio
import codecs
import html
import re
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from mailgate.domain.mailbox import MessageText, fold

INLINE_LIMIT = 64 * 1024  # bigger messages are decoded in a worker thread
MAX_TEXT = 1_000_000  # characters kept per message, head and body each
MAX_PARTS = 200
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


def _header(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (UnicodeError, LookupError, ValueError, TypeError, AssertionError):
        return value


def _charset(part: Message) -> str:
    name = part.get_content_charset() or "utf-8"
    name = {"gb2312": "gb18030", "gbk": "gb18030", "ascii": "utf-8", "us-ascii": "utf-8"}.get(
        name, name
    )
    try:
        codecs.lookup(name)
    except LookupError:
        return "utf-8"
    return name


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = payload.decode(_charset(part), errors="replace")
    if part.get_content_subtype() == "html":
        text = html.unescape(_TAGS.sub(" ", text))
    return text


def extract_text(data: bytes) -> MessageText:
    """Folded "name: value" header lines (one per line) and the text of every text/* part."""
    msg = BytesParser(policy=compat32).parsebytes(data)
    head = "\n".join(f"{fold(name)}: {fold(_header(str(value)))}" for name, value in msg.items())
    bodies: list[str] = []
    for count, part in enumerate(msg.walk()):
        if count >= MAX_PARTS:
            break
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_content_disposition() == "attachment" and part.get_content_subtype() != "plain":
            continue
        try:
            bodies.append(_part_text(part))
        except (ValueError, LookupError, AssertionError):
            continue
    return MessageText(head=head[:MAX_TEXT], body=fold(" ".join(bodies))[:MAX_TEXT])


async def searchable_text(data: bytes) -> MessageText:
    """`extract_text`, off the event loop for big messages."""
    if len(data) < INLINE_LIMIT:
        return extract_text(data)
    return await asyncio.to_thread(extract_text, data)
