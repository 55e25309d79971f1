"""MIME structure index of a raw RFC 5322 message: bytes in, offsets and fields out.

The index is computed once per message (`index_message`) and is what FETCH needs to answer
BODYSTRUCTURE, ENVELOPE and BODY[section] without parsing the message again. It records, for
every part, where its header and body lie in the original bytes, plus the raw (undecoded)
Content-* fields; header values are `bytes` so rendering stays byte-exact for 8-bit input.
`part_to_json`/`part_from_json` turn the index into JSON-compatible data for caching in SQL.

Scanning uses `bytes.find` and never raises: a malformed part is indexed as well as it can
be (no Content-Type means text/plain; a multipart without boundary has no children; a
missing final boundary ends the part at the end of its parent), following Dovecot 2.3.
Pure functions only, no I/O (STYLE.md habit 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailgate.protocols.imap.mimefields import (
    parse_content_type,
    parse_language,
    parse_params,
    parse_token,
    skip_cfws,
    split_header_fields,
    unfold,
)

__all__ = [
    "Envelope",
    "MimePart",
    "index_message",
    "parse_params",
    "part_from_json",
    "part_to_json",
    "split_header_fields",
    "unfold",
]

MAX_DEPTH = 40
"""Nesting deeper than this is not parsed further (the part stays a leaf)."""
MAX_PARTS = 5000
"""At most this many parts are indexed per message; the rest are left unparsed."""

_ENVELOPE_FIELDS = {
    b"date": "date",
    b"subject": "subject",
    b"from": "from_",
    b"sender": "sender",
    b"reply-to": "reply_to",
    b"to": "to",
    b"cc": "cc",
    b"bcc": "bcc",
    b"in-reply-to": "in_reply_to",
    b"message-id": "message_id",
}


@dataclass(frozen=True, slots=True)
class Envelope:
    """Raw, unfolded values of the header fields ENVELOPE is built from (first occurrence)."""

    date: bytes | None = None
    subject: bytes | None = None
    from_: bytes | None = None
    sender: bytes | None = None
    reply_to: bytes | None = None
    to: bytes | None = None
    cc: bytes | None = None
    bcc: bytes | None = None
    in_reply_to: bytes | None = None
    message_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class MimePart:
    """One node of the MIME tree with offsets into the original message bytes.

    `raw[offset:body_offset]` is the part's header (incl. the blank line when present),
    `raw[body_offset:end]` its body; `lines` counts its LFs (text/* and message/rfc822
    parts only, 0 for others). A multipart has its parts in `children`; a
    message/rfc822 part has exactly one child, the encapsulated message, which carries an
    `envelope` (so does the top-level message). Content-* values are raw bytes as written
    (case kept, as Dovecot reports them); `params` have RFC 2231 continuations joined.
    """

    offset: int
    body_offset: int
    end: int
    lines: int
    content_type: bytes | None = None
    content_subtype: bytes | None = None
    params: tuple[tuple[bytes, bytes], ...] = ()
    transfer_encoding: bytes | None = None
    content_id: bytes | None = None
    description: bytes | None = None
    md5: bytes | None = None
    disposition: bytes | None = None
    disposition_params: tuple[tuple[bytes, bytes], ...] = ()
    language: tuple[bytes, ...] | None = None
    location: bytes | None = None
    multipart: bool = False
    message: bool = False
    children: tuple[MimePart, ...] = ()
    envelope: Envelope | None = None

    @property
    def size(self) -> int:
        """Body size in octets."""
        return self.end - self.body_offset

    @property
    def media_type(self) -> str:
        """Lower-case ``type/subtype`` as a client would see it (default text/plain)."""
        if self.message:
            return "message/rfc822"
        if self.content_type is None:
            return "text/plain"
        sub = (self.content_subtype or b"").decode("latin-1").lower()
        return self.content_type.decode("latin-1").lower() + "/" + sub

    @property
    def is_text(self) -> bool:
        return not self.message and self.media_type.startswith("text/")

    def param(self, name: str) -> bytes | None:
        """A Content-Type parameter by case-insensitive name (raw value)."""
        return _lookup(self.params, name)

    def disposition_param(self, name: str) -> bytes | None:
        return _lookup(self.disposition_params, name)

    @property
    def charset(self) -> str:
        """Declared charset, lower case; ``us-ascii`` when text without one."""
        value = self.param("charset")
        return value.decode("latin-1").strip().lower() if value else "us-ascii"

    @property
    def encoding(self) -> str:
        """Content-Transfer-Encoding, lower case; ``7bit`` when absent."""
        if self.transfer_encoding is None:
            return "7bit"
        return self.transfer_encoding.decode("latin-1").lower()


def _lookup(params: tuple[tuple[bytes, bytes], ...], name: str) -> bytes | None:
    key = name.encode("latin-1").lower()
    for k, v in params:
        if k.lower() == key:
            return v
    return None


# --------------------------------------------------------------------------- structure


class _Budget:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = 0


def _header_end(raw: bytes, start: int, end: int) -> tuple[int, bool]:
    """Where the body starts; the flag tells whether a blank line terminated the header."""
    if start >= end:
        return start, True
    if raw.startswith(b"\r\n", start):
        return start + 2, True
    if raw[start] == 10:
        return start + 1, True
    a = raw.find(b"\n\r\n", start, end)
    b = raw.find(b"\n\n", start, a + 2 if a >= 0 else end)
    if a >= 0 and (b < 0 or a < b):
        return a + 3, True
    if b >= 0:
        return b + 2, True
    return end, False


def index_message(raw: bytes) -> MimePart:
    """Index a whole message (never raises for any input bytes)."""
    return _parse_part(
        raw, 0, len(raw), root_message=True, digest_child=False, depth=0, budget=_Budget()
    )


def _parse_part(
    raw: bytes,
    start: int,
    end: int,
    *,
    root_message: bool,
    digest_child: bool,
    depth: int,
    budget: _Budget,
) -> MimePart:
    budget.parts += 1
    body_offset, terminated = _header_end(raw, start, end)
    if not terminated and start < end and end < len(raw):
        # Dovecot's header parser consumes the line break in front of the boundary when a
        # header block is not terminated: the header (and the part) end after it.
        if raw.startswith(b"\r\n", end):
            body_offset = end = end + 2
        elif raw.startswith(b"\n", end):
            body_offset = end = end + 1
    fields = split_header_fields(raw[start:body_offset])

    ctype: bytes | None = None
    csub: bytes | None = None
    params: tuple[tuple[bytes, bytes], ...] = ()
    seen_type = False
    values: dict[str, Any] = {}
    env: dict[str, bytes] = {}
    for name, value, _chunk in fields:
        if root_message:
            attr = _ENVELOPE_FIELDS.get(name)
            if attr is not None and attr not in env:
                env[attr] = value
        if not name.startswith(b"content-"):
            continue
        sub = name[8:]
        if sub == b"type":
            if not seen_type:
                seen_type = True
                ctype, csub, pos = parse_content_type(value)
                if ctype is not None:
                    params = parse_params(value, pos)
        elif sub == b"transfer-encoding":
            if "transfer_encoding" not in values:
                tok, _ = parse_token(value, skip_cfws(value, 0))
                values["transfer_encoding"] = tok or None
        elif sub == b"id":
            values.setdefault("content_id", value)
        elif sub == b"description":
            values.setdefault("description", value)
        elif sub == b"md5":
            values.setdefault("md5", value)
        elif sub == b"location":
            values.setdefault("location", value)
        elif sub == b"language":
            if "language" not in values:
                values["language"] = parse_language(value)
        elif sub == b"disposition" and "disposition" not in values:
            tok, pos = parse_token(value, skip_cfws(value, 0))
            if tok:
                values["disposition"] = tok
                values["disposition_params"] = parse_params(value, pos)

    if ctype is None and digest_child:
        lower_type, lower_sub = b"message", b"rfc822"
    else:
        lower_type = (ctype or b"text").lower()
        lower_sub = (csub or b"").lower()
    deep_ok = depth < MAX_DEPTH and budget.parts < MAX_PARTS
    multipart = lower_type == b"multipart"
    message = lower_type == b"message" and lower_sub == b"rfc822"
    children: tuple[MimePart, ...] = ()
    if multipart and deep_ok:
        boundary = _lookup(params, "boundary")
        if boundary:
            regions, closed_at = _split_multipart(raw, body_offset, end, boundary)
            children = tuple(
                _parse_part(
                    raw,
                    s,
                    e,
                    root_message=False,
                    digest_child=lower_sub == b"digest",
                    depth=depth + 1,
                    budget=budget,
                )
                for s, e in regions
            )
            if closed_at == end and end < len(raw):
                # the close delimiter line is consumed whole, line break included (Dovecot)
                end += 2 if raw.startswith(b"\r\n", end) else int(raw.startswith(b"\n", end))
    elif message and deep_ok:
        child = _parse_part(
            raw,
            body_offset,
            end,
            root_message=True,
            digest_child=False,
            depth=depth + 1,
            budget=budget,
        )
        children = (child,)
        end = max(end, child.end)
    elif message:
        message = False  # too deep: report it as an opaque part
    envelope = Envelope(**env) if root_message else None
    return MimePart(
        offset=start,
        body_offset=body_offset,
        end=end,
        # only text/* and message/rfc822 report lines; counting costs a scan of the body
        lines=raw.count(b"\n", body_offset, end) if message or lower_type == b"text" else 0,
        content_type=ctype,
        content_subtype=csub,
        params=params,
        multipart=multipart,
        message=message,
        children=children,
        envelope=envelope,
        **values,
    )


def _split_multipart(
    raw: bytes, start: int, end: int, boundary: bytes
) -> tuple[list[tuple[int, int]], int]:
    """Regions ``(start, end)`` of the parts between boundary lines in ``raw[start:end]``.

    The line break before a boundary line belongs to the boundary. Lines are matched by
    prefix (``--boundary`` at the start of a line), like Dovecot. A missing close
    delimiter leaves the last part running to *end*. Also returns where the close
    delimiter line ends before its line break (-1 when there is none).
    """
    delim = b"--" + boundary
    regions: list[tuple[int, int]] = []
    part_start = -1
    pos = start
    while pos <= end:
        hit = raw.find(delim, pos, end)
        if hit < 0:
            break
        if hit != start and raw[hit - 1] != 10:
            pos = hit + 1
            continue
        if part_start >= 0:
            part_end = hit
            if part_end > part_start and raw[part_end - 1] == 10:
                part_end -= 1
                if part_end > part_start and raw[part_end - 1] == 13:
                    part_end -= 1
            regions.append((part_start, max(part_start, part_end)))
        after = hit + len(delim)
        if raw.startswith(b"--", after):
            nl = raw.find(b"\n", after, end)
            line_end = end if nl < 0 else nl
            if line_end > after and raw[line_end - 1] == 13 and nl >= 0:
                line_end -= 1
            return regions, line_end
        nl = raw.find(b"\n", after, end)
        part_start = end if nl < 0 else nl + 1
        pos = part_start
    if part_start >= 0:
        regions.append((part_start, end))
    return regions, -1


# --------------------------------------------------------------------------- JSON form


def _enc(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _dec(value: Any) -> bytes | None:
    return None if value is None else str(value).encode("latin-1")


def _enc_pairs(pairs: tuple[tuple[bytes, bytes], ...]) -> list[list[str]]:
    return [[k.decode("latin-1"), v.decode("latin-1")] for k, v in pairs]


def _dec_pairs(pairs: Any) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in pairs)


_ENV_ORDER = (
    "date",
    "subject",
    "from_",
    "sender",
    "reply_to",
    "to",
    "cc",
    "bcc",
    "in_reply_to",
    "message_id",
)


def part_to_json(part: MimePart) -> dict[str, Any]:
    """JSON-compatible form of the index (byte values as latin-1 strings, 1 char = 1 byte)."""
    out: dict[str, Any] = {"o": [part.offset, part.body_offset, part.end, part.lines]}
    for key in (
        "content_type",
        "content_subtype",
        "transfer_encoding",
        "content_id",
        "description",
        "md5",
        "disposition",
        "location",
    ):
        value = getattr(part, key)
        if value is not None:
            out[key] = _enc(value)
    if part.params:
        out["params"] = _enc_pairs(part.params)
    if part.disposition_params:
        out["disposition_params"] = _enc_pairs(part.disposition_params)
    if part.language is not None:
        out["language"] = [x.decode("latin-1") for x in part.language]
    if part.multipart:
        out["multipart"] = True
    if part.message:
        out["message"] = True
    if part.children:
        out["children"] = [part_to_json(c) for c in part.children]
    if part.envelope is not None:
        out["envelope"] = [_enc(getattr(part.envelope, k)) for k in _ENV_ORDER]
    return out


def part_from_json(data: dict[str, Any]) -> MimePart:
    """Inverse of `part_to_json`."""
    offset, body_offset, end, lines = (int(x) for x in data["o"])
    envelope = None
    if "envelope" in data:
        envelope = Envelope(
            **{k: _dec(v) for k, v in zip(_ENV_ORDER, data["envelope"], strict=True)}
        )
    language = data.get("language")
    return MimePart(
        offset=offset,
        body_offset=body_offset,
        end=end,
        lines=lines,
        content_type=_dec(data.get("content_type")),
        content_subtype=_dec(data.get("content_subtype")),
        params=_dec_pairs(data.get("params", ())),
        transfer_encoding=_dec(data.get("transfer_encoding")),
        content_id=_dec(data.get("content_id")),
        description=_dec(data.get("description")),
        md5=_dec(data.get("md5")),
        disposition=_dec(data.get("disposition")),
        disposition_params=_dec_pairs(data.get("disposition_params", ())),
        language=None if language is None else tuple(str(x).encode("latin-1") for x in language),
        location=_dec(data.get("location")),
        multipart=bool(data.get("multipart", False)),
        message=bool(data.get("message", False)),
        children=tuple(part_from_json(c) for c in data.get("children", ())),
        envelope=envelope,
    )
