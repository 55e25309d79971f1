"""Flags, STORE/COPY/MOVE/EXPUNGE, updates seen by other sessions, IDLE push, QRESYNC,
concurrent APPEND, SEARCH (also for a two-character Chinese word)."""

from __future__ import annotations

import asyncio
import base64
import re

from tests.imap.server_support import Client, Imap, imap, message

__all__ = ["imap"]

CHINESE = (
    "From: =?UTF-8?B?5byg5Lyf?= <zhang.wei@acme.test>\r\nTo: li.na@acme.test\r\n"
    "Subject: =?UTF-8?B?" + base64.b64encode("季度报告".encode()).decode() + "?=\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode("请查收本月的销售报告，谢谢。".encode()).decode()
    + "\r\n"
).encode()


async def _fill(c: Client, n: int) -> None:
    for i in range(n):
        await c.ok("APPEND INBOX \0", message(f"m{i}"))


async def test_flags_and_keywords_round_trip_and_seen_on_fetch(imap: Imap) -> None:
    c = await imap.client()
    await _fill(c, 2)
    await c.ok("SELECT INBOX")
    reply = await c.ok("STORE 1 +FLAGS ($Label1 $Junk \\Flagged)")
    assert b"* 1 FETCH (FLAGS (\\Flagged $Label1 $Junk))" in reply
    assert b"* FLAGS (" in reply and b"$Junk" in reply  # new keywords announced
    reply = await c.ok("STORE 1 -FLAGS.SILENT ($Junk)")
    assert b"FETCH" not in reply
    assert b"FLAGS (\\Flagged $Label1)" in await c.ok("FETCH 1 FLAGS")
    reply = await c.ok("FETCH 2 BODY[TEXT]")  # not PEEK: sets \Seen
    assert b"FLAGS (\\Seen)" in reply
    assert b"* SEARCH 2" in await c.ok("SEARCH SEEN")
    assert b"* SEARCH 1" in await c.ok("SEARCH KEYWORD $Label1 UNSEEN")
    await c.ok("LOGOUT")
    await c.close()
    c = await imap.client()
    await c.ok("EXAMINE INBOX")
    assert b"FLAGS (\\Flagged $Label1)" in await c.ok("FETCH 1 FLAGS")
    await c.close()


async def test_store_unchangedsince_reports_modified(imap: Imap) -> None:
    c = await imap.client()
    await _fill(c, 2)
    await c.ok("SELECT INBOX (CONDSTORE)")
    reply = await c.ok("FETCH 1:2 (MODSEQ)")
    modseqs = [int(m) for m in re.findall(rb"MODSEQ \((\d+)\)", reply)]
    await c.ok("STORE 1 +FLAGS (\\Answered)")
    _, tagged = await c.command(f"STORE 1:2 (UNCHANGEDSINCE {max(modseqs)}) +FLAGS (\\Flagged)")
    assert b"OK [MODIFIED 1]" in tagged
    assert b"FLAGS (\\Flagged)" in await c.ok("FETCH 2 FLAGS")
    await c.close()


async def test_copy_and_move_with_copyuid(imap: Imap) -> None:
    c = await imap.client()
    await _fill(c, 3)
    await c.ok("CREATE Keep")
    await c.ok("SELECT INBOX")
    reply = await c.ok("COPY 1:2 Keep")
    assert re.search(rb"OK \[COPYUID \d+ 1:2 1:2\]", reply)
    reply = await c.ok("UID MOVE 3 Keep")
    assert re.search(rb"\* OK \[COPYUID \d+ 3 3\]", reply)
    assert b"* 3 EXPUNGE" in reply
    _, missing = await c.command("COPY 1 Nowhere")
    assert b"NO [TRYCREATE]" in missing
    assert b"MESSAGES 3" in await c.ok("STATUS Keep (MESSAGES)")
    await c.close()


