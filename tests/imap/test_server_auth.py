"""LOGIN/AUTHENTICATE outcomes, LOGINDISABLED before TLS, STARTTLS and implicit TLS."""

from __future__ import annotations

import asyncio
import base64
import imaplib
import ssl
from pathlib import Path

from tests.imap.server_support import PW, USER, Client, Imap, imap, make_settings

from mailgate.protocols.imap.server import start_imap

__all__ = ["imap"]


async def test_login_ok_and_capabilities(imap: Imap) -> None:
    c = await Client.connect(imap.port)
    assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1")
    assert b"AUTH=PLAIN" in c.greeting  # loopback with plaintext allowed in these tests
    reply = await c.ok(f"LOGIN {USER} {PW}")
    assert b"OK [CAPABILITY" in reply
    assert b"* BYE" in await c.ok("LOGOUT")
    await c.close()


async def test_unknown_user_and_wrong_password_are_identical(imap: Imap) -> None:
    c = await Client.connect(imap.port)
    _, unknown = await c.command(f"LOGIN nobody@acme.test {PW}")
    _, wrong = await c.command(f"LOGIN {USER} wrong-password-here")
    assert unknown.split(b" ", 1)[1] == wrong.split(b" ", 1)[1]
    assert b"NO [AUTHENTICATIONFAILED]" in wrong
    await c.close()


async def test_refusals_name_the_reason_after_a_right_password(imap: Imap) -> None:
    c = await Client.connect(imap.port)
    _, pending = await c.command(f"LOGIN pending@acme.test {PW}")
    assert b"NO [CONTACTADMIN]" in pending and b"/activate" in pending
    _, expired = await c.command(f"LOGIN expired@acme.test {PW}")
    assert b"NO [EXPIRED]" in expired
    for who in ("disabled", "locked"):
        _, reply = await c.command(f"LOGIN {who}@acme.test {PW}")
        assert b"NO [AUTHORIZATIONFAILED]" in reply and b"portal page" in reply
    # wrong password on a locked account tells nothing
    _, reply = await c.command("LOGIN locked@acme.test wrong-password-here")
    assert b"NO [AUTHENTICATIONFAILED]" in reply
    await c.close()


async def test_authenticate_plain_with_and_without_initial_response(imap: Imap) -> None:
    c = await Client.connect(imap.port)
    token = base64.b64encode(f"\0{USER}\0{PW}".encode())
    _, tagged = await c.command(b"AUTHENTICATE PLAIN " + token)
    assert tagged.startswith(b"t1 OK")
    await c.close()
    c = await Client.connect(imap.port)
    await c.send(b"a AUTHENTICATE LOGIN\r\n")
    assert (await c.response()).startswith(b"+ ")
    await c.send(base64.b64encode(USER.encode()) + b"\r\n")
    assert (await c.response()).startswith(b"+ ")
    await c.send(base64.b64encode(PW.encode()) + b"\r\n")
    assert (await c.response()).startswith(b"a OK")
    await c.close()


async def test_logindisabled_until_starttls_then_login(imap: Imap, tmp_path: Path) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    imap.ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    settings = make_settings(tmp_path, allow_plaintext_on_loopback=False)
    strict = await start_imap(imap.services, settings, server_ctx)
    try:
        port = strict.port("imap")
        c = await Client.connect(port)
        assert b"LOGINDISABLED" in c.greeting and b"AUTH=PLAIN" not in c.greeting
        _, reply = await c.command(f"LOGIN {USER} {PW}")
        assert b"NO [PRIVACYREQUIRED]" in reply
        await c.close()

        def over_starttls() -> tuple[str, list[bytes]]:
            with imaplib.IMAP4("127.0.0.1", port, timeout=20) as client:
                client.starttls(imap.client_tls())
                caps = client.capabilities
                assert "LOGINDISABLED" not in caps and "AUTH=PLAIN" in caps
                status, _ = client.login(USER, PW)
                _typ, data = client.select("INBOX")
                return status, data  # type: ignore[return-value]

        status, data = await asyncio.to_thread(over_starttls)
        assert status == "OK" and data == [b"0"]
    finally:
        await strict.close()


async def test_implicit_tls(imap: Imap) -> None:
    def login() -> str:
        with imaplib.IMAP4_SSL(
            "127.0.0.1", imap.tls_port, ssl_context=imap.client_tls(), timeout=20
        ) as client:
            assert "STARTTLS" not in client.capabilities
            status, _ = client.login(USER, PW)
            client.logout()
            return status

    assert await asyncio.to_thread(login) == "OK"
