"""IMAP string quoting, RFC 5322 address lists and the ENVELOPE fetch item.

Follows RFC 3501 §7.4.2 / RFC 9051 §7.5.2 and Dovecot 2.3's choices where the RFCs leave
room: values are the raw (undecoded) unfolded header values; a string with CR, LF, 8-bit
bytes or more than four quoted-specials is sent as a literal; the subject and display
names are "strings for humans" (whitespace runs collapsed, CR/LF dropped); sender and
reply-to default to from; group syntax gives ``(NIL NIL "group" NIL) ... (NIL NIL NIL NIL)``;
an address without mailbox or domain gets ``MISSING_MAILBOX``/``MISSING_DOMAIN``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailgate.protocols.imap.mime import Envelope

__all__ = [
    "Address",
    "imap_nstring",
    "imap_string_for_humans",
    "parse_addresses",
    "render_address_list",
    "render_envelope",
]

_MAX_ESCAPES = 4


def imap_nstring(value: bytes | None) -> bytes:
    """NIL, a quoted string, or a ``{n}\\r\\n`` literal (Dovecot's ``imap_append_nstring``)."""
    if value is None:
        return b"NIL"
    escapes = 0
    for c in value:
        if c in (34, 92):
            escapes += 1
            if escapes > _MAX_ESCAPES:
                return _literal(value)
        elif c in (13, 10) or c >= 0x80 or c == 0:
            return _literal(value)
    if escapes:
        value = value.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + value + b'"'


def _literal(value: bytes) -> bytes:
    return b"{%d}\r\n" % len(value) + value


def imap_string_for_humans(value: bytes) -> bytes:
    """Quote text meant for people: tabs/space runs become one space, CR/LF vanish, the
    value is trimmed, NUL becomes 0x80; written as a literal when anything was changed or
    it contains quotes, backslashes or 8-bit bytes (Dovecot ``imap_append_string_for_humans``).
    """
    plain = True
    last_space = True
    for c in value:
        if c in (13, 10, 9, 0, 34, 92) or c >= 0x80 or (c == 32 and last_space):
            plain = False
            break
        last_space = c == 32
    if plain and not last_space:
        return b'"' + value + b'"'
    if plain and not value:
        return b'""'
    out = bytearray()
    last_space = True
    for c in value:
        if c in (9, 32):
            if not last_space:
                out.append(32)
            last_space = True
        elif c in (13, 10):
            continue
        else:
            out.append(0x80 if c == 0 else c)
            last_space = False
    if out and out[-1] == 32:
        del out[-1]
    if not out:
        return b'""'
    return _literal(bytes(out))


@dataclass(frozen=True, slots=True)
class Address:
    """One IMAP address: ``(name adl mailbox host)``; groups are encoded as in RFC 3501."""

    name: bytes | None
    route: bytes | None
    mailbox: bytes | None
    host: bytes | None


_SPECIALS = frozenset(b'()<>@,;:\\".[]')


class _Scanner:
    __slots__ = ("i", "s")

    def __init__(self, s: bytes) -> None:
        self.s = s
        self.i = 0

    def peek(self) -> int:
        return self.s[self.i] if self.i < len(self.s) else -1

    def skip_cfws(self) -> bytes:
        """Skip whitespace and comments; return the last comment's text (for a name)."""
        s = self.s
        comment = b""
        while self.i < len(s):
            c = s[self.i]
            if c in (32, 9, 13, 10):
                self.i += 1
            elif c == 40:
                depth = 0
                start = self.i + 1
                while self.i < len(s):
                    c = s[self.i]
                    if c == 92:
                        self.i += 2
                        continue
                    if c == 40:
                        depth += 1
                    elif c == 41:
                        depth -= 1
                        if depth == 0:
                            break
                    self.i += 1
                comment = s[start : min(self.i, len(s))]
                self.i += 1
            else:
                break
        return comment

    def word(self) -> bytes | None:
        """An atom or quoted string (unescaped), or None."""
        s = self.s
        if self.i < len(s) and s[self.i] == 34:
            out = bytearray()
            self.i += 1
            while self.i < len(s):
                c = s[self.i]
                if c == 34:
                    self.i += 1
                    return bytes(out)
                if c == 92 and self.i + 1 < len(s):
                    self.i += 1
                    c = s[self.i]
                out.append(c)
                self.i += 1
            return bytes(out)
        j = self.i
        while j < len(s) and s[j] > 32 and s[j] not in _SPECIALS and s[j] != 127:
            j += 1
        if j == self.i:
            return None
        word = s[self.i : j]
        self.i = j
        return word

    def dot_words(self, allow_space: bool) -> bytes:
        """``word *("." word)``; with *allow_space* a phrase of words joined by one space."""
        parts: list[bytes] = []
        while True:
            self.skip_cfws()
            w = self.word()
            if w is None:
                if self.peek() == 46:  # obsolete "." in phrase / local part
                    self.i += 1
                    parts.append(b".")
                    continue
                break
            if parts and allow_space and parts[-1] != b".":
                parts.append(b" ")
            parts.append(w)
            if not allow_space:
                save = self.i
                self.skip_cfws()
                if self.peek() != 46:
                    self.i = save  # leave a trailing comment for the caller
                    break
                self.i += 1
                parts.append(b".")
        return b"".join(parts)


def _domain(sc: _Scanner) -> bytes:
    sc.skip_cfws()
    if sc.peek() == 91:  # domain literal
        end = sc.s.find(b"]", sc.i)
        end = len(sc.s) if end < 0 else end + 1
        value = sc.s[sc.i : end]
        sc.i = end
        return value
    return sc.dot_words(allow_space=False)


def _angle_addr(sc: _Scanner, name: bytes | None) -> Address:
    sc.i += 1  # "<"
    sc.skip_cfws()
    route = None
    if sc.peek() == 64:  # obsolete route "@a,@b:"
        start = sc.i
        colon = sc.s.find(b":", sc.i)
        close = sc.s.find(b">", sc.i)
        if colon >= 0 and (close < 0 or colon < close):
            route = sc.s[start:colon]
            sc.i = colon + 1
    local = sc.dot_words(allow_space=False)
    domain = b""
    sc.skip_cfws()
    if sc.peek() == 64:
        sc.i += 1
        domain = _domain(sc)
    sc.skip_cfws()
    close = sc.s.find(b">", sc.i)
    sc.i = len(sc.s) if close < 0 else close + 1
    return Address(name or None, route, local or b"MISSING_MAILBOX", domain or b"MISSING_DOMAIN")


def _mailbox(sc: _Scanner) -> Address | None:
    """Parse one mailbox (name-addr or addr-spec); None when nothing could be read."""
    start = sc.i
    comment = sc.skip_cfws()
    if sc.peek() == 60:
        return _angle_addr(sc, None)
    phrase = sc.dot_words(allow_space=True)
    comment = sc.skip_cfws() or comment
    c = sc.peek()
    if c == 60:
        return _angle_addr(sc, phrase)
    if c == 58:  # group start: caller handles
        sc.i = start
        return None
    # addr-spec: read again as a local part (quoted strings keep their spaces)
    sc.i = start
    sc.skip_cfws()
    local = sc.dot_words(allow_space=False)
    comment = sc.skip_cfws() or comment
    c = sc.peek()
    domain = b""
    if c == 64:
        sc.i += 1
        domain = _domain(sc)
        comment = sc.skip_cfws() or comment
    if not local and not domain and sc.i == start:
        return None
    name = comment.strip() or None
    return Address(name, None, local or b"MISSING_MAILBOX", domain or b"MISSING_DOMAIN")


def _skip_to_separator(sc: _Scanner, stops: bytes) -> None:
    while sc.i < len(sc.s) and sc.s[sc.i] not in stops:
        if sc.s[sc.i] == 34:
            sc.word()
        else:
            sc.i += 1


def parse_addresses(value: bytes) -> list[Address]:
    """Parse an address-list header value into IMAP addresses (groups as start/end markers).

    Never raises; unparseable pieces are skipped.
    """
    sc = _Scanner(value)
    out: list[Address] = []
    in_group = False
    guard = 0
    while sc.i < len(sc.s) and guard < 10000:
        guard += 1
        before = sc.i
        sc.skip_cfws()
        c = sc.peek()
        if c == -1:
            break
        if c == 44:
            sc.i += 1
            continue
        if c == 59 and in_group:
            sc.i += 1
            out.append(Address(None, None, None, None))
            in_group = False
            continue
        if not in_group:
            save = sc.i
            phrase = sc.dot_words(allow_space=True)
            sc.skip_cfws()
            if sc.peek() == 58 and phrase:
                sc.i += 1
                out.append(Address(None, None, phrase, None))
                in_group = True
                continue
            sc.i = save
        addr = _mailbox(sc)
        if addr is not None:
            out.append(addr)
        _skip_to_separator(sc, b",;" if in_group else b",")
        if sc.i == before:
            sc.i += 1
    if in_group:
        out.append(Address(None, None, None, None))
    return out


def render_address_list(value: bytes | None) -> bytes:
    """``((name adl mailbox host) ...)`` or NIL for a missing/empty header."""
    if value is None:
        return b"NIL"
    addresses = parse_addresses(value)
    if not addresses:
        return b"NIL"
    out = bytearray(b"(")
    for a in addresses:
        out += b"("
        out += b"NIL" if a.name is None else imap_string_for_humans(a.name)
        out += b" " + imap_nstring(a.route) + b" " + imap_nstring(a.mailbox)
        out += b" " + imap_nstring(a.host) + b")"
    out += b")"
    return bytes(out)


def render_envelope(env: Envelope | None) -> bytes:
    """The parenthesised ENVELOPE value (including the outer parentheses)."""
    if env is None:
        env = Envelope()
    from_ = render_address_list(env.from_)
    sender = from_ if env.sender is None else render_address_list(env.sender)
    reply_to = from_ if env.reply_to is None else render_address_list(env.reply_to)
    subject = b"NIL" if env.subject is None else imap_string_for_humans(env.subject)
    return (
        b"("
        + b" ".join(
            (
                imap_nstring(env.date),
                subject,
                from_,
                sender,
                reply_to,
                render_address_list(env.to),
                render_address_list(env.cc),
                render_address_list(env.bcc),
                imap_nstring(env.in_reply_to),
                imap_nstring(env.message_id),
            )
        )
        + b")"
    )
