"""Unit tests of the MIME index, ENVELOPE/BODYSTRUCTURE rendering, sections and search text."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.protocols.imap.bodystructure import render_body, render_bodystructure
from mailgate.protocols.imap.commands import Section
from mailgate.protocols.imap.envelope import (
    imap_nstring,
    imap_string_for_humans,
    parse_addresses,
    render_envelope,
)
from mailgate.protocols.imap.mime import (
    MAX_DEPTH,
    index_message,
    parse_params,
    part_from_json,
    part_to_json,
)
from mailgate.protocols.imap.searchtext import (
    body_text,
    decode_header,
    header_text,
    part_filename,
)
from mailgate.protocols.imap.sections import (
    UnknownTransferEncoding,
    binary_content,
    find_part,
    needs_literal8,
    partial,
    section_bytes,
)

DATA = Path(__file__).parent / "data"


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


# --------------------------------------------------------------------------- RFC examples


def test_rfc3501_envelope_example() -> None:
    raw = crlf(
        "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
        "From: Terry Gray <gray@cac.washington.edu>\n"
        "Subject: IMAP4rev1 WG mtg summary and minutes\n"
        "To: imap@cac.washington.edu\n"
        "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
        "Message-Id: <B27397-0100000@cac.washington.edu>\n"
        "\n"
        "body\n"
    )
    assert render_envelope(index_message(raw).envelope) == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) '
        b'NIL NIL "<B27397-0100000@cac.washington.edu>")'
    )


def _body_of(size: int, lines: int) -> str:
    """A body of exactly *size* octets with *lines* line breaks (none at the end)."""
    line = "x" * ((size - 2 * lines) // (lines + 1))
    text = "\r\n".join([line] * (lines + 1))
    return text + "y" * (size - len(text))


def test_rfc3501_body_example() -> None:
    # RFC 3501 §7.4.2: ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)...
    raw = (
        "MIME-Version: 1.0\r\nContent-Type: MULTIPART/MIXED; BOUNDARY=xyz\r\n\r\n"
        "--xyz\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\nContent-Transfer-Encoding: 7BIT"
        "\r\n\r\n" + _body_of(1152, 23) + "\r\n--xyz\r\n"
        'Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME="cc.diff"\r\n'
        "Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
        "Content-Description: Compiler diff\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"
        + _body_of(4554, 73)
        + "\r\n--xyz--\r\n"
    ).encode()
    assert render_body(index_message(raw)) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)'
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") '
        b'"<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")'
    )


# --------------------------------------------------------------------------- index


def test_offsets_and_fields_of_nested_message() -> None:
    raw = (DATA / "mixed_alt_pdf.eml").read_bytes()
    root = index_message(raw)
    assert root.multipart and root.media_type == "multipart/mixed"
    alt, pdf, pdf2, uu = root.children
    assert [c.media_type for c in alt.children] == ["text/plain", "text/html"]
    assert raw[alt.children[0].body_offset : alt.children[0].end].startswith(b"Hello world")
    assert pdf.md5 == b"Q2hlY2sgSW50ZWdyaXR5IQ==" and pdf.language == (b"zh-CN", b"en")
    assert pdf.location == b"http://example.com/report.pdf"
    assert pdf.disposition == b"attachment"
    assert pdf.disposition_param("filename*") == b"UTF-8''%E6%8A%A5%E5%91%8A.pdf"
    assert [part_filename(p) for p in (pdf, pdf2, uu)] == ["报告.pdf", "报告.pdf", "年度.bin"]
    assert alt.children[1].content_id == b"<html-part@example.com>"
    assert alt.children[0].charset == "utf-8" and alt.children[0].encoding == "quoted-printable"


def test_rfc2231_continuations() -> None:
    params = parse_params(
        b'; a=1; title*0*=us-ascii\'en\'This%20is; title*1*=%20fun; TITLE*2=" too"; b="x;y"'
    )
    assert params == ((b"a", b"1"), (b"b", b"x;y"), (b"title*", b"us-ascii'en'This%20is%20fun too"))


def test_forwarded_message_has_envelope_and_structure() -> None:
    raw = (DATA / "forwarded.eml").read_bytes()
    root = index_message(raw)
    fwd = root.children[1]
    assert fwd.message and len(fwd.children) == 1
    inner = fwd.children[0]
    assert inner.envelope is not None and inner.envelope.subject == b"lunch?"
    assert raw[fwd.body_offset : fwd.end].startswith(b"From: Alice")
    assert section_bytes(raw, root, Section((2,), "HEADER.FIELDS", ("subject",))) == (
        b"Subject: lunch?\r\n\r\n"
    )


def test_json_round_trip() -> None:
    for path in sorted(DATA.glob("*.eml")):
        root = index_message(path.read_bytes())
        data = json.loads(json.dumps(part_to_json(root)))
        assert part_from_json(data) == root, path.name


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n",
        b"Subject: x",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n--b--",
        b"Content-Type: message/rfc822\r\n\r\n",
        b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n',
        b"Content-Type: ;;;=\r\nContent-Disposition: ;\r\n\r\n",
        b'From: (((\r\nTo: "unterminated\r\nCc: <<<@@@>>>,,;;::\r\n\r\n',
    ],
)
def test_malformed_input_renders(raw: bytes) -> None:
    root = index_message(raw)
    render_bodystructure(root)
    render_body(root)
    render_envelope(root.envelope)


def test_deep_nesting_is_bounded() -> None:
    depth = 200
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%dz\r\n\r\n--b%dz\r\n" % (i, i)
        for i in range(depth)
    )
    root = index_message(head + b"\r\nleaf\r\n")
    assert render_bodystructure(root).count(b"mixed") == MAX_DEPTH + 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    root = index_message(raw)
    render_bodystructure(root)
    render_envelope(root.envelope)
    body_text(raw, root)
    header_text(raw, root)


_PIECES = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=a\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/plain; charset*=gb2312''%D6%D0\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"From: =?GB2312?B?1tA=?= <a@b>, g: c@d;\r\n",
        b"\r\n",
        b"\n",
        b"--a\r\n",
        b"--a--\r\n",
        b"text \xe4\xb8\xad\r\n",
        b"=?utf-8?q?x?=",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30).map(b"".join))
def test_mime_shaped_bytes_never_raise(raw: bytes) -> None:
    root = index_message(raw)
    render_bodystructure(root)
    assert part_from_json(json.loads(json.dumps(part_to_json(root)))) == root
    for path in ((), (1,), (1, 1), (2, 1, 1)):
        for text in (None, "HEADER", "TEXT", "MIME"):
            section_bytes(raw, root, Section(path, text))
        with contextlib.suppress(UnknownTransferEncoding):
            binary_content(raw, root, path)
    body_text(raw, root)


# --------------------------------------------------------------------------- quoting/addresses


def test_nstring_quoting_rules() -> None:
    assert imap_nstring(None) == b"NIL"
    assert imap_nstring(b"") == b'""'
    assert imap_nstring(b'a "b" \\') == b'"a \\"b\\" \\\\"'
    assert imap_nstring(b'"""""') == b'{5}\r\n"""""'
    assert imap_nstring("报告".encode()) == b"{6}\r\n" + "报告".encode()
    assert imap_nstring(b"a\r\nb") == b"{4}\r\na\r\nb"
    assert imap_string_for_humans(b"  a \t b  ") == b"{3}\r\na b"
    assert imap_string_for_humans(b"plain text") == b'"plain text"'


def test_group_and_route_addresses() -> None:
    addrs = parse_addresses(b'Team: a@x.org, "B, C" <b@y.org>;, <@r1,@r2:c@z.org>, d@w (Dee)')
    assert [(a.name, a.route, a.mailbox, a.host) for a in addrs] == [
        (None, None, b"Team", None),
        (None, None, b"a", b"x.org"),
        (b"B, C", None, b"b", b"y.org"),
        (None, None, None, None),
        (None, b"@r1,@r2", b"c", b"z.org"),
        (b"Dee", None, b"d", b"w"),
    ]


# --------------------------------------------------------------------------- sections


def test_sections_are_byte_exact() -> None:
    raw = (DATA / "mixed_alt_pdf.eml").read_bytes()
    root = index_message(raw)
    header = section_bytes(raw, root, Section(text="HEADER"))
    text = section_bytes(raw, root, Section(text="TEXT"))
    assert header + text == raw and header.endswith(b"\r\n\r\n")
    assert section_bytes(raw, root, Section()) == raw
    fields = section_bytes(raw, root, Section((), "HEADER.FIELDS", ("subject", "FROM")))
    assert fields == (
        b'From: "Doe, John" <john.doe@example.com>\r\nSubject: Quarterly report\r\n\r\n'
    )
    mime = section_bytes(raw, root, Section((1, 2), "MIME"))
    assert mime.startswith(b"Content-Type: text/html") and mime.endswith(b"\r\n\r\n")
    assert section_bytes(raw, root, Section((7,))) == b""
    assert section_bytes(raw, root, Section((1,), "HEADER")) == b""
    assert find_part(root, (1, 2, 3)) is None
    assert partial(raw, 0, 4) == b"From" and partial(raw, 10**6, 5) == b""


def test_binary_decoding_and_unknown_encoding() -> None:
    raw = (DATA / "mixed_alt_pdf.eml").read_bytes()
    root = index_message(raw)
    assert binary_content(raw, root, (1, 1)) == "Hello world & 世界, café".encode()
    pdf = binary_content(raw, root, (2,))
    assert pdf.startswith(b"%PDF-1.4") and needs_literal8(pdf)
    with pytest.raises(UnknownTransferEncoding):
        binary_content(raw, root, (4,))
    assert binary_content(raw, root, (9,)) == b""
    assert not needs_literal8(b"plain")


# --------------------------------------------------------------------------- search text


def test_search_text_chinese() -> None:
    raw = (DATA / "utf8_chinese.eml").read_bytes()
    root = index_message(raw)
    headers = header_text(raw, root)
    assert headers["subject"] == "测试邮件报告"
    assert headers["from"] == "张三 <zhangsan@example.cn>"
    assert "讨论一下报告" in body_text(raw, root)


@pytest.mark.parametrize(
    ("charset", "text"),
    [("GB2312", "中文"), ("GBK", "中文"), ("GB18030", "𠀀中"), ("Big5", "中文"), ("UTF-8", "中文")],
)
def test_encoded_words_in_chinese_charsets(charset: str, text: str) -> None:
    codec = {"GB2312": "gb2312", "GBK": "gbk", "GB18030": "gb18030", "Big5": "big5"}.get(
        charset, "utf-8"
    )
    word = base64.b64encode(text.encode(codec)).decode()
    assert decode_header(f"Re: =?{charset}?B?{word}?= ok".encode()) == f"Re: {text} ok"


def test_body_text_strips_html_and_decodes_transfer_encodings() -> None:
    raw = (DATA / "mixed_alt_pdf.eml").read_bytes()
    text = body_text(raw, index_message(raw))
    assert "Hello world & 世界, café" in text
    assert "<b>" not in text and "Hello world & 世界" in text.split("\n", 1)[1]
    raw = (DATA / "bare_lf.eml").read_bytes()
    assert "café" in body_text(raw, index_message(raw))
