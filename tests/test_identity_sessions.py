"""Web sessions on both backends: the second factor at sign-in (pending session, 5 minutes,
5 wrong codes, rotation), the failure-burst protection, sudo mode, listing and ending
sessions, server-side expiry, accounts that owe first-login steps, and rehash on login."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher as Argon2
from tests.clock import FakeClock
from tests.conftest import FAST_HASHER
from tests.test_factors import SoftKey

from mailgate.domain.access import Actor
from mailgate.domain.directory import Account, RequiredAction
from mailgate.domain.errors import AuthenticationFailed, NotFound
from mailgate.domain.factors import VerifyReason
from mailgate.domain.security import LoginRecord
from mailgate.services.authentication import AuthReason
from mailgate.services.container import Services
from mailgate.services.factors import FactorConfig
from mailgate.services.hashing import Argon2Hasher
from mailgate.services.identity import (
    SECOND_FACTOR_ATTEMPTS,
    SECOND_FACTOR_FAILED,
    SECOND_FACTOR_OK,
    SECOND_FACTOR_REQUIRED,
    PendingSignIn,
    SecondStep,
    SignInProtected,
    WebSession,
    code_step,
    token_hash,
)
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

PW = "correct-horse-battery-1"
USER = "user@a.test"
OTHER = "other@a.test"
RP_ID = "mail.a.test"
ORIGIN = "https://mail.a.test"
IP = "198.51.100.7"
UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"
T0 = datetime(2026, 3, 1, 9, 0, 10, tzinfo=UTC)  # 10 s into a 30-second TOTP step


@dataclass
class World:
    s: Services
    clock: FakeClock
    root: Actor
    user: Actor
    account: Account


def build(database: Database, tmp_path: Path, clock: FakeClock, **kw: object) -> Services:
    return Services.build(
        SqlUnitOfWorkFactory(database),
        clock,
        kw.pop("hasher", FAST_HASHER),  # type: ignore[arg-type]
        FileBlobStore(tmp_path / "blobs"),
        factors=FactorConfig(rp_id=RP_ID, origins=(ORIGIN,), secret_key=b"k" * 32),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def world(database: Database, tmp_path: Path, root: Actor) -> World:
    clock = FakeClock(T0)
    s = build(database, tmp_path, clock)
    await s.organisations.create(root, "org-a", "Org A", helpdesk_contact="IT desk, ext. 8000")
    await s.organisations.add_domain(root, "org-a", "a.test")
    account = await s.accounts.create(root, USER, password=PW, skip_first_login=True)
    await s.accounts.create(root, OTHER, password=PW, skip_first_login=True)
    return World(s, clock, root, await s.identity.act_as(USER), account)


async def enrol_totp(w: World) -> pyotp.TOTP:
    enrolment = await w.s.factors.enrol_totp(w.user, USER, "Phone")
    totp = pyotp.TOTP(enrolment.secret)
    # Confirmed with the previous step's code, so the current step is still unused.
    code = totp.at(w.clock.now() - timedelta(seconds=30))
    assert (await w.s.factors.confirm_totp(w.user, USER, enrolment.factor_id, code)).accepted
    return totp


async def sign_in(w: World, address: str = USER, ip: str = IP) -> WebSession | PendingSignIn:
    return await w.s.identity.sign_in(address, PW, source_ip=ip, user_agent=UA)


async def full(w: World, address: str = USER, ip: str = IP) -> WebSession:
    session = await sign_in(w, address, ip)
    assert isinstance(session, WebSession)
    return session


async def pending(w: World) -> PendingSignIn:
    found = await sign_in(w)
    assert isinstance(found, PendingSignIn)
    return found


async def web_records(w: World) -> list[LoginRecord]:
    records, _ = await w.s.logins.search_logins(w.root, None, protocol="web", limit=100)
    return list(reversed(records))


async def row_exists(w: World, token: str) -> bool:
    async with w.s.identity.uow(write=False) as uow:
        return await uow.web_sessions.find(token_hash(token)) is not None


def wrong_code(totp: pyotp.TOTP, at: datetime) -> str:
    """A code valid at no step within ten minutes either side."""
    near = {totp.at(at + timedelta(seconds=30 * step)) for step in range(-21, 22)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in near)


# --- second factor at sign-in ---------------------------------------------------------------


async def test_without_a_factor_the_password_opens_a_full_session(world: World) -> None:
    session = await full(world)
    assert session.reauth_at == T0 and world.s.identity.in_sudo(session)
    assert await world.s.identity.session(session.token, IP) is not None
    assert await world.s.identity.pending(session.token) is None


async def test_totp_sign_in_goes_through_a_pending_session(world: World) -> None:
    w = world
    totp = await enrol_totp(w)
    step = await pending(w)
    assert step.methods == {SecondStep.TOTP}  # recovery codes come with the web enrolment
    assert step.expires_at == T0 + timedelta(minutes=5)
    # The pending session is no session: it opens no page and no API.
    assert await w.s.identity.session(step.token, IP) is None
    assert await w.s.identity.pending(step.token) is not None

    refused = await w.s.identity.second_factor(
        step.token, SecondStep.TOTP, wrong_code(totp, T0), source_ip=IP, user_agent=UA
    )
    assert refused.session is None and not refused.ended
    assert refused.result is not None and refused.result.reason is VerifyReason.WRONG_CODE
    assert refused.attempts_left == SECOND_FACTOR_ATTEMPTS - 1

    done = await w.s.identity.second_factor(
        step.token, SecondStep.TOTP, totp.at(T0), source_ip=IP, user_agent=UA
    )
    assert done.session is not None
    assert done.session.token != step.token  # a new id once the factor is proven
    assert not await row_exists(w, step.token)
    assert await w.s.identity.session(done.session.token, IP) is not None
    assert done.session.reauth_at == T0

    reasons = [(r.success, r.reason) for r in await web_records(w)]
    assert reasons == [(True, "ok"), (False, SECOND_FACTOR_FAILED), (True, SECOND_FACTOR_OK)]
    events, _ = await w.s.audit.list(w.root, 0, 5)
    assert events[0].action == "session.sign_in"
    assert events[0].summary["second_factor"] == "totp"


async def test_five_wrong_codes_end_the_pending_session(world: World) -> None:
    w = world
    totp = await enrol_totp(w)
    step = await pending(w)
    for attempt in range(1, SECOND_FACTOR_ATTEMPTS + 1):
        outcome = await w.s.identity.second_factor(
            step.token, SecondStep.TOTP, wrong_code(totp, T0), source_ip=IP, user_agent=UA
        )
        assert outcome.ended is (attempt == SECOND_FACTOR_ATTEMPTS)
    assert not await row_exists(w, step.token)
    # Even the right code does nothing now: the person starts over with the password.
    late = await w.s.identity.second_factor(
        step.token, SecondStep.TOTP, totp.at(T0), source_ip=IP, user_agent=UA
    )
    assert late.session is None and late.ended
    # Each wrong code counted for the IP in the brute-force limiter.
    async with w.s.identity.uow(write=False) as uow:
        counters = await uow.throttle.get([(0, IP)])
    assert counters[0].failures == SECOND_FACTOR_ATTEMPTS


async def test_pending_session_expires_after_five_minutes(world: World) -> None:
    w = world
    totp = await enrol_totp(w)
    step = await pending(w)
    w.clock.advance(minutes=5, seconds=1)
    assert await w.s.identity.pending(step.token) is None
    outcome = await w.s.identity.second_factor(
        step.token, SecondStep.TOTP, totp.now(), source_ip=IP, user_agent=UA
    )
    assert outcome.ended and outcome.session is None
    assert not await row_exists(w, step.token)


async def test_clock_skew_hint_replay_and_recovery_code(world: World) -> None:
    w = world
    totp = await enrol_totp(w)
    codes = await w.s.factors.generate_recovery_codes(w.user, USER)
    step = await pending(w)
    skewed = await w.s.identity.second_factor(
        step.token,
        SecondStep.TOTP,
        totp.at(T0 + timedelta(minutes=5)),
        source_ip=IP,
        user_agent=UA,
    )
    assert skewed.result is not None and skewed.result.clock_skew_minutes == 5
    replay = await w.s.identity.second_factor(
        step.token,
        SecondStep.TOTP,
        totp.at(T0 - timedelta(seconds=30)),  # used for the confirmation
        source_ip=IP,
        user_agent=UA,
    )
    assert replay.result is not None and replay.result.reason is VerifyReason.REPLAY
    assert code_step(codes[0]) is SecondStep.RECOVERY_CODE
    assert code_step(" 123 456 ") is SecondStep.TOTP
    done = await w.s.identity.second_factor(
        step.token, code_step(codes[0]), codes[0], source_ip=IP, user_agent=UA
    )
    assert done.session is not None
    again = await pending(w)
    used = await w.s.identity.second_factor(
        again.token, SecondStep.RECOVERY_CODE, codes[0], source_ip=IP, user_agent=UA
    )
    assert used.result is not None and used.result.reason is VerifyReason.RECOVERY_CODE_WRONG


async def test_security_key_at_sign_in(world: World) -> None:
    w = world
    key = SoftKey(RP_ID, ORIGIN)
    options = await w.s.factors.webauthn_register_begin(w.user, USER)
    await w.s.factors.webauthn_register_finish(w.user, USER, key.register(options), "Key")
    step = await pending(w)
    assert step.methods == {SecondStep.WEBAUTHN}  # no recovery codes made yet
    request = await w.s.identity.webauthn_options(step.account_id)
    done = await w.s.identity.second_factor(
        step.token, SecondStep.WEBAUTHN, key.assert_(request), source_ip=IP, user_agent=UA
    )
    assert done.session is not None
    other = await pending(w)
    garbage = await w.s.identity.second_factor(
        other.token, SecondStep.WEBAUTHN, '{"id": 1}', source_ip=IP, user_agent=UA
    )
    assert garbage.result is not None
    assert garbage.result.reason is VerifyReason.WEBAUTHN_INVALID


async def test_failure_burst_without_factor_keeps_the_password_out(world: World) -> None:
    w = world
    async with w.s.identity.uow() as uow:
        await uow.account_security.set_requires_second_factor_on_web(w.account.id, True, T0)
        await uow.commit()
    with pytest.raises(SignInProtected) as refused:
        await sign_in(w)
    assert refused.value.helpdesk_contact == "IT desk, ext. 8000"
    assert isinstance(refused.value, AuthenticationFailed)
    records = await web_records(w)
    assert (records[-1].success, records[-1].reason) == (False, SECOND_FACTOR_REQUIRED)
    async with w.s.identity.uow(write=False) as uow:
        assert await uow.web_sessions.for_account(w.account.id) == []
    # With a factor, the same flag means the usual second step.
    await enrol_totp(w)
    assert isinstance(await sign_in(w), PendingSignIn)
    # A wrong password is still just a wrong password.
    with pytest.raises(AuthenticationFailed) as wrong:
        await w.s.identity.sign_in(USER, "nope", source_ip=IP, user_agent=UA)
    assert not isinstance(wrong.value, SignInProtected)


# --- sudo mode ------------------------------------------------------------------------------


async def test_sudo_mode_lasts_the_window_and_reauthentication_renews_it(world: World) -> None:
    w = world
    session = await full(w)
    w.clock.advance(minutes=10, seconds=1)
    session = await w.s.identity.session(session.token, IP) or session
    assert not w.s.identity.in_sudo(session)
    bad = await w.s.identity.reauthenticate(session, "wrong", None, "", source_ip=IP, user_agent=UA)
    assert not bad.accepted and bad.password_refused
    assert (await web_records(w))[-1].reason == AuthReason.BAD_PASSWORD.value  # recorded
    ok = await w.s.identity.reauthenticate(session, PW, None, "", source_ip=IP, user_agent=UA)
    assert ok.accepted
    renewed = await w.s.identity.session(session.token, IP)
    assert renewed is not None and renewed.reauth_at == w.clock.now()
    assert w.s.identity.in_sudo(renewed)
    events, _ = await w.s.audit.list(w.root, 0, 1)
    assert events[0].action == "session.reauthenticate"


async def test_sudo_needs_the_second_factor_when_enrolled(world: World) -> None:
    w = world
    totp = await enrol_totp(w)
    step = await pending(w)
    done = await w.s.identity.second_factor(
        step.token, SecondStep.TOTP, totp.at(T0), source_ip=IP, user_agent=UA
    )
    assert done.session is not None
    w.clock.advance(minutes=11)
    session = await w.s.identity.session(done.session.token, IP)
    assert session is not None and not w.s.identity.in_sudo(session)
    no_code = await w.s.identity.reauthenticate(session, PW, None, "", source_ip=IP, user_agent=UA)
    assert not no_code.accepted and not no_code.password_refused
    wrong = await w.s.identity.reauthenticate(
        session, PW, SecondStep.TOTP, wrong_code(totp, w.clock.now()), source_ip=IP, user_agent=UA
    )
    assert not wrong.accepted and wrong.result is not None
    assert (await web_records(w))[-1].reason == SECOND_FACTOR_FAILED
    ok = await w.s.identity.reauthenticate(
        session, PW, SecondStep.TOTP, totp.at(w.clock.now()), source_ip=IP, user_agent=UA
    )
    assert ok.accepted


async def test_sudo_window_comes_from_the_setting(
    database: Database, tmp_path: Path, root: Actor
) -> None:
    clock = FakeClock(T0)
    s = build(database, tmp_path, clock, sudo=timedelta(minutes=2))
    await s.organisations.create(root, "org-a", "Org A")
    await s.organisations.add_domain(root, "org-a", "a.test")
    await s.accounts.create(root, USER, password=PW, skip_first_login=True)
    session = await s.identity.sign_in(USER, PW, source_ip=IP, user_agent=UA)
    assert isinstance(session, WebSession)
    clock.advance(minutes=1, seconds=59)
    assert s.identity.in_sudo(session)
    clock.advance(seconds=2)
    assert not s.identity.in_sudo(session)


# --- sessions -------------------------------------------------------------------------------


async def test_list_and_end_sessions(world: World) -> None:
    w = world
    first = await full(w)
    second = await full(w, ip="203.0.113.9")
    theirs = await full(w, OTHER)
    rows = await w.s.identity.list_sessions(first)
    assert {r.ip for r in rows} == {IP, "203.0.113.9"}
    assert [r.current for r in rows if r.handle == first.handle] == [True]
    assert all(len(r.handle) == 24 and r.handle not in first.token for r in rows)
    # Another account's handle is not ours to end.
    with pytest.raises(NotFound):
        await w.s.identity.end_session(first, theirs.handle)
    assert await w.s.identity.session(theirs.token, IP) is not None
    assert await w.s.identity.end_session(first, second.handle) is False
    assert await w.s.identity.session(second.token, IP) is None
    third = await full(w)
    assert await w.s.identity.end_other_sessions(first) == 1
    assert await w.s.identity.session(third.token, IP) is None
    assert await w.s.identity.session(first.token, IP) is not None
    assert await w.s.identity.end_session(first, first.handle) is True
    assert await w.s.identity.session(first.token, IP) is None
    actions = [e.action for e in (await w.s.audit.list(w.root, 0, 3))[0]]
    assert actions == ["session.end", "session.end_others", "session.sign_in"]


async def test_expired_rows_disappear_from_the_list(world: World) -> None:
    w = world
    old = await full(w)
    w.clock.advance(minutes=20)
    active = await full(w, ip="203.0.113.1")
    w.clock.advance(minutes=20)
    current = await full(w, ip="203.0.113.2")
    # `active` is used now; `old` was last seen at its sign-in, 40 minutes ago (idle > 30).
    assert await w.s.identity.session(active.token, "203.0.113.1") is not None
    rows = await w.s.identity.list_sessions(current)
    assert {r.handle for r in rows} == {active.handle, current.handle}
    assert not await row_exists(w, old.token)


async def test_idle_and_absolute_expiry_end_the_session_server_side(world: World) -> None:
    w = world
    session = await full(w)
    w.clock.advance(minutes=31)
    assert await w.s.identity.session(session.token, IP) is None
    assert not await row_exists(w, session.token)  # gone, not merely refused
    busy = await full(w)
    for _ in range(24):  # active every 30 minutes, for 12 hours
        w.clock.advance(minutes=29)
        assert await w.s.identity.session(busy.token, IP) is not None
        w.clock.advance(minutes=1)
    w.clock.advance(minutes=1)
    assert await w.s.identity.session(busy.token, IP) is None
    assert not await row_exists(w, busy.token)


async def test_sign_out_ends_the_session_server_side(world: World) -> None:
    w = world
    session = await full(w)
    await w.s.identity.sign_out(session.token, session.actor)
    assert not await row_exists(w, session.token)
    assert await w.s.identity.session(session.token, IP) is None


async def test_rotate_gives_a_new_id_and_keeps_the_handle(world: World) -> None:
    w = world
    session = await full(w)
    w.clock.advance(minutes=15)
    renewed = await w.s.identity.rotate(session)
    assert renewed.token != session.token and renewed.csrf != session.csrf
    assert renewed.handle == session.handle and renewed.reauth_at == w.clock.now()
    assert await w.s.identity.session(session.token, IP) is None
    assert await w.s.identity.session(renewed.token, IP) is not None
    with pytest.raises(AuthenticationFailed):
        await w.s.identity.rotate(session)


async def test_accounts_owing_first_login_steps_lose_sessions_and_api(world: World) -> None:
    w = world
    session = await full(w)
    token = await w.s.identity.create_api_token(w.user, USER, "script")
    assert (await w.s.identity.api_actor(token, IP)).name == USER
    async with w.s.identity.uow() as uow:
        account = await uow.accounts.get(w.account.id)
        assert account is not None
        account.required_actions = [RequiredAction.UPDATE_PASSWORD]
        account.skipped_first_login = False
        await uow.accounts.update(account)
        await uow.commit()
    with pytest.raises(AuthenticationFailed):
        await w.s.identity.api_actor(token, IP)
    assert await w.s.identity.session(session.token, IP) is None
    assert not await row_exists(w, session.token)


# --- rehash on login ------------------------------------------------------------------------


async def test_password_is_rehashed_when_the_parameters_change(
    world: World, database: Database, tmp_path: Path
) -> None:
    w = world
    before = w.account.password_hash
    assert before is not None and "m=8192,t=1,p=1" in before
    stronger = Argon2Hasher(time_cost=2, memory_cost_kib=9216, parallelism=1)
    s = build(database, tmp_path, w.clock, hasher=stronger)
    decision = await s.authentication.authenticate(USER, PW, "imap", IP)
    assert decision.allowed
    async with s.identity.uow(write=False) as uow:
        account = await uow.accounts.get(w.account.id)
    assert account is not None and account.password_hash is not None
    after = account.password_hash
    assert after != before and "m=9216,t=2,p=1" in after
    assert not stronger.needs_rehash(after)
    assert Argon2().verify(after, PW)
    # App passwords and wrong passwords never rewrite the main hash.
    assert not (await s.authentication.authenticate(USER, "wrong", "imap", IP)).allowed
    async with s.identity.uow(write=False) as uow:
        again = await uow.accounts.get(w.account.id)
    assert again is not None and again.password_hash == after
