"""Framing and command parsing, byte-exact from the RFCs' examples plus hostile input."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.protocols.imap import (
    CommandFrame,
    Event,
    FrameError,
    FrameErrorKind,
    FrameLimits,
    FrameReader,
    NeedContinuation,
    ParseError,
    ParserOptions,
    SequenceSet,
    is_done,
    parse,
    parse_command,
    parse_sasl_response,
)
from mailgate.protocols.imap import commands as c
from mailgate.protocols.imap import search as s


def frames(data: bytes, limits: FrameLimits | None = None) -> list[Event]:
    return FrameReader(limits or FrameLimits()).feed(data)


def cmd(data: bytes, options: ParserOptions | None = None) -> c.Command:
    events = [e for e in frames(data) if not isinstance(e, NeedContinuation)]
    assert len(events) == 1, events
    frame = events[0]
    assert isinstance(frame, CommandFrame)
    return parse_command(frame, options or ParserOptions())


def bad(data: bytes, options: ParserOptions | None = None) -> ParseError:
    with pytest.raises(ParseError) as info:
        cmd(data, options)
    return info.value


# -- framing ---------------------------------------------------------------------------------
def test_synchronising_literal_asks_for_continuation() -> None:
    reader = FrameReader()
    assert reader.feed(b"a001 LOGIN {5}\r\n") == [NeedContinuation(5)]
    assert reader.feed(b"smith {6}\r\n") == [NeedContinuation(6)]
    (frame,) = reader.feed(b"sesame\r\n")
    assert isinstance(frame, CommandFrame)
    assert frame.lines == (b"a001 LOGIN {5}", b" {6}", b"")
    assert parse_command(frame) == c.Login("a001", "smith", "sesame")


def test_literal_plus_rfc7888_example() -> None:
    events = frames(b"A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n")
    assert len(events) == 1 and isinstance(events[0], CommandFrame)
    assert parse_command(events[0]) == c.Login("A001", "FRED FOOBAR", "fat man")


def test_literal_minus_limits_non_synchronising_literals_to_4096() -> None:
    limits = FrameLimits(literal_plus=False)
    ok = frames(b"a LOGIN {4096+}\r\n" + b"x" * 4096 + b" pw\r\n", limits)
    assert isinstance(ok[0], CommandFrame)
    reader = FrameReader(limits)
    (err,) = reader.feed(b"b APPEND INBOX {5000+}\r\n")
    assert isinstance(err, FrameError)
    assert (err.tag, err.status, err.code, err.discard) == ("b", "BAD", "TOOBIG", 5000)
    assert reader.feed(b"y" * 4999) == []
    (after,) = reader.feed(b"y\r\nc NOOP\r\n")
    assert isinstance(after, CommandFrame) and parse_command(after) == c.Noop("c")


def test_huge_synchronising_literal_refused_without_continuation() -> None:
    reader = FrameReader()
    (err,) = reader.feed(b"A1 APPEND INBOX {999999999}\r\n")
    assert isinstance(err, FrameError)
    assert err.kind is FrameErrorKind.LITERAL_TOO_BIG
    assert (err.tag, err.status, err.code, err.discard) == ("A1", "NO", "TOOBIG", 0)
    assert reader.buffered == 0
    (frame,) = reader.feed(b"A2 NOOP\r\n")
    assert isinstance(frame, CommandFrame)


def test_huge_non_synchronising_literal_is_discarded_not_buffered() -> None:
    reader = FrameReader()
    (err,) = reader.feed(b"A1 APPEND INBOX {999999999+}\r\n")
    assert isinstance(err, FrameError) and err.discard == 999999999
    chunk = b"z" * (1 << 20)
    for _ in range(8):
        assert reader.feed(chunk) == []
        assert reader.buffered == 0


def test_command_size_limit() -> None:
    limits = FrameLimits(max_literal=100, max_command=150)
    reader = FrameReader(limits)
    assert reader.feed(b"a APPEND INBOX {100}\r\n") == [NeedContinuation(100)]
    (err,) = reader.feed(b"x" * 100 + b" {60}\r\n")
    assert isinstance(err, FrameError) and err.kind is FrameErrorKind.COMMAND_TOO_BIG


def test_one_megabyte_line_is_refused_once_and_skipped() -> None:
    limits = FrameLimits(max_line=8192)
    reader = FrameReader(limits)
    errors = []
    for _ in range(16):
        errors += reader.feed(b"t1 NOOP " + b"A" * 65536)
        assert reader.buffered <= limits.max_line
    assert len(errors) == 1 and isinstance(errors[0], FrameError)
    assert errors[0].kind is FrameErrorKind.LINE_TOO_LONG and errors[0].tag == "t1"
    (frame,) = reader.feed(b"tail\r\nt2 NOOP\r\n")
    assert isinstance(frame, CommandFrame) and parse_command(frame) == c.Noop("t2")


def test_overlong_line_delivered_at_once_is_refused() -> None:
    (err, ok) = frames(b"x1 " + b"B" * 70000 + b"\r\nx2 NOOP\r\n")
    assert isinstance(err, FrameError) and isinstance(ok, CommandFrame)


def test_byte_by_byte_feeding_gives_the_same_frames() -> None:
    data = b"a LOGIN {3}\r\nbob {2+}\r\npw\r\nb SELECT INBOX\r\nc NOOP\n"
    whole = FrameReader().feed(data)
    reader = FrameReader()
    pieces = [e for i in range(len(data)) for e in reader.feed(data[i : i + 1])]
    assert pieces == whole
    assert [type(e) for e in whole] == [NeedContinuation, CommandFrame, CommandFrame, CommandFrame]


def test_thousands_of_lines_without_tag_are_clean_errors() -> None:
    events = frames(b"\r\n" * 2000 + b"+ NOOP\r\n" * 2000 + b"(x\r\n" * 2000)
    assert len(events) == 6000
    for event in events:
        assert isinstance(event, CommandFrame)
        err = parse(event)
        assert isinstance(err, ParseError) and err.tag == "*"


# -- RFC examples, one per command -----------------------------------------------------------
SIMPLE = [
    (b"abcd CAPABILITY\r\n", c.Capability("abcd")),
    (b"a002 NOOP\r\n", c.Noop("a002")),
    (b"A023 LOGOUT\r\n", c.Logout("A023")),
    (b"a001 STARTTLS\r\n", c.StartTLS("a001")),
    (b"a001 LOGIN SMITH SESAME\r\n", c.Login("a001", "SMITH", "SESAME")),
    (b"A001 AUTHENTICATE GSSAPI\r\n", c.Authenticate("A001", "GSSAPI", None)),
    (
        b"a01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n",
        c.Authenticate("a01", "PLAIN", b"test\x00test\x00test"),
    ),
    (b"a02 AUTHENTICATE EXTERNAL =\r\n", c.Authenticate("a02", "EXTERNAL", b"")),
    (b"t2 ENABLE CONDSTORE X-GOOD-IDEA\r\n", c.Enable("t2", ("CONDSTORE", "X-GOOD-IDEA"))),
    (b"a023 ID NIL\r\n", c.Id("a023", None)),
    (
        b'a023 ID ("name" "sodr" "version" "19.34" "vendor" NIL)\r\n',
        c.Id("a023", (("name", "sodr"), ("version", "19.34"), ("vendor", None))),
    ),
    (b"A142 SELECT INBOX\r\n", c.Select("A142", "INBOX")),
    (b"A142 SELECT inbox\r\n", c.Select("A142", "INBOX")),
    (b"A932 EXAMINE blurdybloop\r\n", c.Examine("A932", "blurdybloop")),
    (b"a SELECT INBOX (CONDSTORE)\r\n", c.Select("a", "INBOX", condstore=True)),
    (b"A003 CREATE owatagusiam/\r\n", c.Create("A003", "owatagusiam/")),
    (
        b"t1 CREATE MySpecial (USE (\\Drafts \\Sent))\r\n",
        c.Create("t1", "MySpecial", ("\\Drafts", "\\Sent")),
    ),
    (b"A682 DELETE blurdybloop\r\n", c.Delete("A682", "blurdybloop")),
    (b"A683 RENAME blurdybloop sarasoop\r\n", c.Rename("A683", "blurdybloop", "sarasoop")),
    (b"A002 SUBSCRIBE #news.comp.mail.mime\r\n", c.Subscribe("A002", "#news.comp.mail.mime")),
    (b"A002 UNSUBSCRIBE #news.comp.mail.mime\r\n", c.Unsubscribe("A002", "#news.comp.mail.mime")),
    (b'A101 LIST "" ""\r\n', c.List("A101", "", ("",))),
    (b"A202 LIST ~/Mail/ %\r\n", c.List("A202", "~/Mail/", ("%",))),
    (b'A002 LSUB "#news." "comp.mail.*"\r\n', c.Lsub("A002", "#news.", "comp.mail.*")),
    (b"A001 NAMESPACE\r\n", c.Namespace("A001")),
    (
        b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n",
        c.Status("A042", "blurdybloop", ("UIDNEXT", "MESSAGES")),
    ),
    (b"a IDLE\r\n", c.Idle("a")),
    (b"FXXZ CHECK\r\n", c.Check("FXXZ")),
    (b"A341 CLOSE\r\n", c.Close("A341")),
    (b"a UNSELECT\r\n", c.Unselect("a")),
    (b"A202 EXPUNGE\r\n", c.Expunge("A202")),
    (b"A003 UID EXPUNGE 3000:3002\r\n", c.Expunge("A003", SequenceSet(((3000, 3002),)))),
    (b"A003 COPY 2:4 MEETING\r\n", c.Copy("A003", SequenceSet(((2, 4),)), "MEETING")),
    (b"a UID MOVE 42:69 foo\r\n", c.Move("a", SequenceSet(((42, 69),)), "foo", uid=True)),
    (b"G GETQUOTAROOT INBOX\r\n", c.GetQuotaRoot("G", "INBOX")),
    (b'G GETQUOTA ""\r\n', c.GetQuota("G", "")),
    (b"a COMPRESS DEFLATE\r\n", c.Compress("a", "DEFLATE")),
    (
        b"A003 STORE 2:4 +FLAGS (\\Deleted)\r\n",
        c.Store("A003", SequenceSet(((2, 4),)), "+", ("\\Deleted",)),
    ),
    (
        b"d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n",
        c.Store(
            "d105",
            SequenceSet(((7, 7), (5, 5), (9, 9))),
            "+",
            ("\\Deleted",),
            silent=True,
            unchanged_since=320162338,
        ),
    ),
    (
        b"a UID STORE 1 -FLAGS \\seen $Label1\r\n",
        c.Store("a", SequenceSet(((1, 1),)), "-", ("\\Seen", "$Label1"), uid=True),
    ),
]


@pytest.mark.parametrize(("data", "expected"), SIMPLE)
def test_rfc_examples(data: bytes, expected: c.Command) -> None:
    assert cmd(data) == expected


def test_examine_is_readonly() -> None:
    assert cmd(b"a EXAMINE x\r\n").readonly and not cmd(b"a SELECT x\r\n").readonly  # type: ignore[attr-defined]


def test_select_qresync_rfc7162() -> None:
    got = cmd(b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n")
    assert isinstance(got, c.Select) and got.qresync is not None
    assert got.qresync.uidvalidity == 67890007 and got.qresync.modseq == 20050715194045000
    assert got.qresync.known_uids == SequenceSet(((41, 41), (43, 211), (214, 541)))
    got = cmd(
        b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 "
        b"(5000,7500,9000,9990:9999 15000,22500,27000,29970,29973)))\r\n"
    )
    assert isinstance(got, c.Select) and got.qresync is not None and got.qresync.seq_match
    assert got.qresync.seq_match[0].contains(9995, 10000)


def test_list_extended_and_list_status() -> None:
    got = cmd(b'A05 LIST (REMOTE SUBSCRIBED) "/" "*"\r\n')
    assert isinstance(got, c.List)
    assert got.selection == {"REMOTE", "SUBSCRIBED"} and got.returns.subscribed and got.extended
    got = cmd(b'A01 LIST "" ("foo" "foo/*")\r\n')
    assert isinstance(got, c.List) and got.patterns == ("foo", "foo/*")
    got = cmd(b'A03 LIST () "" "%" RETURN (CHILDREN SPECIAL-USE)\r\n')
    assert isinstance(got, c.List) and got.returns == c.ListReturn(children=True, special_use=True)
    got = cmd(b'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))\r\n')
    assert isinstance(got, c.List) and got.returns.status == ("MESSAGES", "UNSEEN")
    assert bad(b'A06 LIST (RECURSIVEMATCH) "" "%"\r\n').tag == "A06"
    assert bad(b'A07 LIST (BOGUS) "" "%"\r\n').status == "BAD"


def test_append_rfc3501_and_multiappend_rfc3502() -> None:
    msg = b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nSubject: afternoon meeting\r\n\r\nHello\r\n"
    got = cmd(b"A003 APPEND saved-messages (\\Seen) {%d}\r\n%s\r\n" % (len(msg), msg))
    assert got == c.Append("A003", "saved-messages", (c.AppendMessage(msg, ("\\Seen",)),))
    reader = FrameReader()
    events = reader.feed(
        b'A003 APPEND saved-messages (\\Seen) " 7-Feb-1994 21:52:25 -0800" {5}\r\n'
    )
    events += reader.feed(b"hello ~{3}\r\n")
    events += reader.feed(b"\x00ab {2+}\r\nhi\r\n")
    assert [type(e) for e in events] == [NeedContinuation, NeedContinuation, CommandFrame]
    got = parse_command(events[-1])  # type: ignore[arg-type]
    assert isinstance(got, c.Append) and len(got.messages) == 3
    first, second, third = got.messages
    tz = dt.timezone(-dt.timedelta(hours=8))
    assert first.internal_date == dt.datetime(1994, 2, 7, 21, 52, 25, tzinfo=tz)
    assert (second.data, second.binary, third.data) == (b"\x00ab", True, b"hi")


def test_search_rfc_examples() -> None:
    got = cmd(b'A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n')
    assert got == c.Search(
        "A282",
        s.SearchAnd(
            (
                s.SearchFlag("\\Flagged"),
                s.SearchDate("INTERNAL", "SINCE", dt.date(1994, 2, 1)),
                s.SearchNot(s.SearchHeader("FROM", "Smith")),
            )
        ),
    )
    text = "中文".encode()
    got = cmd(b"A284 SEARCH CHARSET UTF-8 TEXT {%d}\r\n%s\r\n" % (len(text), text))
    assert got == c.Search("A284", s.SearchText("TEXT", "中文"), charset="UTF-8")
    got = cmd(b"A285 SEARCH RETURN (MIN COUNT) OR (UID 1:5 LARGER 10) (SEEN KEYWORD $Junk)\r\n")
    assert isinstance(got, c.Search) and got.returns == ("MIN", "COUNT")
    assert isinstance(got.criteria, s.SearchOr)
    got = cmd(b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338 HEADER X-Spam ""\r\n')
    assert isinstance(got, c.Search) and isinstance(got.criteria, s.SearchAnd)
    assert got.criteria.keys[0] == s.SearchModSeq(620162338, ("/flags/\\draft", "all"))
    got = cmd(b'a UID SEARCH RETURN () 1:* NEW SENTBEFORE "3-Mar-2020" YOUNGER 60\r\n')
    assert isinstance(got, c.Search) and got.uid and got.returns == ()
    err = bad(b"a SEARCH CHARSET KOI8-R ALL\r\n")
    assert (err.status, err.code) == ("NO", "BADCHARSET (UTF-8 US-ASCII)")


def test_sort_rfc5256() -> None:
    got = cmd(b"A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n")
    assert got == c.Sort(
        "A283", (c.SortKey("SUBJECT"), c.SortKey("DATE", True)), "UTF-8", s.SearchAll()
    )
    got = cmd(b'A284 UID SORT (SUBJECT) US-ASCII TEXT "not in mailbox"\r\n')
    assert isinstance(got, c.Sort) and got.uid
    assert bad(b"A SORT (REVERSE) UTF-8 ALL\r\n").tag == "A"


def test_fetch_attributes() -> None:
    got = cmd(b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n")
    assert isinstance(got, c.Fetch)
    body = got.attributes[1]
    assert body.section == c.Section((), "HEADER.FIELDS", ("DATE", "FROM"))
    assert body.response_name() == b"BODY[HEADER.FIELDS (DATE FROM)]" and body.sets_seen
    got = cmd(b"a FETCH 1 (BODY.PEEK[1.2.3.MIME] BINARY.PEEK[1.2]<0.100> BINARY.SIZE[1])\r\n")
    assert isinstance(got, c.Fetch)
    mime, binary, size = got.attributes
    assert mime == c.FetchAttribute("BODY", c.Section((1, 2, 3), "MIME"), None, True)
    assert binary.partial == (0, 100) and binary.response_name() == b"BINARY[1.2]<0>"
    assert size.name == "BINARY.SIZE" and not size.sets_seen
    got = cmd(b"a FETCH 1:* ALL\r\n")
    assert isinstance(got, c.Fetch)
    assert [a.name for a in got.attributes] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]
    got = cmd(b"A999 UID FETCH 4827313:4828442 FLAGS\r\n")
    assert isinstance(got, c.Fetch) and got.uid
    got = cmd(b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 200000 VANISHED)\r\n")
    assert isinstance(got, c.Fetch) and got.changed_since == 200000 and got.vanished
    assert bad(b"s101 FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n").tag == "s101"
    got = cmd(
        b"a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ BODY[])\r\n"
    )
    assert isinstance(got, c.Fetch) and len(got.attributes) == 8


def test_idle_done_and_sasl_lines() -> None:
    (done,) = frames(b"DONE\r\n")
    assert isinstance(done, CommandFrame) and is_done(done)
    (line,) = frames(b"dGVzdA==\r\n")
    assert isinstance(line, CommandFrame) and parse_sasl_response(line) == b"test"
    (cancel,) = frames(b"*\r\n")
    assert isinstance(cancel, CommandFrame) and parse_sasl_response(cancel) is None


def test_mailbox_names_mutf7_and_utf8_accept() -> None:
    got = cmd(b"a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n")
    assert isinstance(got, c.Select) and got.mailbox == "~peter/mail/台北/日本語"
    assert bad("a SELECT 已发送\r\n".encode()).status == "BAD"
    utf8 = ParserOptions(utf8_accept=True)
    got = cmd('a SELECT "已发送"\r\n'.encode(), utf8)
    assert isinstance(got, c.Select) and got.mailbox == "已发送"
    assert cmd(b"a CREATE Inbox/Sub\r\n") == c.Create("a", "INBOX/Sub")
    assert bad(b"a SELECT &Jjo\r\n").tag == "a"


# -- hostile input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"a FETCH 1 (FLAGS\r\n",
        b"a FETCH 1 FLAGS)\r\n",
        b"a SEARCH ((FLAGGED)\r\n",
        b"a SEARCH FLAGGED)\r\n",
        b"a STATUS x (MESSAGES\r\n",
        b"a SEARCH " + b"(" * 5000 + b"ALL" + b")" * 5000 + b"\r\n",
        b"a SEARCH " + b"NOT " * 5000 + b"ALL\r\n",
        b"a SEARCH " + b"OR ALL " * 5000 + b"ALL\r\n",
        b"a FETCH 0 FLAGS\r\n",
        b"a FETCH 1: FLAGS\r\n",
        b"a FETCH b FLAGS\r\n",
        b"a FETCH , FLAGS\r\n",
        b"a FETCH 1,,2 FLAGS\r\n",
        b"a FETCH 99999999999 FLAGS\r\n",
        b"a NOOP\x00\r\n",
        b'a LOGIN "a\x00b" c\r\n',
        b"a LOGIN caf\xc3\xa9 x\r\n",
        b"a BOGUS\r\n",
        b"a UID NOOP\r\n",
        b"a FETCH 1 BODY[0]\r\n",
        b"a FETCH 1 BODY[1.MIME\r\n",
        b"a FETCH 1 BODY[]<5.0>\r\n",
        b"a LOGIN x\r\n",
        b"a NOOP extra\r\n",
        b"a APPEND INBOX\r\n",
        b'a APPEND INBOX "31-Feb-2020 00:00:00 +0000" {0}\r\n\r\n',
        b"a AUTHENTICATE PLAIN !!!\r\n",
        b'a ID ("' + b"k" * 31 + b'" NIL)\r\n',
    ],
)
def test_hostile_input_gives_parse_error(data: bytes) -> None:
    err = bad(data)
    assert err.tag == "a" and err.text and err.status in ("BAD", "NO")


@pytest.mark.parametrize(
    "data", [b"\r\n", b"   \r\n", b"+ NOOP\r\n", b"\x00a NOOP\r\n", b"\xff\r\n"]
)
def test_untagged_garbage_reports_star(data: bytes) -> None:
    assert bad(data).tag == "*"


LIMITS = FrameLimits(max_line=256, max_literal=512, max_command=1024, literal_plus=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=600), max_size=12))
def test_fuzz_frame_reader_and_parser_never_crash(chunks: list[bytes]) -> None:
    reader = FrameReader(LIMITS)
    for chunk in chunks:
        for event in reader.feed(chunk):
            if isinstance(event, CommandFrame):
                assert event.size <= LIMITS.max_command
                result = parse(event)
                assert isinstance(result, c.Command | ParseError)
        assert reader.buffered <= LIMITS.max_line + LIMITS.max_command


TOKENS = [
    b"a",
    b" ",
    b"(",
    b")",
    b"[",
    b"]",
    b"<0.5>",
    b'"x"',
    b'"',
    b"\\",
    b"{3}\r\nabc",
    b"{2+}\r\nab",
    b"~{1}\r\nz",
    b"1:*",
    b"5,7:9",
    b"$",
    b"*",
    b"0",
    b"UID",
    b"FETCH",
    b"SEARCH",
    b"STORE",
    b"SELECT",
    b"LIST",
    b"APPEND",
    b"SORT",
    b"STATUS",
    b"BODY.PEEK",
    b"HEADER.FIELDS",
    b"NOT",
    b"OR",
    b"RETURN",
    b"CHARSET",
    b"UTF-8",
    b"+FLAGS",
    b"\\Seen",
    b"QRESYNC",
    b"&U,BTFw-",
    b"\xe5\xb7\xb2",
    b"NIL",
    b"\x00",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.booleans())
def test_fuzz_imap_like_commands(tokens: list[bytes], utf8: bool) -> None:
    data = b"t1 " + b"".join(tokens) + b"\r\n"
    for event in FrameReader(LIMITS).feed(data):
        if isinstance(event, CommandFrame):
            result = parse(event, ParserOptions(utf8_accept=utf8))
            assert isinstance(result, c.Command | ParseError)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=4), st.binary(max_size=40))
def test_fuzz_parser_on_arbitrary_frames(lines: list[bytes], literal: bytes) -> None:
    frame = CommandFrame(tuple(lines), (literal,) * (len(lines) - 1))
    result = parse(frame, ParserOptions(utf8_accept=bool(len(literal) % 2)))
    assert isinstance(result, c.Command | ParseError)


def test_fetch_parse_speed() -> None:
    import time

    (frame,) = frames(b"a0001 FETCH 1:* (FLAGS RFC822.SIZE)\r\n")
    assert isinstance(frame, CommandFrame)
    start = time.perf_counter()
    for _ in range(2000):
        parse_command(frame)
    assert (time.perf_counter() - start) / 2000 < 100e-6  # generous bound for slow CI