async def test_expunge_seen_by_second_session(imap: Imap) -> None:
    a = await imap.client()
    await _fill(a, 3)
    await a.ok("SELECT INBOX")
    b = await imap.client()
    await b.ok("SELECT INBOX")
    await a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert b"* 2 EXPUNGE" in await a.ok("EXPUNGE")
    # during FETCH the other session gets no EXPUNGE, and the numbers stay stable
    reply = await b.ok("FETCH 3 (UID)")
    assert b"EXPUNGE" not in reply and b"* 3 FETCH (UID 3)" in reply
    reply = await b.ok("NOOP")
    assert b"* 2 EXPUNGE" in reply
    assert b"* 2 FETCH (UID 3)" in await b.ok("FETCH 2 UID")
    await a.ok("APPEND INBOX \0", message("new"))
    assert b"* 3 EXISTS" in await b.ok("NOOP")
    await a.close()
    await b.close()


async def test_concurrent_appends_get_distinct_uids(imap: Imap) -> None:
    async def worker(n: int) -> list[int]:
        c = await imap.client()
        uids = []
        for i in range(25):
            reply = await c.ok("APPEND INBOX \0", message(f"c{n}-{i}"))
            m = re.search(rb"APPENDUID \d+ (\d+)\]", reply)
            assert m is not None
            uids.append(int(m.group(1)))
        await c.close()
        return uids

    results = await asyncio.gather(*(worker(n) for n in range(8)))
    uids = [u for r in results for u in r]
    assert len(set(uids)) == 200
    assert all(r == sorted(r) for r in results)
    c = await imap.client()
    assert b"* 200 EXISTS" in await c.ok("SELECT INBOX")
    await c.close()


async def test_idle_receives_delivery_within_a_second(imap: Imap) -> None:
    c = await imap.client()
    await c.ok("SELECT INBOX")
    await c.send(b"i1 IDLE\r\n")
    assert (await c.response()).startswith(b"+ ")
    await imap.services.delivery.deliver("x@example.org", [imap.ids["li.na"]], message("push"))
    async with asyncio.timeout(1):
        line = await c.response()
    assert line == b"* 1 EXISTS"
    await c.send(b"DONE\r\n")
    assert (await c.response()).startswith(b"i1 OK")
    await c.close()


async def test_qresync_after_changes_in_another_session(imap: Imap) -> None:
    a = await imap.client()
    await _fill(a, 4)
    await a.ok("ENABLE QRESYNC")
    reply = await a.ok("SELECT INBOX")
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", reply).group(1))  # type: ignore[union-attr]
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", reply).group(1))  # type: ignore[union-attr]
    await a.ok("LOGOUT")
    await a.close()
    b = await imap.client()
    await b.ok("SELECT INBOX")
    await b.ok("STORE 1 +FLAGS (\\Seen $Label1)")
    await b.ok("STORE 3 +FLAGS (\\Deleted)")
    await b.ok("EXPUNGE")
    await b.close()
    a = await imap.client()
    assert b"* ENABLED QRESYNC" in await a.ok("ENABLE QRESYNC")
    reply = await a.ok(f"SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:4))")
    assert b"* VANISHED (EARLIER) 3" in reply
    assert re.search(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Seen \$Label1\) MODSEQ \(\d+\)\)", reply)
    assert b"* 3 EXISTS" in reply
    reply = await a.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    assert b"* VANISHED (EARLIER) 3" in reply
    await a.close()


async def test_search_chinese_word_in_body_and_encoded_subject(imap: Imap) -> None:
    c = await imap.client()
    await c.ok("APPEND INBOX \0", message("plain"))
    await c.ok("APPEND INBOX \0", CHINESE)
    await c.ok("SELECT INBOX")
    word = "报告".encode()
    untagged, _ = await c.command(b"SEARCH CHARSET UTF-8 BODY \0", word)
    assert untagged == [b"* SEARCH 2"], untagged
    untagged, _ = await c.command(b"UID SEARCH CHARSET UTF-8 SUBJECT \0", word)
    assert untagged == [b"* SEARCH 2"]
    untagged, _ = await c.command(b"SEARCH CHARSET UTF-8 OR TEXT \0 SUBJECT plain", word)
    assert untagged == [b"* SEARCH 1 2"]
    untagged, _ = await c.command(b"SEARCH NOT SUBJECT plain")
    assert untagged == [b"* SEARCH 2"]
    untagged, _ = await c.command(b"SEARCH RETURN (MIN COUNT) ALL")
    assert untagged == [b'* ESEARCH (TAG "t%d") MIN 1 COUNT 2' % c.n]
    await c.close()
