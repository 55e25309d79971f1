"""POP3 with Python's poplib and a raw socket: STLS, CAPA, USER/PASS, AUTH PLAIN, STAT, LIST,
UIDL, RETR, TOP, DELE, RSET, QUIT, response codes, and the UPDATE rules."""

from __future__ import annotations

import base64
import poplib
import ssl
from pathlib import Path

import pytest
from tests.pop3.conftest import (
    EIGHT_BIT,
    MESSAGES,
    PLAIN,
    PW,
    REFUSED_STATES,
    USER,
    Pop3,
    Raw,
    error_of,
    in_thread,
    login,
    pop3_settings,
    unstuff,
)

from mailgate.protocols.pop3 import start_pop3


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_capa_before_and_after_stls(pop3: Pop3) -> None:
    def capas() -> tuple[dict[str, list[str]], dict[str, list[str]], str]:
        client = poplib.POP3("127.0.0.1", pop3.port, timeout=20)
        try:
            before = client.capa()
            client.stls(pop3.client_tls)
            after = client.capa()
            client.user(USER)
            client.pass_(PW)
            return before, after, client.getwelcome().decode()
        finally:
            client.quit()

    before, after, welcome = await in_thread(capas)
    assert welcome.startswith("+OK")
    common = {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
    assert common <= set(before) and common <= set(after)
    assert "STLS" in before and "USER" not in before and "SASL" not in before
    assert "STLS" not in after and "USER" in after and after["SASL"] == ["PLAIN"]
    assert before["IMPLEMENTATION"] == ["Mailgate"]


async def test_no_passwords_before_tls(pop3: Pop3) -> None:
    def conversation() -> list[str]:
        raw = Raw(pop3.port)
        try:
            return [
                raw.cmd(f"USER {USER}"),
                raw.cmd(f"PASS {PW}"),
                raw.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PW}".encode())),
                raw.cmd("STAT"),
            ]
        finally:
            raw.close()

    replies = await in_thread(conversation)
    assert all(r.startswith("-ERR") for r in replies), replies
    assert "STLS" in replies[0]


async def test_plaintext_on_loopback_when_the_setting_allows_it(
    pop3: Pop3, server_tls: ssl.SSLContext, tmp_path: Path
) -> None:
    settings = pop3_settings(tmp_path, allow_plaintext_on_loopback=True)
    listeners = await start_pop3(pop3.services, settings, server_tls)

    def session() -> tuple[dict[str, list[str]], tuple[int, int]]:
        client = poplib.POP3("127.0.0.1", listeners.port("pop3"), timeout=20)
        try:
            capa = client.capa()
            client.user(USER)
            client.pass_(PW)
            return capa, client.stat()
        finally:
            client.quit()

    try:
        capa, stat = await in_thread(session)
    finally:
        await listeners.close()
    assert "USER" in capa and "STLS" in capa
    assert stat == (3, sum(len(m) for m in MESSAGES))


async def test_stat_list_uidl_retr_top_byte_identical(pop3: Pop3) -> None:
    listing = await pop3.services.mailboxes.pop3_listing(pop3.account_id)

    def session() -> dict[str, object]:
        client = login(pop3)
        try:
            return {
                "stat": client.stat(),
                "list": client.list()[1],
                "list2": client.list(2),
                "uidl": client.uidl()[1],
                "uidl3": client.uidl(3),
                "retr": [client.retr(n)[1] for n in (1, 2, 3)],
                "top": client.top(2, 2)[1],
                "top0": client.top(2, 0)[1],
            }
        finally:
            client.quit()

    got = await in_thread(session)
    sizes = [len(m) for m in MESSAGES]
    assert got["stat"] == (3, sum(sizes))
    assert got["list"] == [f"{n} {s}".encode() for n, s in enumerate(sizes, 1)]
    assert got["list2"] == f"+OK 2 {sizes[1]}".encode()
    uidls = [f"{listing.uidvalidity}.{uid}" for uid, _, _ in listing.messages]
    assert got["uidl"] == [f"{n} {u}".encode() for n, u in enumerate(uidls, 1)]
    assert got["uidl3"] == f"+OK 3 {uidls[2]}".encode()
    # poplib removes the stuffing and the CRLFs: joined back, every byte is the stored one.
    assert [b"\r\n".join(lines) + b"\r\n" for lines in got["retr"]] == MESSAGES  # type: ignore[attr-defined]
    head, _, _ = PLAIN.partition(b"\r\n\r\n")
    assert got["top"] == [*head.split(b"\r\n"), b"", b"line 1", b"line 2"]
    assert got["top0"] == [*head.split(b"\r\n"), b""]


