"""Sign-in alerts and the admins' security alerts (services.alerts), on both databases.

New device / new network notices land in the person's INBOX in their language; the first
sign-in of an account is silent; networks are /24 (IPv4, IPv4-mapped IPv6 too) and /48 (IPv6).
Failure bursts reach the organisation's admins exactly once, even with two dispatchers. A real
imaplib LOGIN from 127.0.0.1 and then from ::1 produces the alert. Background work is awaited
with `services.alerts.drain()`, never by sleeping.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import imaplib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme
from tests.conftest import FAST_HASHER
from tests.imap.server_support import make_settings

from mailgate.domain.access import Actor, Role
from mailgate.domain.errors import NotFound
from mailgate.domain.security import LoginFilter, SecurityAlert, ThrottlePolicy
from mailgate.protocols.imap.server import ImapListeners, start_imap
from mailgate.services.alerts import (
    DEVICE,
    NETWORK,
    browser_label,
    device_of,
    network_of,
    sign_in_keys,
)
from mailgate.services.container import Services
from mailgate.services.throttle import FAILURE_BURST
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

PW = "a-long-enough-password"
LI = "li.na@acme.test"  # zh_Hant
TOM = "tom@acme.test"  # en
BOSS = "boss@acme.test"  # en, org admin
CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
BURST = ThrottlePolicy(
    pair_free_failures=100, ip_free_failures=100, burst_failures=4, burst_min_ips=2
)


@dataclass
class FakeClock:
    t: datetime

    def now(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def build(database: Database, tmp_path: Path, clock: FakeClock) -> Services:
    blobs = FileBlobStore(tmp_path / "blobs")
    return Services.build(SqlUnitOfWorkFactory(database), clock, FAST_HASHER, blobs, throttle=BURST)


async def seed(services: Services, root: Actor) -> None:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    for address, language in ((LI, "zh_Hant"), (TOM, "en"), (BOSS, "en")):
        await services.accounts.create(
            root, address, password=PW, skip_first_login=True, language=language
        )
    await services.accounts.grant_role(root, BOSS, Role.ORG_ADMIN, "acme")


@pytest.fixture
async def svc(database: Database, tmp_path: Path, clock: FakeClock, root: Actor) -> Services:
    services = build(database, tmp_path, clock)
    await seed(services, root)
    return services


async def sign_in(
    s: Services, user: str, ip: str, client_id: str = "", protocol: str = "imap"
) -> None:
    decision = await s.authentication.authenticate(user, PW, protocol, ip, client_id)
    assert decision.allowed, decision
    await s.alerts.drain()


async def inbox(s: Services, address: str) -> list[EmailMessage]:
    async with s.authentication.uow(write=False) as uow:
        account = await uow.accounts.by_key(address)
    assert account is not None
    listing = await s.mailboxes.pop3_listing(account.id)
    out = []
    for _, _, blob_id in listing.messages:
        parsed = email.message_from_bytes(
            await s.mailboxes.body(blob_id), policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        out.append(parsed)
    return out


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


# --- the pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (CHROME_WIN, "Chrome (Windows)"),
        (FIREFOX_LINUX, "Firefox (Linux)"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.4 Safari/605.1.15",
            "Safari (macOS)",
        ),
        (CHROME_WIN + " Edg/124.0.2478.51", "Edge (Windows)"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Mobile/15E148 MicroMessenger/8.0.47",
            "WeChat (iOS)",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Mobile Safari/537.36",
            "Chrome (Android)",
        ),
        ("python-httpx/0.28.1", "python-httpx"),
        ("", ""),
        ("password change", ""),
    ],
)
def test_browser_label(user_agent: str, label: str) -> None:
    assert browser_label(user_agent) == label


def test_device_of_each_protocol() -> None:
    assert device_of("imap", "name=Thunderbird version=115.9.0").label == "Thunderbird"
    assert device_of("imap", "vendor=Apple name=Apple Mail version=16").label == "Apple Mail"
    assert device_of("imap", "").label == ""
    assert device_of("smtp", "anything").label == ""
    assert device_of("web", CHROME_WIN).key == "web|chrome (windows)"
    # Same client, another protocol: another device.
    assert device_of("pop3", "").key != device_of("smtp", "").key
    assert device_of("imap", "name=\x07Evil\tClient  version=1").label == "Evil Client"


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("192.0.2.7", "192.0.2.0/24"),
        ("192.0.2.250", "192.0.2.0/24"),
        ("::ffff:192.0.2.9", "192.0.2.0/24"),
        ("127.0.0.1", "127.0.0.0/24"),
        ("::1", "::/48"),
        ("2001:db8:1:2::5", "2001:db8:1::/48"),
        ("2001:db8:1:ffff::9", "2001:db8:1::/48"),
        ("[2001:db8:2::1]", "2001:db8:2::/48"),
        ("fe80::1%eth0", "fe80::/48"),
        ("testclient", "other:testclient"),
    ],
)
def test_network_of(ip: str, network: str) -> None:
    assert network_of(ip) == network


# --- the watcher ------------------------------------------------------------------------------


async def test_first_sign_in_is_silent_and_recorded(svc: Services) -> None:
    await sign_in(svc, LI, "192.0.2.7", "name=Thunderbird")
    assert await inbox(svc, LI) == []
    async with svc.authentication.uow(write=False) as uow:
        account = await uow.accounts.by_key(LI)
        assert account is not None
        keys = sign_in_keys(account.id, "imap", "192.0.2.7", "name=Thunderbird")
        seen = await uow.known_sign_ins.seen(account.id, list(keys.items()))
    assert set(seen) == {(DEVICE, keys[DEVICE]), (NETWORK, keys[NETWORK])}


async def test_same_device_and_network_is_silent(svc: Services) -> None:
    await sign_in(svc, LI, "192.0.2.7", "name=Thunderbird")
    await sign_in(svc, LI, "192.0.2.200", "name=Thunderbird version=2")  # same /24, same name
    await sign_in(svc, LI, "::ffff:192.0.2.8", "name=thunderbird")  # IPv4-mapped: same /24
    assert await inbox(svc, LI) == []


async def test_new_network_alerts_in_the_accounts_language(svc: Services) -> None:
    await sign_in(svc, LI, "192.0.2.7", "name=Thunderbird")
    await sign_in(svc, LI, "198.51.100.23", "name=Thunderbird")
    [notice] = await inbox(svc, LI)
    assert notice["Subject"] == "您的郵箱有新的登入"
    body = text_of(notice)
    assert "在新的網路上登入" in body
    assert "198.51.100.23" in body and "Thunderbird" in body and "IMAP" in body
    assert "/account/security" in body  # the way to "this wasn't me"
    assert notice["Auto-Submitted"] == "auto-generated"
    # The same new network again: known now.
    await sign_in(svc, LI, "198.51.100.99", "name=Thunderbird")
    assert len(await inbox(svc, LI)) == 1


async def test_new_device_alerts(svc: Services) -> None:
    await sign_in(svc, TOM, "203.0.113.5", CHROME_WIN, "web")
    await sign_in(svc, TOM, "203.0.113.5", FIREFOX_LINUX, "web")
    [notice] = await inbox(svc, TOM)
    assert notice["Subject"] == "New sign-in to your mailbox"
    body = text_of(notice)
    assert "from a new device:" in body
    assert "Firefox (Linux)" in body and "web browser" in body and "203.0.113.5" in body


async def test_new_device_and_network_together_and_unknown_client(svc: Services) -> None:
    await sign_in(svc, TOM, "203.0.113.5", CHROME_WIN, "web")
    await sign_in(svc, TOM, "2001:db8:7::1", "", "smtp")
    [notice] = await inbox(svc, TOM)
    body = text_of(notice)
    assert "from a new device and network:" in body
    assert "unknown program" in body and "SMTP" in body and "2001:db8:7::1" in body


async def test_ipv6_networks_are_grouped_by_48(svc: Services) -> None:
    await sign_in(svc, TOM, "2001:db8:1:1::1")
    await sign_in(svc, TOM, "2001:db8:1:ffff::2")
    assert await inbox(svc, TOM) == []
    await sign_in(svc, TOM, "2001:db8:2::1")
    [notice] = await inbox(svc, TOM)
    assert "from a new network:" in text_of(notice)


async def test_ipv4_networks_are_grouped_by_24(svc: Services) -> None:
    await sign_in(svc, TOM, "192.0.2.1")
    await sign_in(svc, TOM, "192.0.2.254")
    assert await inbox(svc, TOM) == []
    await sign_in(svc, TOM, "192.0.3.1")  # the next /24
    assert len(await inbox(svc, TOM)) == 1


async def test_last_seen_is_written_at_most_daily(svc: Services, clock: FakeClock) -> None:
    start = clock.now()
    await sign_in(svc, TOM, "192.0.2.1")
    clock.advance(hours=23)
    await sign_in(svc, TOM, "192.0.2.1")

    async def last_seen() -> set[datetime]:
        async with svc.authentication.uow(write=False) as uow:
            account = await uow.accounts.by_key(TOM)
            assert account is not None
            keys = sign_in_keys(account.id, "imap", "192.0.2.1", "")
            return set((await uow.known_sign_ins.seen(account.id, list(keys.items()))).values())

    assert await last_seen() == {start}  # no write for a pair seen within the day
    clock.advance(hours=2)
    await sign_in(svc, TOM, "192.0.2.1")
    assert await last_seen() == {start + timedelta(hours=25)}
    assert await inbox(svc, TOM) == []


async def test_failed_sign_ins_record_nothing_and_alert_nobody(svc: Services) -> None:
    await sign_in(svc, TOM, "192.0.2.1")
    decision = await svc.authentication.authenticate(TOM, "wrong", "imap", "198.51.100.1")
    assert not decision.allowed
    await svc.alerts.drain()
    assert await inbox(svc, TOM) == []
    await sign_in(svc, TOM, "198.51.100.1")  # now it succeeds from there: new network
    assert len(await inbox(svc, TOM)) == 1


# --- failure bursts to the organisation's admins ------------------------------------------------


async def test_failure_burst_reaches_admins_once(svc: Services) -> None:
    for ip in ("192.0.2.1", "192.0.2.2", "198.51.100.1", "198.51.100.2"):
        decision = await svc.authentication.authenticate(LI, "wrong", "imap", ip)
        assert not decision.allowed
    await svc.alerts.drain()
    [notice] = await inbox(svc, BOSS)
    assert notice["Subject"] == f"Security alert: many failed sign-ins on {LI}"
    body = text_of(notice)
    assert "4 failed sign-ins from 4 network addresses" in body
    assert f"/admin/logins?account={LI}" in body
    # Later dispatch runs find nothing left.
    assert await svc.alerts.dispatch() == 0
    assert await svc.alerts.dispatch() == 0
    assert len(await inbox(svc, BOSS)) == 1
    assert await inbox(svc, LI) == []  # the attacked person is not told by this alert
    async with svc.authentication.uow(write=False) as uow:
        alerts, total = await uow.account_security.alerts(None, 0, 10)
    assert total == 1 and alerts[0].kind == FAILURE_BURST


async def test_two_dispatchers_send_each_alert_once(
    svc: Services, database: Database, tmp_path: Path, clock: FakeClock
) -> None:
    other = build(database, tmp_path, clock)  # a second process on the same database
    async with svc.authentication.uow() as uow:
        account = await uow.accounts.by_key(TOM)
        assert account is not None
        for n in (10, 20):
            await uow.account_security.add_alert(
                SecurityAlert(
                    clock.now(),
                    FAILURE_BURST,
                    account.id,
                    account.org_id,
                    {"address": TOM, "failures": n, "ips": 3, "window_minutes": 60},
                )
            )
        await uow.commit()
    sent = await asyncio.gather(svc.alerts.dispatch(), other.alerts.dispatch())
    assert sum(sent) == 2
    assert await svc.alerts.dispatch() == 0 and await other.alerts.dispatch() == 0
    subjects = [m["Subject"] for m in await inbox(svc, BOSS)]
    assert subjects == [f"Security alert: many failed sign-ins on {TOM}"] * 2


async def test_periodic_dispatcher_runs_and_stops(svc: Services, clock: FakeClock) -> None:
    async with svc.authentication.uow() as uow:
        account = await uow.accounts.by_key(TOM)
        assert account is not None
        await uow.account_security.add_alert(
            SecurityAlert(
                clock.now(),
                FAILURE_BURST,
                account.id,
                account.org_id,
                {"address": TOM, "failures": 50, "ips": 10, "window_minutes": 60},
            )
        )
        await uow.commit()
    async with svc.authentication.uow(write=False) as uow:
        boss = await uow.accounts.by_key(BOSS)
        assert boss is not None
        box = await uow.mail.mailbox(boss.id, "INBOX")
        assert box is not None
    # The INBOX delivery publishes a change: wait for that, not for a timer.
    watch = svc.mailboxes.watch(box.id)
    loop = asyncio.create_task(svc.alerts.run())
    try:
        await asyncio.wait_for(watch.wait(), 30)
    finally:
        watch.close()
        svc.alerts.stop()
        await asyncio.wait_for(loop, 30)
    assert len(await inbox(svc, BOSS)) == 1


# --- a real IMAP client from 127.0.0.1 and then from ::1 ----------------------------------------


@dataclass
class TwoListeners:
    services: Services
    v4: ImapListeners
    v6: ImapListeners


@pytest.fixture
async def imap_pair(svc: Services, tmp_path: Path) -> AsyncIterator[TwoListeners]:
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "::1", "localhost").configure_cert(tls)
    v4 = await start_imap(svc, make_settings(tmp_path), tls)
    v6 = await start_imap(svc, make_settings(tmp_path, host="::1"), tls)
    yield TwoListeners(svc, v4, v6)
    await v6.close()
    await v4.close()


def _login_and_read(host: str, port: int) -> list[bytes]:
    """LOGIN with imaplib, then the Subject header of every INBOX message."""
    with imaplib.IMAP4(host, port) as client:  # LOGOUT on the way out
        client.login(LI, PW)
        typ, counts = client.select("INBOX", readonly=True)
        assert typ == "OK"
        data: list[object] = []
        if counts[0] != b"0":
            typ, data = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            assert typ == "OK"
    return [part[1] for part in data if isinstance(part, tuple)]


async def test_real_imap_login_from_a_new_network_alerts(imap_pair: TwoListeners) -> None:
    s = imap_pair.services
    first = await asyncio.to_thread(_login_and_read, "127.0.0.1", imap_pair.v4.port("imap"))
    await s.alerts.drain()
    assert first == [] and await inbox(s, LI) == []  # the first sign-in is silent
    again = await asyncio.to_thread(_login_and_read, "127.0.0.1", imap_pair.v4.port("imap"))
    await s.alerts.drain()
    assert again == [] and await inbox(s, LI) == []  # same device, same network
    await asyncio.to_thread(_login_and_read, "::1", imap_pair.v6.port("imap"))
    await s.alerts.drain()
    [notice] = await inbox(s, LI)
    body = text_of(notice)
    assert "在新的網路上登入" in body and "::1" in body and "IMAP" in body
    # ... and the client sees it in its INBOX.
    subjects = await asyncio.to_thread(_login_and_read, "::1", imap_pair.v6.port("imap"))
    assert len(subjects) == 1
    decoded = email.message_from_bytes(subjects[0], policy=email.policy.default)
    assert decoded["Subject"] == "您的郵箱有新的登入"


async def test_not_me_refuses_callers_without_account_and_foreign_records(
    svc: Services, root: Actor
) -> None:
    with pytest.raises(NotFound):
        await svc.alerts.report_not_me(root, None, "192.0.2.1")
    await sign_in(svc, TOM, "192.0.2.1")
    async with svc.authentication.uow(write=False) as uow:
        tom = await uow.accounts.by_key(TOM)
        assert tom is not None
        [record], _ = await uow.logins.search(None, LoginFilter(account_id=tom.id), 0, 5)
    li = await svc.identity.act_as(LI)
    with pytest.raises(NotFound):
        await svc.alerts.report_not_me(li, record.id, "192.0.2.1")
    async with svc.authentication.uow(write=False) as uow:
        account = await uow.accounts.by_key(LI)
        assert account is not None and account.required_actions == []
        assert (await uow.account_security.alerts(None, 0, 5))[1] == 0


async def test_not_me_forgets_the_reported_sign_in(svc: Services) -> None:
    await sign_in(svc, TOM, "192.0.2.1", CHROME_WIN, "web")
    await sign_in(svc, TOM, "198.51.100.7", FIREFOX_LINUX, "web")  # the intruder
    assert len(await inbox(svc, TOM)) == 1
    async with svc.authentication.uow(write=False) as uow:
        tom = await uow.accounts.by_key(TOM)
        assert tom is not None
        records, _ = await uow.logins.search(None, LoginFilter(account_id=tom.id), 0, 5)
    intruder = next(r for r in records if r.ip == "198.51.100.7")
    actor = await svc.identity.act_as(TOM)
    report = await svc.alerts.report_not_me(actor, intruder.id, "192.0.2.1")
    assert report.record_id == intruder.id
    await svc.alerts.drain()
    subjects = [m["Subject"] for m in await inbox(svc, TOM)]
    assert subjects[-1] == "Your account was secured"
    async with svc.authentication.uow(write=False) as uow:
        keys = sign_in_keys(tom.id, "web", "198.51.100.7", FIREFOX_LINUX)
        assert await uow.known_sign_ins.seen(tom.id, list(keys.items())) == {}
        mine = sign_in_keys(tom.id, "web", "192.0.2.1", CHROME_WIN)
        assert len(await uow.known_sign_ins.seen(tom.id, list(mine.items()))) == 2
    [to_boss] = await inbox(svc, BOSS)
    assert "reported a sign-in that was not theirs" in to_boss["Subject"]
    assert "198.51.100.7" not in to_boss["Subject"]
