"""Folders, APPEND and FETCH over a real connection: LIST with special-use, CREATE/RENAME/
DELETE, byte-identical 8-bit round trip, ENVELOPE/BODYSTRUCTURE, quota."""

from __future__ import annotations

import base64
import re

from tests.imap.server_support import Imap, imap, message

__all__ = ["imap"]

EIGHT_BIT = (
    b"From: =?UTF-8?B?5byg5Lyf?= <zhang.wei@acme.test>\r\nTo: li.na@acme.test\r\n"
    b"Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\n\xe4\xbd\xa0\xe5\xa5\xbd\r\nbare LF\nend \xff\r\n"
)
NESTED = (
    "From: Wang Wei <wang.wei@acme.test>\r\nTo: li.na@acme.test\r\nSubject: report\r\n"
    "Date: Mon, 05 Oct 2026 10:00:00 +0800\r\nMessage-ID: <r1@acme.test>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    "--outer\r\n"
    'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain\r\n"
    "--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html</p>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: application/pdf; name*=UTF-8''%E6%8A%A5%E5%91%8A.pdf\r\n"
    "Content-Disposition: attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode(b"%PDF-1.4 fake").decode()
    + "\r\n--outer--\r\n"
).encode()


async def test_list_with_special_use_and_folder_changes(imap: Imap) -> None:
    c = await imap.client()
    listing = await c.ok('LIST "" "*"')
    assert b'* LIST (\\HasNoChildren) "/" INBOX' in listing
    assert re.search(rb'\* LIST \(\\HasNoChildren \\Sent\) "/" Sent', listing)
    assert b"\\Trash" in listing
    special = await c.ok('LIST (SPECIAL-USE) "" "*"')
    assert b"INBOX" not in special and b"\\Sent" in special
    await c.ok("CREATE Projects/2026")
    listing = await c.ok('LIST "" "Projects*"')
    assert b'(\\HasChildren) "/" Projects' in listing
    assert b'(\\HasNoChildren) "/" Projects/2026' in listing
    _, again = await c.command("CREATE Projects")
    assert b"NO [ALREADYEXISTS]" in again
    await c.ok("RENAME Projects/2026 Projects/Archive")
    status = await c.ok('LIST "" "Projects/%" RETURN (STATUS (MESSAGES UIDNEXT))')
    assert (
        b"Projects/Archive" in status
        and b"* STATUS Projects/Archive (MESSAGES 0 UIDNEXT 1)" in status
    )
    await c.ok("DELETE Projects/Archive")
    _, gone = await c.command("SELECT Projects/Archive")
    assert b"NO [NONEXISTENT]" in gone
    _, inbox = await c.command("DELETE INBOX")
    assert b"NO" in inbox
    chinese = "报告"
    await c.ok(b'CREATE "&YqVUSg-"')
    assert b"&YqVUSg-" in await c.ok('LIST "" "*"')
    assert chinese  # the modified UTF-7 name above
    await c.ok("SUBSCRIBE &YqVUSg-")
    assert b'* LSUB () "/" &YqVUSg-' in await c.ok('LSUB "" "*"')
    await c.close()


async def test_append_8bit_then_fetch_byte_identical(imap: Imap) -> None:
    c = await imap.client()
    reply = await c.ok('APPEND INBOX (\\Seen $Label1) "05-Oct-2026 10:00:00 +0800" \0', EIGHT_BIT)
    m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", reply)
    assert m is not None and m.group(2) == b"1"
    await c.ok("SELECT INBOX")
    untagged, _ = await c.command("FETCH 1 (RFC822.SIZE INTERNALDATE FLAGS BODY.PEEK[])")
    data = untagged[0]
    assert b"RFC822.SIZE %d" % len(EIGHT_BIT) in data
    assert b'INTERNALDATE " 5-Oct-2026 10:00:00 +0800"' in data or b"INTERNALDATE" in data
    assert b"FLAGS (\\Seen $Label1)" in data
    assert data.endswith(b"BODY[] {%d}\r\n" % len(EIGHT_BIT) + EIGHT_BIT + b")")
    await c.close()


async def test_envelope_and_bodystructure_of_nested_multipart(imap: Imap) -> None:
    c = await imap.client()
    await c.ok("APPEND INBOX \0", NESTED)
    await c.ok("EXAMINE INBOX")
    untagged, _ = await c.command("FETCH 1 (ENVELOPE BODYSTRUCTURE)")
    data = untagged[0]
    assert b'"Mon, 05 Oct 2026 10:00:00 +0800" "report"' in data
    assert b'(("Wang Wei" NIL "wang.wei" "acme.test"))' in data
    assert b'("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 0' in data
    assert b'"alternative" ("boundary" "inner")' in data
    assert b'"application" "pdf"' in data and b"%E6%8A%A5%E5%91%8A.pdf" in data
    assert b'"mixed" ("boundary" "outer")' in data
    # a second FETCH uses the cached structure and answers the same
    again, _ = await c.command("FETCH 1 (ENVELOPE BODYSTRUCTURE)")
    assert again[0] == data
    parts, _ = await c.command("FETCH 1 (BODY.PEEK[1.2] BINARY.PEEK[2] BODY.PEEK[2.MIME])")
    assert b"BODY[1.2] {11}\r\n<p>html</p> " in parts[0]
    assert b"BINARY[2] {13}\r\n%PDF-1.4 fake" in parts[0]
    assert b"BODY[2.MIME]" in parts[0]
    await c.close()


async def test_quota_refuses_append_with_overquota(imap: Imap) -> None:
    c = await imap.client("small@acme.test")
    quota = await c.ok("GETQUOTAROOT INBOX")
    assert b'* QUOTAROOT INBOX ""' in quota and b'* QUOTA "" (STORAGE 0 1)' in quota
    _, reply = await c.command("APPEND INBOX \0", b"x" * 3000)
    assert b"NO [OVERQUOTA]" in reply
    _, missing = await c.command("APPEND Nowhere \0", b"Subject: x\r\n\r\nx\r\n")
    assert b"NO [TRYCREATE]" in missing
    await c.close()


async def test_status_and_namespace(imap: Imap) -> None:
    c = await imap.client()
    await c.ok("APPEND INBOX \0", message())
    reply = await c.ok("STATUS INBOX (MESSAGES UNSEEN UIDNEXT SIZE HIGHESTMODSEQ)")
    assert re.search(
        rb"\* STATUS INBOX \(MESSAGES 1 UNSEEN 1 UIDNEXT 2 SIZE \d+ HIGHESTMODSEQ \d+\)", reply
    )
    assert b'* NAMESPACE (("" "/")) NIL NIL' in await c.ok("NAMESPACE")
    await c.close()
