"""Decoded text of a message for SEARCH BODY/TEXT and header criteria.

`body_text` gives the text of every text/* leaf (also inside forwarded messages), decoded
from its transfer encoding and charset, HTML reduced to text crudely. `decode_header`
decodes RFC 2047 encoded words (Q and B, any charset Python knows, GB2312/GBK read as
GB18030, Big5 as Big5-HKSCS) and raw 8-bit values (UTF-8, else GB18030, else Latin-1).
`header_text` returns the decoded values of the usual searchable fields. Never raises.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import urllib.parse

from mailgate.protocols.imap.mime import MimePart, split_header_fields
from mailgate.protocols.imap.sections import UnknownTransferEncoding, decode_transfer_encoding

__all__ = [
    "SEARCH_HEADERS",
    "body_text",
    "decode_bytes",
    "decode_header",
    "decode_rfc2231",
    "header_text",
    "html_to_text",
    "part_filename",
]

SEARCH_HEADERS = ("subject", "from", "to", "cc", "bcc", "sender", "reply-to")

_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "unicode-1-1-utf-7": "utf-7",
    "us-ascii": "utf-8",  # 8-bit bytes in "us-ascii" text are usually UTF-8
    "ascii": "utf-8",
}

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(rb"\?=[ \t\r\n]+=\?")


def _codec(charset: str) -> str | None:
    name = charset.strip().strip('"').lower().split("*", 1)[0]  # RFC 2231 language suffix
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode with the declared charset when known, else UTF-8, GB18030, Latin-1."""
    if charset:
        codec = _codec(charset)
        if codec is not None:
            try:
                return data.decode(codec)
            except (UnicodeDecodeError, ValueError):
                pass
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _decode_word(charset: bytes, kind: bytes, text: bytes) -> bytes | None:
    try:
        if kind in (b"B", b"b"):
            data = base64.b64decode(text + b"=" * (-len(text) % 4))
        else:
            data = binascii.a2b_qp(text.replace(b"_", b" "), header=True)
    except (binascii.Error, ValueError):
        return None
    codec = _codec(charset.decode("latin-1"))
    if codec is None:
        return None
    return data.decode(codec, "replace").encode("utf-8")


def decode_header(value: bytes) -> str:
    """An unfolded header value with RFC 2047 encoded words decoded."""
    value = value.replace(b"\r\n", b"").replace(b"\n", b"")
    # whitespace between adjacent encoded words is not displayed (RFC 2047 §6.2)
    value = _BETWEEN_WORDS.sub(b"?==?", value)
    out: list[str] = []
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        decoded = _decode_word(m.group(1), m.group(2), m.group(3))
        if decoded is None:
            continue
        out.append(decode_bytes(value[pos : m.start()]))
        out.append(decoded.decode("utf-8"))
        pos = m.end()
    out.append(decode_bytes(value[pos:]))
    return "".join(out)


def header_text(
    raw: bytes, root: MimePart, names: tuple[str, ...] = SEARCH_HEADERS
) -> dict[str, str]:
    """Decoded values of the named top-level header fields (repeated fields joined by
    newlines), keyed by lower-case name."""
    wanted = {n.lower().encode("latin-1") for n in names}
    found: dict[str, list[str]] = {}
    for name, value, _chunk in split_header_fields(raw[root.offset : root.body_offset]):
        if name in wanted:
            found.setdefault(name.decode("latin-1"), []).append(decode_header(value))
    return {k: "\n".join(v) for k, v in found.items()}


_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"<[^>]*>")
_BLOCK = re.compile(r"<(br|p|div|tr|li|h[1-6])\b[^>]*>", re.I)


def html_to_text(markup: str) -> str:
    """Crude HTML to text: drop scripts, styles and tags, unescape entities."""
    markup = _SCRIPT.sub(" ", markup)
    markup = _BLOCK.sub("\n", markup)
    return html.unescape(_TAG.sub("", markup))


def body_text(raw: bytes, root: MimePart) -> str:
    """The decoded text of all text/* parts, joined by newlines (for SEARCH BODY/TEXT)."""
    chunks: list[str] = []
    stack = [root]
    while stack:
        part = stack.pop()
        if part.children:
            stack.extend(reversed(part.children))
            continue
        if part.multipart or part.message or not part.is_text:
            continue
        body = raw[part.body_offset : part.end]
        try:
            body = decode_transfer_encoding(body, part.transfer_encoding)
        except UnknownTransferEncoding:
            continue
        text = decode_bytes(body, part.charset).replace("\r\n", "\n")
        if part.media_type == "text/html":
            text = html_to_text(text)
        chunks.append(text)
    return "\n".join(chunks)


def decode_rfc2231(value: bytes) -> str:
    """Decode an RFC 2231 extended value ``charset'language'%XX..``."""
    parts = value.split(b"'", 2)
    if len(parts) != 3:
        return decode_bytes(urllib.parse.unquote_to_bytes(value))
    charset, _language, encoded = parts
    data = urllib.parse.unquote_to_bytes(encoded)
    return decode_bytes(data, charset.decode("latin-1") or None)


def part_filename(part: MimePart) -> str | None:
    """The attachment's file name for people: Content-Disposition filename, else the
    Content-Type name; RFC 2231 (``filename*=UTF-8''%E6..``) and RFC 2047-in-quotes
    (``filename="=?UTF-8?B?..?="``) both decoded."""
    for params in (part.disposition_params, part.params):
        for wanted in (b"filename*", b"name*"):
            for key, value in params:
                if key.lower() == wanted:
                    return decode_rfc2231(value)
        for wanted in (b"filename", b"name"):
            for key, value in params:
                if key.lower() == wanted:
                    return decode_header(value)
    return None
