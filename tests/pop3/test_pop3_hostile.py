"""Hostile and unlucky clients: huge lines, binary junk, floods of bad commands, STLS
injection, idle clients, too many connections, and an IMAP expunge under a POP3 session."""

from __future__ import annotations

import os
import poplib
import socket
import ssl
from pathlib import Path

from tests.pop3.conftest import (
    LIMITS,
    MESSAGES,
    PW,
    USER,
    Pop3,
    Raw,
    in_thread,
    login,
    pop3_settings,
)

from mailgate.domain.mail import Flag
from mailgate.domain.mailbox import NewAppend, StoreMode, UidSet
from mailgate.protocols.pop3 import start_pop3


def still_serving(pop3: Pop3) -> tuple[int, int]:
    client = login(pop3)
    try:
        return client.stat()
    finally:
        client.quit()


async def test_huge_line_binary_junk_and_nul_bytes(pop3: Pop3) -> None:
    def conversation() -> list[str]:
        raw = Raw(pop3.port)
        try:
            raw.send(b"USER " + b"x" * 1_000_000 + b"\r\n")
            out = [raw.line().decode()]
            raw.send(os.urandom(4096).replace(b"\n", b"") + b"\r\n")
            out.append(raw.line().decode(errors="replace"))
            out.append(raw.cmd(b"CAPA\x00\xff\r\n"))
            out.append(raw.cmd(b"\xe4\xb8\xad\xe6\x96\x87\r\n"))
            out.append(raw.cmd(b"\r\n"))
            out.append(raw.cmd("CAPA"))
            return out
        finally:
            raw.close()

    out = await in_thread(conversation)
    assert out[0] == "-ERR Line too long"
    assert all(r.startswith("-ERR") for r in out[1:5]), out
    assert out[5].startswith("+OK")  # still talking after all that
    assert await in_thread(still_serving, pop3) == (3, sum(len(m) for m in MESSAGES))


async def test_a_flood_of_bad_commands_is_disconnected(pop3: Pop3) -> None:
    def flood() -> tuple[int, bool]:
        raw = Raw(pop3.port)
        try:
            raw.send(b"BOGUS\r\n" * 5000)  # pipelined; the server stops reading at the limit
            errors = 0
            try:
                while True:
                    line = raw.line()
                    assert line.startswith(b"-ERR")
                    errors += 1
            except (ConnectionError, OSError):
                return errors, True
        finally:
            raw.close()

    errors, closed = await in_thread(flood)
    assert closed and errors == LIMITS["max_bad_commands"]
    await pop3.listeners.quiesce()
    assert await in_thread(still_serving, pop3) == (3, sum(len(m) for m in MESSAGES))


async def test_repeated_failed_logins_are_disconnected(
    pop3: Pop3, client_tls: ssl.SSLContext
) -> None:
    def attempts() -> tuple[list[str], bool]:
        raw = Raw(pop3.tls_port, client_tls)
        try:
            replies = []
            for _ in range(LIMITS["max_auth_failures"]):
                raw.cmd(f"USER {USER}")
                replies.append(raw.cmd("PASS wrong-password-123"))
            return replies, raw.closed()
        finally:
            raw.close()

    replies, closed = await in_thread(attempts)
    assert replies == ["-ERR [AUTH] Authentication failed"] * LIMITS["max_auth_failures"]
    assert closed


async def test_commands_pipelined_after_stls_are_discarded(
    pop3: Pop3, client_tls: ssl.SSLContext
) -> None:
    """A man in the middle appends USER after STLS in plain text: it must not count."""

    def conversation() -> tuple[str, str, str]:
        raw = Raw(pop3.port)
        try:
            raw.send(f"STLS\r\nUSER {USER}\r\n".encode())
            ok = raw.line().decode()
            raw.sock = client_tls.wrap_socket(raw.sock, server_hostname="127.0.0.1")
            pass_reply = raw.cmd(f"PASS {PW}")
            raw.cmd(f"USER {USER}")
            return ok, pass_reply, raw.cmd(f"PASS {PW}")
        finally:
            raw.close()

    ok, injected, real = await in_thread(conversation)
    assert ok.startswith("+OK")
    assert injected == "-ERR Send USER first"
    assert real.startswith("+OK")


async def test_pipelining(pop3: Pop3, client_tls: ssl.SSLContext) -> None:
    def conversation() -> list[bytes]:
        raw = Raw(pop3.tls_port, client_tls)
        try:
            raw.send(f"USER {USER}\r\nPASS {PW}\r\nSTAT\r\nUIDL\r\nNOOP\r\nQUIT\r\n".encode())
            out = [raw.line() for _ in range(4)]
            out.append(raw.multiline())
            out += [raw.line(), raw.line()]
            return out
        finally:
            raw.close()

    out = await in_thread(conversation)
    assert [o[:3] for o in out[:4]] == [b"+OK"] * 4 and out[4].count(b"\r\n") == 3
    assert out[5].startswith(b"+OK") and out[6].startswith(b"+OK")