async def test_retr_on_the_wire_is_stuffed_and_exact(
    pop3: Pop3, client_tls: ssl.SSLContext
) -> None:
    def retr() -> tuple[str, bytes]:
        raw = Raw(pop3.tls_port, client_tls)
        try:
            raw.cmd(f"USER {USER}")
            raw.cmd(f"PASS {PW}")
            status = raw.cmd("RETR 1")
            return status, raw.multiline()
        finally:
            raw.close()

    status, wire_data = await in_thread(retr)
    assert status == f"+OK {len(EIGHT_BIT)} octets"
    assert b"\r\n..starts with a dot\r\n...two dots\r\n..\r\n" in wire_data
    assert unstuff(wire_data) == EIGHT_BIT


async def test_dele_and_quit_deletes_at_update(pop3: Pop3) -> None:
    before = await pop3.uids()

    def session() -> tuple[bytes, bytes, tuple[int, int], str, bytes]:
        client = login(pop3)
        dele = client.dele(2)
        again = error_of(lambda: client.dele(2))
        return dele, client.list(3), client.stat(), again, client.quit()

    dele, list3, stat, again, quit_reply = await in_thread(session)
    assert dele.startswith(b"+OK") and list3.startswith(b"+OK 3 ")
    assert stat == (2, len(EIGHT_BIT) + len(MESSAGES[2]))
    assert again.startswith("-ERR")
    assert quit_reply.startswith(b"+OK")
    assert await pop3.uids() == [before[0], before[2]]

    def uidls() -> list[bytes]:
        client = login(pop3)
        try:
            return client.uidl()[1]
        finally:
            client.quit()

    # The next login sees the new numbering; the UIDLs are unchanged.
    after = await in_thread(uidls)
    listing = await pop3.services.mailboxes.pop3_listing(pop3.account_id)
    assert after == [
        f"{n} {listing.uidvalidity}.{uid}".encode() for n, uid in ((1, before[0]), (2, before[2]))
    ]


async def test_dele_then_rset_deletes_nothing(pop3: Pop3) -> None:
    before = await pop3.uids()

    def session() -> tuple[bytes, tuple[int, int]]:
        client = login(pop3)
        client.dele(1)
        client.dele(3)
        reply = client.rset()
        stat = client.stat()
        client.quit()
        return reply, stat

    reply, stat = await in_thread(session)
    assert reply.startswith(b"+OK") and stat[0] == 3
    assert await pop3.uids() == before


async def test_dropped_connection_deletes_nothing(pop3: Pop3) -> None:
    before = await pop3.uids()

    def session() -> None:
        client = login(pop3)
        client.dele(1)
        client.dele(2)
        client.sock.close()  # no QUIT

    await in_thread(session)
    await pop3.listeners.quiesce()  # the server has seen the connection end
    assert await pop3.uids() == before


async def test_unknown_user_and_wrong_password_get_identical_replies(pop3: Pop3) -> None:
    def attempt(user: str, password: str) -> str:
        client = poplib.POP3("127.0.0.1", pop3.port, timeout=20)
        client.stls(pop3.client_tls)
        client.user(user)
        try:
            return error_of(lambda: client.pass_(password))
        finally:
            client.close()

    unknown = await in_thread(attempt, "nobody@acme.test", PW)
    wrong = await in_thread(attempt, USER, "wrong-password-123")
    malformed = await in_thread(attempt, "not-an-address", PW)
    assert unknown == wrong == malformed == "-ERR [AUTH] Authentication failed"


@pytest.mark.parametrize("state", ["pending", *REFUSED_STATES])
async def test_accounts_that_may_not_use_mail(pop3: Pop3, state: str) -> None:
    def attempt(password: str) -> str:
        client = poplib.POP3("127.0.0.1", pop3.port, timeout=20)
        client.stls(pop3.client_tls)
        client.user(f"{state}@acme.test")
        try:
            return error_of(lambda: client.pass_(password))
        finally:
            client.close()

    reply = await in_thread(attempt, PW)
    assert reply.startswith("-ERR [SYS/PERM] ")
    if state == "pending":
        assert "/activate" in reply
    # Without the right password nothing about the account is revealed.
    assert await in_thread(attempt, "wrong-password-123") == "-ERR [AUTH] Authentication failed"


