"""BODY[section]<partial>, RFC822.* and BINARY[section] content from a `MimePart` index.

Sections follow RFC 3501 §6.4.5 / RFC 9051 §6.4.5: part numbers address the parts of a
multipart (part 1 of a non-multipart is its body), HEADER/TEXT/HEADER.FIELDS apply to the
message or to a message/rfc822 part, MIME to any numbered part. Everything returned is
the original bytes, sliced (byte-identical, CRLF kept); a part that does not exist, or a
HEADER of a part that is not a message, gives ``b""`` as Dovecot does. HEADER.FIELDS
returns the matching fields in their original order followed by a blank line.

BINARY (RFC 3516) decodes base64 and quoted-printable leaf parts; an encoding it cannot
decode raises `UnknownTransferEncoding` (reply ``NO [UNKNOWN-CTE]``).
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Sequence
from typing import Protocol

from mailgate.protocols.imap.mime import MimePart, split_header_fields

__all__ = [
    "SectionLike",
    "UnknownTransferEncoding",
    "binary_content",
    "decode_transfer_encoding",
    "find_part",
    "header_fields",
    "needs_literal8",
    "partial",
    "section_bytes",
]

_IDENTITY = frozenset((b"7bit", b"8bit", b"binary", b""))


class UnknownTransferEncoding(ValueError):
    """A part's Content-Transfer-Encoding cannot be decoded (IMAP: ``NO [UNKNOWN-CTE]``)."""


class SectionLike(Protocol):
    """What a section spec must offer; `commands.Section` from the parser fits.

    ``parts`` are the part numbers, ``text`` is None, "HEADER", "TEXT", "MIME",
    "HEADER.FIELDS" or "HEADER.FIELDS.NOT" and ``headers`` the field names for the last two.
    ``BODY[]`` has no parts and no text; RFC822.HEADER is text "HEADER" without parts.
    """

    @property
    def parts(self) -> tuple[int, ...]: ...

    @property
    def text(self) -> str | None: ...

    @property
    def headers(self) -> tuple[str, ...]: ...


def find_part(root: MimePart, path: Sequence[int]) -> MimePart | None:
    """The part a section number addresses, or None when it does not exist."""
    node = root
    terminal = False  # reached the body of a non-multipart message: nothing below it
    for number in path:
        if terminal:
            return None
        is_message = node is root or node.message
        container = node.children[0] if node.message and node.children else node
        if container.multipart:
            if not 1 <= number <= len(container.children):
                return None
            node = container.children[number - 1]
        elif number == 1:
            # part 1 of a single-part message is its body; a leaf in a multipart is its
            # own part 1 again (Dovecot)
            terminal = is_message
            node = container
        else:
            return None
    return node


def section_bytes(raw: bytes, root: MimePart, section: SectionLike) -> bytes:
    """The original bytes of a BODY[section] (empty when the section does not exist)."""
    node = find_part(root, section.parts)
    if node is None:
        return b""
    text = (section.text or "").upper()
    if not text:
        if not section.parts:
            return raw
        return raw[node.body_offset : node.end]
    if text == "MIME":
        if not section.parts:
            return b""
        return raw[node.offset : node.body_offset]
    if section.parts:
        if not (node.message and node.children):
            return b""
        node = node.children[0]
    if text == "HEADER":
        return raw[node.offset : node.body_offset]
    if text == "TEXT":
        return raw[node.body_offset : node.end]
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return header_fields(
            raw[node.offset : node.body_offset], section.headers, text == "HEADER.FIELDS.NOT"
        )
    return b""


def header_fields(header: bytes, names: Iterable[str], exclude: bool) -> bytes:
    """The header fields named (or, with *exclude*, not named) plus the blank line."""
    wanted = {n.strip().lower().encode("latin-1", "replace") for n in names}
    out = bytearray()
    for name, _value, chunk in split_header_fields(header):
        if not name:
            continue
        if (name in wanted) != exclude:
            out += chunk
            if not chunk.endswith(b"\n"):
                out += b"\r\n"
    # Dovecot leaves the blank line out of HEADER.FIELDS.NOT when the header had none
    terminated = header.endswith((b"\n\r\n", b"\n\n")) or header in (b"\r\n", b"\n")
    if terminated or not exclude:
        out += b"\r\n"
    return bytes(out)


def partial(data: bytes, start: int, count: int | None = None) -> bytes:
    """Apply a ``<start.count>`` partial range (empty when *start* is past the end)."""
    if start >= len(data):
        return b""
    if count is None:
        return data[start:]
    return data[start : start + count]


def decode_transfer_encoding(data: bytes, encoding: bytes | None) -> bytes:
    """Decode base64 / quoted-printable; identity for 7bit/8bit/binary.

    Raises `UnknownTransferEncoding` for anything else. Decoding is lenient: characters
    outside the base64 alphabet are ignored and a truncated final quantum is dropped.
    """
    enc = (encoding or b"").strip().lower()
    if enc in _IDENTITY:
        return data
    if enc == b"base64":
        return _base64(data)
    if enc == b"quoted-printable":
        return binascii.a2b_qp(data)
    raise UnknownTransferEncoding(enc.decode("latin-1", "replace"))


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_DELETE = bytes(c for c in range(256) if c not in _B64_ALPHABET)


def _base64(data: bytes) -> bytes:
    clean = data.translate(None, _B64_DELETE)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:
        return b""


def binary_content(raw: bytes, root: MimePart, part: Sequence[int]) -> bytes:
    """BINARY[part]: the decoded body of a leaf part; multiparts, message/rfc822 parts and
    ``BINARY[]`` return their bytes as they are. Raises `UnknownTransferEncoding`."""
    node = find_part(root, part)
    if node is None:
        return b""
    if not part:
        return raw
    body = raw[node.body_offset : node.end]
    if node.multipart or node.message:
        return body
    return decode_transfer_encoding(body, node.transfer_encoding)


def needs_literal8(data: bytes) -> bool:
    """Whether a BINARY answer must use ``~{n}`` (it holds NUL or 8-bit bytes; Dovecot's rule)."""
    return b"\x00" in data or not data.isascii()
