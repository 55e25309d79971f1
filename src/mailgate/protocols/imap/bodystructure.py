"""BODY and BODYSTRUCTURE fetch items rendered from a `MimePart` index.

RFC 3501 §7.4.2 / RFC 9051 §7.5.2 with Dovecot 2.3's conventions: text parts get a
default ``("charset" "us-ascii")``, a missing Content-Transfer-Encoding is ``"7bit"``, a part
without Content-Type is ``"text" "plain"``, message/rfc822 carries the encapsulated
envelope, body and line count, a multipart without parts reports one empty text/plain
part. BODYSTRUCTURE adds the extension data (MD5, disposition, language, location; for
multiparts the parameters first).
"""

from __future__ import annotations

from mailgate.protocols.imap.envelope import imap_nstring, render_envelope
from mailgate.protocols.imap.mime import MimePart

__all__ = ["render_body", "render_bodystructure"]

_EMPTY_BODY = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0'
_DEFAULT_CHARSET = (b"charset", b"us-ascii")


def render_bodystructure(root: MimePart) -> bytes:
    """The BODYSTRUCTURE value, including its outer parentheses."""
    if _is_plain_7bit(root):
        return b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d NIL NIL NIL NIL)' % (
            root.size,
            root.lines,
        )
    out = bytearray()
    _write(root, out, extended=True)
    return bytes(out)


def render_body(root: MimePart) -> bytes:
    """The non-extensible BODY value, including its outer parentheses."""
    if _is_plain_7bit(root):
        return b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d)' % (
            root.size,
            root.lines,
        )
    out = bytearray()
    _write(root, out, extended=False)
    return bytes(out)


def _is_plain_7bit(part: MimePart) -> bool:
    """Dovecot answers such a top-level part with its fixed default text."""
    if part.multipart or part.message:
        return False
    if part.content_type is not None and part.content_type.lower() != b"text":
        return False
    if part.content_subtype is not None and part.content_subtype.lower() != b"plain":
        return False
    if part.params and not (
        len(part.params) == 1
        and part.params[0][0].lower() == b"charset"
        and part.params[0][1].lower() == b"us-ascii"
    ):
        return False
    if part.transfer_encoding is not None and part.transfer_encoding.lower() != b"7bit":
        return False
    return (
        part.content_id is None
        and part.description is None
        and part.md5 is None
        and part.disposition is None
        and part.language is None
        and part.location is None
    )


def _params(params: tuple[tuple[bytes, bytes], ...]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(imap_nstring(k) + b" " + imap_nstring(v) for k, v in params) + b")"


def _write(part: MimePart, out: bytearray, extended: bool) -> None:
    out += b"("
    if part.multipart:
        if part.children:
            for child in part.children:
                _write(child, out, extended)
        else:
            out += _EMPTY_BODY + (b" NIL NIL NIL NIL)" if extended else b")")
        out += b" " + imap_nstring(part.content_subtype or b"")
        if extended:
            out += b" " + _params(part.params)
            _write_common(part, out)
        out += b")"
        return
    text = False
    if part.message:
        out += b'"message" "rfc822"'
    elif part.content_type is None:
        text = True
        out += b'"text" "plain"'
    else:
        text = part.content_type.lower() == b"text"
        out += imap_nstring(part.content_type) + b" " + imap_nstring(part.content_subtype or b"")
    params = part.params
    if text and not any(k.lower() == b"charset" for k, _ in params):
        params = (*params, _DEFAULT_CHARSET)
    out += b" " + _params(params)
    out += b" " + imap_nstring(part.content_id)
    out += b" " + imap_nstring(part.description)
    out += b" " + (
        b'"7bit"' if part.transfer_encoding is None else imap_nstring(part.transfer_encoding)
    )
    out += b" %d" % part.size
    if text:
        out += b" %d" % part.lines
    elif part.message and part.children:
        inner = part.children[0]
        out += b" " + render_envelope(inner.envelope) + b" "
        _write(inner, out, extended)
        out += b" %d" % part.lines
    if extended:
        out += b" " + imap_nstring(part.md5)
        _write_common(part, out)
    out += b")"


def _write_common(part: MimePart, out: bytearray) -> None:
    if part.disposition is None:
        out += b" NIL"
    else:
        out += b" (" + imap_nstring(part.disposition) + b" " + _params(part.disposition_params)
        out += b")"
    if part.language is None:
        out += b" NIL"
    else:
        out += b" (" + b" ".join(imap_nstring(x) for x in part.language) + b")"
    out += b" " + imap_nstring(part.location)
