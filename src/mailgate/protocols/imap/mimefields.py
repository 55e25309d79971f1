"""Header-field level parsing for the MIME index: unfolding, field splitting, Content-Type
tokens, RFC 2045 parameters with RFC 2231 continuations, Content-Language.

Values stay raw bytes (no charset decoding) so the IMAP renderers can be byte-exact; the
behaviour follows Dovecot 2.3 where the RFCs leave choices. Pure functions, never raise.
"""

from __future__ import annotations

__all__ = [
    "parse_content_type",
    "parse_language",
    "parse_params",
    "parse_token",
    "skip_cfws",
    "split_header_fields",
    "unfold",
]

_LWSP = b" \t"


def unfold(value: bytes) -> bytes:
    """Remove the line breaks of a folded value, keeping the folding whitespace (as Dovecot)."""
    if b"\n" not in value:
        return value
    return value.replace(b"\r\n", b"").replace(b"\n", b"")


def split_header_fields(header: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """Split a header block into ``(lower-case name, unfolded value, raw field bytes)``.

    The raw bytes include the field's continuation lines and line endings. Lines without a
    colon are kept with an empty name so that HEADER.FIELDS.NOT can still return them.
    The terminating blank line is not part of any field.
    """
    fields: list[tuple[bytes, bytes, bytes]] = []
    pos = 0
    n = len(header)
    start = -1
    while pos < n:
        nl = header.find(b"\n", pos)
        line_end = n if nl < 0 else nl + 1
        first = header[pos : pos + 1]
        if first in (b"\r", b"\n") and header[pos:line_end].strip(b"\r\n") == b"":
            break  # blank line: end of header
        if first in (b" ", b"\t") and start >= 0:
            pos = line_end
            continue
        if start >= 0:
            fields.append(_make_field(header[start:pos]))
        start = pos
        pos = line_end
    if start >= 0:
        fields.append(_make_field(header[start:pos]))
    return fields


def _make_field(chunk: bytes) -> tuple[bytes, bytes, bytes]:
    colon = chunk.find(b":")
    nl = chunk.find(b"\n")
    if colon < 0 or (0 <= nl < colon):
        return (b"", b"", chunk)
    name = chunk[:colon].rstrip(_LWSP).lower()
    i = colon + 1
    while i < len(chunk) and chunk[i] in (32, 9):
        i += 1  # only the first line's leading whitespace goes, as in Dovecot
    value = unfold(chunk[i:])
    if value.endswith(b"\r"):
        value = value[:-1]
    return (name, value, chunk)


_TSPECIALS = frozenset(b'()<>@,;:\\"/[]?=')


def skip_cfws(s: bytes, i: int) -> int:
    n = len(s)
    while i < n:
        c = s[i]
        if c in (32, 9, 13, 10):
            i += 1
        elif c == 40:  # "(" comment, nested
            depth = 0
            while i < n:
                c = s[i]
                if c == 92:
                    i += 2
                    continue
                if c == 40:
                    depth += 1
                elif c == 41:
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
        else:
            break
    return i


def parse_token(s: bytes, i: int) -> tuple[bytes, int]:
    j = i
    n = len(s)
    while j < n:
        c = s[j]
        if c <= 32 or c == 127 or c in _TSPECIALS:
            break
        j += 1
    return s[i:j], j


def _quoted(s: bytes, i: int) -> tuple[bytes, int]:
    """Parse a quoted-string starting at the opening quote; returns unescaped content."""
    out = bytearray()
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == 34:
            return bytes(out), i + 1
        if c == 92 and i + 1 < n:
            i += 1
            c = s[i]
        if c not in (13, 10):
            out.append(c)
        i += 1
    return bytes(out), i


def parse_content_type(value: bytes) -> tuple[bytes | None, bytes | None, int]:
    i = skip_cfws(value, 0)
    ctype, i = parse_token(value, i)
    if not ctype:
        return None, None, i
    i = skip_cfws(value, i)
    if i < len(value) and value[i] == 47:  # "/"
        i = skip_cfws(value, i + 1)
        sub, i = parse_token(value, i)
        return ctype, sub, i
    return ctype, b"", i


def parse_params(value: bytes, i: int = 0) -> tuple[tuple[bytes, bytes], ...]:
    """Parse ``; name=value`` parameters from position *i*, joining RFC 2231 continuations.

    Like Dovecot, plain parameters come first in their order, then the ``name*``/``name*N``
    ones merged into one value per name (``name*`` when the first segment is extended, its
    raw ``charset'lang'%XX`` value kept undecoded).
    """
    plain: list[tuple[bytes, bytes]] = []
    star: dict[bytes, dict[int, tuple[bool, bytes]]] = {}
    order: list[bytes] = []
    n = len(value)
    while i < n:
        i = skip_cfws(value, i)
        if i >= n:
            break
        if value[i] != 59:  # ";"
            # junk: skip to the next semicolon
            j = value.find(b";", i)
            if j < 0:
                break
            i = j
        i = skip_cfws(value, i + 1)
        name, i = parse_token(value, i)
        i = skip_cfws(value, i)
        if not name or i >= n or value[i] != 61:  # "="
            continue
        i = skip_cfws(value, i + 1)
        if i < n and value[i] == 34:
            val, i = _quoted(value, i)
        else:
            val, i = parse_token(value, i)
        star_pos = name.find(b"*")
        if star_pos < 0:
            plain.append((name, val))
            continue
        base = name[:star_pos]
        rest = name[star_pos + 1 :]
        extended = rest.endswith(b"*") or rest == b""
        digits = rest.rstrip(b"*")
        if rest == b"":
            index = 0
        elif digits.isdigit():
            index = int(digits)
        else:
            plain.append((name, val))
            continue
        key = base.lower()
        if key not in star:
            star[key] = {}
            order.append(base)
        star[key].setdefault(index, (extended, val))
    result = list(plain)
    for base in order:
        segments = star[base.lower()]
        if 0 not in segments:
            continue
        joined = bytearray()
        k = 0
        while k in segments:
            joined += segments[k][1]
            k += 1
        suffix = b"*" if segments[0][0] else b""
        result.append((base + suffix, bytes(joined)))
    return tuple(result)


def parse_language(value: bytes) -> tuple[bytes, ...] | None:
    langs: list[bytes] = []
    i = skip_cfws(value, 0)
    while i < len(value):
        j = i
        while j < len(value) and value[j] not in b" \t\r\n,()":
            j += 1
        if j == i:
            break
        langs.append(value[i:j])
        i = skip_cfws(value, j)
        if i >= len(value) or value[i] != 44:
            break
        i = skip_cfws(value, i + 1)
    return tuple(langs) or None
