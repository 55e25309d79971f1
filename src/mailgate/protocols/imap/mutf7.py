"""Modified UTF-7 for IMAP mailbox names (RFC 3501 section 5.1.3).

Printable US-ASCII (0x20-0x7E) stands for itself except ``&``, which is written ``&-``;
every other character is UTF-16BE, base64-encoded with ``,`` instead of ``/`` and no
padding, between ``&`` and ``-``.  Decoding is strict: only the canonical encoding of a
name is accepted, so two different byte strings never name the same mailbox.
"""

from __future__ import annotations

import binascii
import re

__all__ = ["MUTF7Error", "decode", "encode"]

_PLAIN = re.compile(rb"[\x20-\x25\x27-\x7e]*")
_NON_PRINTABLE_RUN = re.compile(r"[^\x20-\x7e]+")


class MUTF7Error(ValueError):
    """The bytes are not a canonical modified UTF-7 mailbox name."""


def _encode_run(match: re.Match[str]) -> str:
    raw = match.group().encode("utf-16-be", "surrogatepass")
    b64 = binascii.b2a_base64(raw, newline=False).rstrip(b"=").replace(b"/", b",")
    return "&" + b64.decode("ascii") + "-"


def encode(name: str) -> bytes:
    """Encode a mailbox name to modified UTF-7 bytes."""
    if name.isascii() and name.isprintable() and "&" not in name:
        return name.encode("ascii")
    escaped = name.replace("&", "&-")
    return _NON_PRINTABLE_RUN.sub(_encode_run, escaped).encode("ascii")


def decode(data: bytes) -> str:
    """Decode canonical modified UTF-7; raise :class:`MUTF7Error` on anything else."""
    if _PLAIN.fullmatch(data) is not None:
        return data.decode("ascii")
    out: list[str] = []
    pos = 0
    end = len(data)
    while pos < end:
        amp = data.find(b"&", pos)
        if amp < 0:
            amp = end
        plain = data[pos:amp]
        if _PLAIN.fullmatch(plain) is None:
            raise MUTF7Error("mailbox name has 8-bit or control characters")
        out.append(plain.decode("ascii"))
        if amp == end:
            break
        dash = data.find(b"-", amp + 1)
        if dash < 0:
            raise MUTF7Error("unterminated '&' shift sequence")
        b64 = data[amp + 1 : dash]
        pos = dash + 1
        if not b64:
            out.append("&")
            continue
        out.append(_decode_b64(b64))
    result = "".join(out)
    if encode(result) != data:
        raise MUTF7Error("mailbox name is not in canonical modified UTF-7")
    return result


def _decode_b64(b64: bytes) -> str:
    if b"/" in b64 or b"=" in b64:
        raise MUTF7Error("invalid base64 in shift sequence")
    padded = b64.replace(b",", b"/") + b"=" * (-len(b64) % 4)
    try:
        raw = binascii.a2b_base64(padded, strict_mode=True)
        return raw.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise MUTF7Error("invalid shift sequence") from exc