async def test_idle_clients_are_logged_out_without_update(
    pop3: Pop3, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext, tmp_path: Path
) -> None:
    listeners = await start_pop3(
        pop3.services, pop3_settings(tmp_path, idle_timeout=0.3), server_tls
    )
    before = await pop3.uids()

    def idle() -> tuple[str, bool]:
        raw = Raw(listeners.port("pop3s"), client_tls)
        try:
            raw.cmd(f"USER {USER}")
            raw.cmd(f"PASS {PW}")
            raw.cmd("DELE 1")
            return raw.line().decode(), raw.closed()  # nothing sent: the server gives up
        finally:
            raw.close()

    try:
        reply, closed = await in_thread(idle)
    finally:
        await listeners.close()
    assert reply.startswith("-ERR") and closed
    assert await pop3.uids() == before


async def test_connections_per_ip_are_limited(pop3: Pop3) -> None:
    def connect() -> tuple[list[Raw], str]:
        held = [Raw(pop3.port) for _ in range(LIMITS["max_connections_per_ip"])]
        extra = Raw(pop3.port)
        extra.close()
        return held, extra.greeting.decode()

    held, refused = await in_thread(connect)
    try:
        assert all(r.greeting.startswith(b"+OK") for r in held)
        assert refused.startswith("-ERR [SYS/TEMP]")
    finally:
        for raw in held:
            raw.close()
    await pop3.listeners.quiesce()
    assert await in_thread(still_serving, pop3)


async def test_an_imap_expunge_between_list_and_quit(pop3: Pop3) -> None:
    """POP3 keeps its login snapshot; messages IMAP expunged meanwhile are skipped at UPDATE,
    and a message delivered meanwhile appears at the next login."""
    mb = pop3.services.mailboxes
    uids = await pop3.uids()
    listing = await mb.pop3_listing(pop3.account_id)
    client = await in_thread(login, pop3)
    try:
        before = await in_thread(client.list)
        # An IMAP session: STORE +FLAGS (\Deleted) on messages 1 and 2, EXPUNGE.
        await mb.store(
            pop3.account_id,
            listing.mailbox_id,
            UidSet.of(uids[:2]),
            StoreMode.ADD,
            int(Flag.DELETED),
        )
        assert await mb.expunge(pop3.account_id, listing.mailbox_id) == uids[:2]
        await mb.append(pop3.account_id, "INBOX", [NewAppend(b"Subject: new\r\n\r\nnew\r\n")])

        def rest() -> tuple[tuple[int, int], list[bytes], bytes, bytes, bytes]:
            stat = client.stat()
            retr = client.retr(1)[1]  # expunged, but its body is still in the store
            return stat, retr, client.dele(1), client.dele(3), client.quit()

        stat, retr, dele1, dele3, quit_reply = await in_thread(rest)
    finally:
        client.close()
    assert len(before[1]) == 3 and stat == (3, sum(len(m) for m in MESSAGES))
    assert b"\r\n".join(retr) + b"\r\n" == MESSAGES[0]
    assert dele1.startswith(b"+OK") and dele3.startswith(b"+OK") and quit_reply.startswith(b"+OK")
    after = await pop3.uids()
    assert uids[2] not in after and len(after) == 1  # only the new message is left

    def next_login() -> tuple[int, int]:
        c = login(pop3)
        try:
            return c.stat()
        finally:
            c.quit()

    assert (await in_thread(next_login))[0] == 1


async def test_a_second_stls_is_refused(pop3: Pop3) -> None:
    """STLS twice is refused, the session goes on."""

    def twice() -> str:
        client = poplib.POP3("127.0.0.1", pop3.port, timeout=20)
        try:
            client.stls(pop3.client_tls)
            return client._shortcmd("STLS").decode()  # poplib itself refuses a second stls()
        except poplib.error_proto as exc:
            return str(exc.args[0].decode())
        finally:
            client.quit()

    assert (await in_thread(twice)).startswith("-ERR")


async def test_plain_text_on_the_implicit_tls_port(pop3: Pop3) -> None:
    def garbage() -> bool:
        raw_sock = socket.create_connection(("127.0.0.1", pop3.tls_port), timeout=20)
        try:
            raw_sock.sendall(b"USER li.na@acme.test\r\nPASS x\r\n" * 10)
            while raw_sock.recv(65536):
                pass
            return True
        except OSError:
            return True
        finally:
            raw_sock.close()

    assert await in_thread(garbage)
    await pop3.listeners.quiesce()
    assert await in_thread(still_serving, pop3)
