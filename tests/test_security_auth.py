"""Account security in the services: throttling, login records, app passwords, the alert.

Both backends; time moves through an injected clock, never by sleeping."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import FAST_HASHER

from mailgate.domain.access import Actor, Role
from mailgate.domain.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from mailgate.domain.security import IP_ONLY, ThrottlePolicy
from mailgate.services.authentication import AuthReason
from mailgate.services.container import Services
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

PW = "a-long-enough-password"
LI = "li.na@acme.test"
WANG = "wang.wei@acme.test"
ADMIN = "admin@acme.test"
A, B = "198.51.100.7", "203.0.113.9"
POLICY = ThrottlePolicy(ip_free_failures=12, burst_failures=20, burst_min_ips=5)


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


async def seed(services: Services, root: Actor) -> None:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    for address in (LI, WANG, ADMIN):
        await services.accounts.create(root, address, password=PW, skip_first_login=True)
    await services.accounts.grant_role(root, ADMIN, Role.ORG_ADMIN, "acme")


@pytest.fixture
async def sec(database: Database, tmp_path: Path, clock: FakeClock, root: Actor) -> Services:
    blobs = FileBlobStore(tmp_path / "blobs")
    services = Services.build(
        SqlUnitOfWorkFactory(database), clock, FAST_HASHER, blobs, throttle=POLICY
    )
    await seed(services, root)
    return services


async def auth(s: Services, user: str, pw: str, ip: str = A, proto: str = "imap") -> AuthReason:
    d = await s.authentication.authenticate(user, pw, proto, ip, "test-client/1.0")
    return d.logged_reason


async def test_failures_from_one_ip_throttle_that_pair_only(
    sec: Services, clock: FakeClock
) -> None:
    for _ in range(5):
        assert await auth(sec, LI, "wrong") is AuthReason.BAD_PASSWORD
    # Throttled: the right password is refused, with the same decision as a wrong one.
    d = await sec.authentication.authenticate(LI, PW, "imap", A)
    assert (d.allowed, d.reason, d.cause) == (
        False,
        AuthReason.BAD_CREDENTIALS,
        AuthReason.THROTTLED,
    )
    # The real user elsewhere is not locked out; another account at A is not either.
    assert await auth(sec, LI, PW, ip=B) is AuthReason.OK
    assert await auth(sec, WANG, PW) is AuthReason.OK
    # Attempts while waiting do not count; after the wait the right password works ...
    clock.advance(seconds=59)
    assert await auth(sec, LI, PW) is AuthReason.THROTTLED
    clock.advance(seconds=2)
    assert await auth(sec, LI, PW) is AuthReason.OK
    # ... and resets the pair: four new failures are free again.
    for _ in range(4):
        assert await auth(sec, LI, "wrong") is AuthReason.BAD_PASSWORD
    assert await auth(sec, LI, PW) is AuthReason.OK


async def test_wait_grows_and_is_capped(sec: Services, clock: FakeClock) -> None:
    for _ in range(5):
        await auth(sec, LI, "wrong")
    clock.advance(seconds=61)
    assert await auth(sec, LI, "wrong") is AuthReason.BAD_PASSWORD  # 6th: wait 120 s
    clock.advance(seconds=119)
    assert await auth(sec, LI, PW) is AuthReason.THROTTLED
    clock.advance(seconds=2)
    assert await auth(sec, LI, PW) is AuthReason.OK
    policy = ThrottlePolicy()
    assert policy.wait(4, 5) == timedelta(0)
    assert policy.wait(5, 5) == timedelta(seconds=60)
    assert policy.wait(100, 5) == timedelta(minutes=15)


async def test_counters_reset_after_failure_reset_time(sec: Services, clock: FakeClock) -> None:
    for _ in range(4):
        await auth(sec, LI, "wrong")
    clock.advance(hours=12, seconds=1)
    assert await auth(sec, LI, "wrong") is AuthReason.BAD_PASSWORD
    async with sec.authentication.uow(write=False) as uow:
        account = await uow.accounts.by_key(LI)
        assert account is not None
        counters = await uow.throttle.get([(account.id, A), (IP_ONLY, A)])
    assert sorted(c.failures for c in counters) == [1, 1]
    # Four more would have throttled without the reset; they do not now.
    for _ in range(3):
        await auth(sec, LI, "wrong")
    assert await auth(sec, LI, PW) is AuthReason.OK


async def test_one_ip_is_throttled_across_accounts(sec: Services) -> None:
    # Spraying many names from one IP: the per-IP counter (12 free here) catches it.
    for i in range(12):
        assert await auth(sec, f"nobody{i}@acme.test", "guess") is AuthReason.UNKNOWN_USER
    assert await auth(sec, WANG, PW) is AuthReason.THROTTLED
    assert await auth(sec, "nobody@acme.test", PW) is AuthReason.THROTTLED
    assert await auth(sec, WANG, PW, ip=B) is AuthReason.OK


async def test_every_attempt_is_recorded(sec: Services, root: Actor) -> None:
    typed = "hunter2-typed-into-the-user-field"
    await sec.authentication.authenticate(LI, PW, "imap", A, "name=Thunderbird version=128")
    await sec.authentication.authenticate(LI, "wrong", "pop3", B)
    await sec.authentication.authenticate(typed, "x", "smtp", A)
    # Every active account may sign in to the portal (its own /account pages).
    await sec.identity.sign_in(LI, PW, source_ip=B, user_agent="Mozilla/5.0 Test")
    await sec.identity.sign_in(ADMIN, PW, source_ip=B, user_agent="Mozilla/5.0 Admin")
    records, total = await sec.logins.search_logins(root, None)
    assert total == 5
    got = [(r.protocol, r.ip, r.client_id, r.success, r.reason) for r in reversed(records)]
    assert got == [
        ("imap", A, "name=Thunderbird version=128", True, "ok"),
        ("pop3", B, "", False, "bad_password"),
        ("smtp", A, "", False, "unknown_user"),
        ("web", B, "Mozilla/5.0 Test", True, "ok"),
        ("web", B, "Mozilla/5.0 Admin", True, "ok"),
    ]
    unknown = records[2]
    assert unknown.account_id is None and unknown.username.startswith("unknown:")
    assert "hunter2" not in unknown.username
    assert records[4].username == LI and records[4].org_id is not None


async def test_web_sign_in_goes_through_the_limiter(sec: Services) -> None:
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await sec.identity.sign_in(ADMIN, "wrong", source_ip=A, user_agent="UA")
    with pytest.raises(AuthenticationFailed):
        await sec.identity.sign_in(ADMIN, PW, source_ip=A, user_agent="UA")
    session = await sec.identity.sign_in(ADMIN, PW, source_ip=B, user_agent="UA")
    assert session.actor.name == ADMIN


async def test_login_views_are_scope_checked(sec: Services, root: Actor) -> None:
    await auth(sec, LI, PW)
    await auth(sec, WANG, "wrong", ip=B)
    li = await sec.identity.act_as(LI)
    admin = await sec.identity.act_as(ADMIN)
    assert [r.username for r in await sec.logins.recent_logins(li, LI)] == [LI]
    with pytest.raises(NotFound):
        await sec.logins.recent_logins(li, WANG)
    assert len(await sec.logins.recent_logins(admin, WANG)) == 1
    with pytest.raises(NotFound):
        await sec.logins.search_logins(li, "acme")
    found, total = await sec.logins.search_logins(admin, "acme", ip=B, result="failure")
    assert total == 1 and found[0].username == WANG
    found, total = await sec.logins.search_logins(admin, "acme", result="bad_password")
    assert total == 1
    csv = await sec.logins.export_logins_csv(admin, "acme")
    lines = csv.strip().splitlines()
    assert lines[0].startswith("occurred_at,username,protocol,ip")
    assert len(lines) == 3
    with pytest.raises(InvalidInput):
        await sec.logins.search_logins(admin, "acme", result="no such; thing")


async def test_burst_from_many_ips_raises_one_alert_and_flags_web(
    sec: Services, root: Actor
) -> None:
    for i in range(20):
        await auth(sec, LI, "wrong", ip=f"192.0.2.{i % 5 + 1}")
    alerts, total = await sec.logins.alerts(root, "acme")
    assert total == 1 and alerts[0].kind == "failure_burst"
    assert alerts[0].details["ips"] == 5
    li = await sec.identity.act_as(LI)
    assert li.account_id is not None
    assert await sec.logins.requires_second_factor_on_web(li.account_id)
    await auth(sec, LI, "wrong", ip="192.0.2.200")
    assert (await sec.logins.alerts(root, None))[1] == 1  # raised once
    assert not await sec.logins.requires_second_factor_on_web(li.account_id + 1)


# --- app passwords ------------------------------------------------------------------------------


async def enrol_second_factor(sec: Services, address: str, clock: FakeClock) -> None:
    async with sec.authentication.uow() as uow:
        account = await uow.accounts.by_key(address)
        assert account is not None
        await uow.account_security.set_second_factor_enrolled(account.id, True, clock.now())
        await uow.commit()


async def test_app_password_scopes_shown_once_and_last_use(
    sec: Services, root: Actor, clock: FakeClock
) -> None:
    li = await sec.identity.act_as(LI)
    created = await sec.app_passwords.create(li, LI, "iPhone Mail", "imap,smtp")
    pw = created.password
    assert re.fullmatch(r"[a-z]{4}(-[a-z]{4}){4}", pw)
    assert await auth(sec, LI, pw, proto="imap") is AuthReason.OK
    assert await auth(sec, LI, pw.upper().replace("-", " "), proto="smtp") is AuthReason.OK
    assert await auth(sec, LI, pw, proto="pop3") is AuthReason.APP_PASSWORD_UNUSABLE
    assert await auth(sec, LI, pw, proto="web") is AuthReason.BAD_PASSWORD
    listed = await sec.app_passwords.list(li, LI)
    assert [a.name for a in listed] == ["iPhone Mail"]
    assert pw not in repr(listed) and listed[0].password_hash.startswith("$argon2id$")
    assert listed[0].last_used_ip == A and listed[0].last_used_at == clock.now()
    records, _ = await sec.logins.search_logins(root, None, result="success", protocol="imap")
    assert records[0].app_password_name == "iPhone Mail"
    with pytest.raises(Conflict):
        await sec.app_passwords.create(li, LI, "iphone mail", "imap")
    wang = await sec.identity.act_as(WANG)
    with pytest.raises(NotFound):
        await sec.app_passwords.create(wang, LI, "Sneaky", "imap")
    with pytest.raises(InvalidInput):
        await sec.app_passwords.create(li, LI, "Bad", "imap,ftp")


async def test_app_password_revocation_and_expiry(
    sec: Services, root: Actor, clock: FakeClock
) -> None:
    admin = await sec.identity.act_as(ADMIN)
    soon = await sec.app_passwords.create(admin, LI, "Laptop", "imap", date(2026, 3, 3))
    other = await sec.app_passwords.create(admin, LI, "Phone", "pop3")
    third = await sec.app_passwords.create(admin, LI, "Tablet", "smtp")
    assert await auth(sec, LI, soon.password) is AuthReason.OK
    clock.advance(days=2)
    assert await auth(sec, LI, soon.password) is AuthReason.APP_PASSWORD_UNUSABLE
    await sec.app_passwords.revoke(admin, LI, "Phone")
    assert await auth(sec, LI, other.password, proto="pop3") is AuthReason.BAD_PASSWORD
    with pytest.raises(NotFound):
        await sec.app_passwords.revoke(admin, LI, "Phone")
    account_id = soon.app_password.account_id
    assert await sec.app_passwords.revoke_all_app_passwords(account_id) == 2
    assert await auth(sec, LI, third.password, proto="smtp") is AuthReason.BAD_PASSWORD
    assert await sec.app_passwords.list(admin, LI) == []
    events, _ = await sec.audit.list(root)
    actions = [e.action for e in events]
    assert actions.count("app_password.create") == 3
    assert "app_password.revoke" in actions and "app_password.revoke_all" in actions


async def test_second_factor_makes_mail_clients_use_app_passwords(
    sec: Services, clock: FakeClock
) -> None:
    li = await sec.identity.act_as(LI)
    created = await sec.app_passwords.create(li, LI, "Thunderbird", "imap,pop3,smtp")
    await enrol_second_factor(sec, LI, clock)
    for proto in ("imap", "pop3", "smtp"):
        d = await sec.authentication.authenticate(LI, PW, proto, A)
        assert (d.allowed, d.reason) == (False, AuthReason.APP_PASSWORD_REQUIRED)
        assert await auth(sec, LI, created.password, proto=proto) is AuthReason.OK
    # Only mail protocols: the web asks for the second factor itself.
    assert await auth(sec, LI, PW, proto="web") is AuthReason.OK
    # A wrong password still says nothing about the second factor.
    assert await auth(sec, LI, "wrong") is AuthReason.BAD_PASSWORD
