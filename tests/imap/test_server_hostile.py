"""Hostile input is answered BAD/NO without crashing, without unbounded buffering and without
disturbing other sessions; shutdown says BYE."""

from __future__ import annotations

import asyncio

from tests.imap.server_support import Client, Imap, imap, message

__all__ = ["imap"]


async def _still_serving(imap: Imap) -> None:
    other = await imap.client()
    await other.ok("SELECT INBOX")
    await other.ok("LOGOUT")
    await other.close()


async def test_syntax_errors_are_bad(imap: Imap) -> None:
    c = await imap.client()
    await c.ok("APPEND INBOX \0", message())
    await c.ok("SELECT INBOX")
    _, reply = await c.command("FETCH 1 (FLAGS (UID)")
    assert reply.startswith(b"t%d BAD" % c.n)
    _, reply = await c.command("SEARCH ((((SEEN)")
    assert b" BAD" in reply
    _, reply = await c.command("FETCH 0:x FLAGS")
    assert b" BAD" in reply
    _, reply = await c.command("FETCH 5 FLAGS")  # beyond the mailbox
    assert b" BAD" in reply
    _, reply = await c.command("STORE 1 +FLAGS (\\Bogus")
    assert b" BAD" in reply
    await c.ok("NOOP")  # the session is still fine
    await c.close()
    await _still_serving(imap)


async def test_huge_literal_is_refused_without_reading_it(imap: Imap) -> None:
    c = await imap.client()
    await c.send(b"a1 APPEND INBOX {999999999}\r\n")
    reply = await c.response()
    assert reply.startswith(b"a1 NO [TOOBIG]")
    await c.send(b"a2 APPEND INBOX {999999999+}\r\nabc\r\n")
    reply = await c.response()
    assert reply.startswith(b"a2 BAD [TOOBIG]")
    await c.close()
    await _still_serving(imap)


async def test_one_megabyte_line_is_refused(imap: Imap) -> None:
    c = await imap.client()
    await c.send(b"a1 NOOP " + b"x" * 1_000_000 + b"\r\n")
    reply = await c.response()
    assert reply.startswith(b"a1 BAD")
    await c.ok("NOOP")
    await c.close()
    await _still_serving(imap)


async def test_thousands_of_untagged_lines_end_in_bye(imap: Imap) -> None:
    c = await Client.connect(imap.port)
    c.writer.write(b"(no tag here)\r\n" * 5000)
    lines = []
    async with asyncio.timeout(10):
        while True:
            try:
                line = await c.response()
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            lines.append(line)
    assert lines[0].startswith(b"* BAD")
    assert lines[-1].startswith(b"* BYE")
    assert len(lines) <= 11  # max_bad_commands in the test settings, then BYE
    await c.close()
    await _still_serving(imap)


async def test_commands_in_the_wrong_state(imap: Imap) -> None:
    c = await Client.connect(imap.port)
    _, reply = await c.command("SELECT INBOX")
    assert b" BAD" in reply
    await c.ok("LOGIN li.na@acme.test a-long-enough-password")
    _, reply = await c.command("FETCH 1 FLAGS")
    assert b"BAD" in reply and b"No mailbox selected" in reply
    _, reply = await c.command("FOO")
    assert b" BAD" in reply
    await c.close()


async def test_shutdown_says_bye(imap: Imap) -> None:
    c = await imap.client()
    await imap.listeners.close()
    async with asyncio.timeout(5):
        line = await c.response()
    assert line.startswith(b"* BYE")
    await c.close()