async def test_implicit_tls_with_pop3_ssl(pop3: Pop3) -> None:
    def session() -> tuple[dict[str, list[str]], tuple[int, int], list[bytes]]:
        client = poplib.POP3_SSL("127.0.0.1", pop3.tls_port, context=pop3.client_tls, timeout=20)
        try:
            capa = client.capa()
            client.user(USER)
            client.pass_(PW)
            return capa, client.stat(), client.retr(3)[1]
        finally:
            client.quit()

    capa, stat, third = await in_thread(session)
    assert "STLS" not in capa and "USER" in capa
    assert stat[0] == 3 and b"\r\n".join(third) + b"\r\n" == MESSAGES[2]


async def test_auth_plain_initial_response_continuation_and_refusals(
    pop3: Pop3, client_tls: ssl.SSLContext
) -> None:
    good = b64(f"\0{USER}\0{PW}".encode())

    def conversation() -> list[str]:
        out: list[str] = []
        raw = Raw(pop3.tls_port, client_tls)
        out.append(raw.cmd("AUTH"))
        out.append(raw.multiline().decode())
        out.append(raw.cmd("AUTH PLAIN " + b64(f"\0{USER}\0wrong-password".encode())))
        out.append(raw.cmd("AUTH PLAIN"))
        out.append(raw.cmd("*"))  # cancelled
        out.append(raw.cmd("AUTH CRAM-MD5"))
        out.append(raw.cmd("AUTH PLAIN"))
        out.append(raw.cmd(good))
        out.append(raw.cmd("STAT"))
        out.append(raw.cmd("QUIT"))
        raw.close()
        raw = Raw(pop3.tls_port, client_tls)
        out.append(raw.cmd("AUTH PLAIN " + good))
        raw.close()
        raw = Raw(pop3.tls_port, client_tls)
        out.append(raw.cmd("AUTH PLAIN " + b64(f"wang.wei@acme.test\0{USER}\0{PW}".encode())))
        out.append(raw.cmd("AUTH PLAIN not-base64!"))
        out.append(raw.cmd("AUTH PLAIN ="))
        raw.close()
        return out

    out = await in_thread(conversation)
    assert out[0].startswith("+OK") and out[1] == "PLAIN\r\n"
    assert out[2] == "-ERR [AUTH] Authentication failed"
    assert out[3] == "+ " and out[4].startswith("-ERR")
    assert out[5].startswith("-ERR")
    assert out[6] == "+ " and out[7].startswith("+OK")
    assert out[8] == f"+OK 3 {sum(len(m) for m in MESSAGES)}"
    assert out[9].startswith("+OK")
    assert out[10].startswith("+OK")
    assert out[11] == "-ERR [AUTH] Authentication failed"  # no acting as someone else
    assert out[12].startswith("-ERR") and "[AUTH]" not in out[12]
    assert out[13] == "-ERR [AUTH] Authentication failed"


async def test_commands_outside_their_state(pop3: Pop3, client_tls: ssl.SSLContext) -> None:
    def conversation() -> list[str]:
        raw = Raw(pop3.tls_port, client_tls)
        try:
            out = [raw.cmd(c) for c in ("STAT", "RETR 1", "NOOP", "PASS x", "APOP a b")]
            raw.cmd(f"USER {USER}")
            raw.cmd(f"PASS {PW}")
            out += [raw.cmd(c) for c in ("USER x", "STLS", "RETR 9", "RETR 0", "TOP 1")]
            out += [raw.cmd(c) for c in ("NOOP", "LIST 99999999999", "QUIT")]
            return out
        finally:
            raw.close()

    out = await in_thread(conversation)
    assert all(r.startswith("-ERR") for r in out[:10]), out
    assert out[10].startswith("+OK") and out[11].startswith("-ERR") and out[12].startswith("+OK")


async def test_a_second_session_on_the_same_maildrop(pop3: Pop3) -> None:
    """No lock: each session works from its snapshot; deleting twice is harmless."""
    first = await in_thread(login, pop3)
    second = await in_thread(login, pop3)

    def both() -> tuple[bytes, bytes]:
        first.dele(1)
        second.dele(1)
        second.dele(2)
        return first.quit(), second.quit()

    replies = await in_thread(both)
    assert all(r.startswith(b"+OK") for r in replies)
    assert len(await pop3.uids()) == 1
