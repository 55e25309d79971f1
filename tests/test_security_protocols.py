"""SMTP AUTH, IMAP LOGIN and POP3 USER/PASS over real servers on loopback: unknown user, wrong
password and throttled give the same reply with similar timing; app-password-only refusals
name the portal page; IMAP's ID reaches the login record."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import ssl
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from tests.conftest import FAST_HASHER
from tests.imap.server_support import Client as ImapClient
from tests.pop3.conftest import Raw as Pop3Raw
from tests.test_security_auth import FakeClock, enrol_second_factor

from mailgate.domain.access import Actor
from mailgate.domain.security import ThrottlePolicy
from mailgate.protocols.imap.server import ImapListeners, start_imap
from mailgate.protocols.pop3 import Pop3Listeners, start_pop3
from mailgate.protocols.smtp import SmtpListeners, start_smtp
from mailgate.services.authentication import AuthReason
from mailgate.services.container import Services
from mailgate.settings import load_settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

PW = "a-long-enough-password"
VICTIM = "victim@acme.test"
TRIES = 50
# Only pairs throttle here: the timing test makes hundreds of failures from 127.0.0.1.
POLICY = ThrottlePolicy(ip_free_failures=10**6, burst_failures=10**6)


@dataclass
class World:
    services: Services
    clock: FakeClock
    smtp: SmtpListeners
    imap: ImapListeners
    pop3: Pop3Listeners
    client_tls: ssl.SSLContext


@pytest.fixture
async def world(database: Database, tmp_path: Path, root: Actor) -> AsyncIterator[World]:
    from datetime import UTC, datetime

    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    services = Services.build(
        SqlUnitOfWorkFactory(database),
        clock,
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        throttle=POLICY,
    )
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    for local in [*(f"w{i}" for i in range(10)), "victim", "li.na"]:
        await services.accounts.create(
            root, f"{local}@acme.test", password=PW, skip_first_login=True
        )
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    settings = load_settings(
        environ={},
        data_dir=tmp_path / "data",
        smtp={"mx_port": 0, "submission_port": 0, "submissions_port": 0},
        imap={"port": 0, "tls_port": 0, "allow_plaintext_on_loopback": True},
        pop3={
            "port": 0,
            "tls_port": 0,
            "allow_plaintext_on_loopback": True,
            "max_auth_failures": 1000,
        },
    )
    smtp = await start_smtp(services, settings, server_tls)
    imap = await start_imap(services, settings, server_tls)
    pop3 = await start_pop3(services, settings, server_tls)
    yield World(services, clock, smtp, imap, pop3, client_tls)
    for listeners in (smtp, imap, pop3):
        await listeners.close()


Login = Callable[[str, str], Awaitable[str]]


async def smtp_login(w: World) -> tuple[Login, Callable[[], Awaitable[None]]]:
    client = await asyncio.to_thread(
        smtplib.SMTP, "127.0.0.1", w.smtp.port("submission"), timeout=20
    )
    await asyncio.to_thread(client.starttls, context=w.client_tls)
    await asyncio.to_thread(client.ehlo)

    async def login(user: str, pw: str) -> str:
        token = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
        code, text = await asyncio.to_thread(client.docmd, "AUTH", "PLAIN " + token)
        return f"{code} {text.decode()}"

    async def close() -> None:
        await asyncio.to_thread(client.close)

    return login, close


async def imap_login(
    w: World, client_id: str | None = None
) -> tuple[Login, Callable[[], Awaitable[None]]]:
    client = await ImapClient.connect(w.imap.port("imap"))
    if client_id is not None:
        await client.ok(f'ID ("name" "{client_id}" "version" "1.0")')

    async def login(user: str, pw: str) -> str:
        _, tagged = await client.command(f'LOGIN "{user}" "{pw}"')
        return tagged.split(b" ", 1)[1].decode()  # without the tag

    return login, client.close


async def pop3_login(w: World) -> tuple[Login, Callable[[], Awaitable[None]]]:
    raw = await asyncio.to_thread(Pop3Raw, w.pop3.port("pop3"))

    async def login(user: str, pw: str) -> str:
        first = await asyncio.to_thread(raw.cmd, f"USER {user}")
        assert first.startswith("+OK"), first
        return await asyncio.to_thread(raw.cmd, f"PASS {pw}")

    async def close() -> None:
        raw.sock.close()

    return login, close


CONNECT = {"smtp": smtp_login, "imap": imap_login, "pop3": pop3_login}


async def throttle_victim(w: World) -> None:
    for _ in range(5):
        await w.services.authentication.authenticate(VICTIM, "wrong", "imap", "127.0.0.1")


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
async def test_unknown_wrong_and_throttled_look_the_same(world: World, protocol: str) -> None:
    await throttle_victim(world)
    login, close = await CONNECT[protocol](world)
    timings: dict[str, list[float]] = {"unknown": [], "wrong": [], "throttled": []}
    replies: dict[str, set[str]] = {k: set() for k in timings}
    try:
        for i in range(TRIES):
            for kind, user, pw in (
                ("unknown", f"nobody{i}@acme.test", "wrong-password"),
                ("wrong", f"w{i % 10}@acme.test", "wrong-password"),
                ("throttled", VICTIM, PW),
            ):
                start = time.perf_counter()
                replies[kind].add(await login(user, pw))
                timings[kind].append(time.perf_counter() - start)
    finally:
        await close()
    assert replies["unknown"] == replies["wrong"] == replies["throttled"]
    assert len(replies["unknown"]) == 1
    medians = {k: statistics.median(v) for k, v in timings.items()}
    assert max(medians.values()) - min(medians.values()) < 0.010, medians
    # The records tell them apart for the admin.
    records, _ = await world.services.logins.search_logins(
        world.services.identity.local_operator("t"), None, protocol=protocol, result="throttled"
    )
    assert len(records) == TRIES
    # After the wait, the victim signs in from the same place.
    world.clock.advance(minutes=2)
    login, close = await CONNECT[protocol](world)
    try:
        ok = await login(VICTIM, PW)
    finally:
        await close()
    assert ok.split()[0] in ("235", "OK", "+OK"), ok


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
async def test_main_password_refused_with_app_password_hint(world: World, protocol: str) -> None:
    li = await world.services.identity.act_as("li.na@acme.test")
    created = await world.services.app_passwords.create(li, "li.na@acme.test", "Phone", protocol)
    await enrol_second_factor(world.services, "li.na@acme.test", world.clock)
    login, close = await CONNECT[protocol](world)
    try:
        refused = await login("li.na@acme.test", PW)
        assert "/account/app-passwords" in refused, refused
        ok = await login("li.na@acme.test", created.password)
    finally:
        await close()
    assert ok.split()[0] in ("235", "OK", "+OK"), ok
    d = await world.services.logins.recent_logins(li, "li.na@acme.test", 5)
    assert [r.reason for r in d[:2]] == ["ok", AuthReason.APP_PASSWORD_REQUIRED.value]
    assert d[0].app_password_name == "Phone"


async def test_imap_id_is_kept_in_the_login_record(world: World) -> None:
    login, close = await imap_login(world, client_id="Thunderbird")
    try:
        assert (await login("li.na@acme.test", PW)).startswith("OK")
    finally:
        await close()
    li = await world.services.identity.act_as("li.na@acme.test")
    [record] = await world.services.logins.recent_logins(li, "li.na@acme.test", 5)
    assert record.client_id == "name=Thunderbird version=1.0"
    assert (record.protocol, record.ip) == ("imap", "127.0.0.1")
