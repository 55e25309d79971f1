"""Administrators' security actions (issue #5, item 10) on SQLite and PostgreSQL: lock, unlock,
force a password change, reset second factors, end sessions, revoke app passwords, lockdown;
who may do which, the audit trail, the notices, and a real IMAP login refused afterwards."""

from __future__ import annotations

import asyncio
import email
import email.policy
import imaplib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import trustme
from tests.imap.server_support import make_settings

from mailgate.domain.access import Actor, Role
from mailgate.domain.audit import AuditEvent
from mailgate.domain.directory import AccountAction, AccountState, RequiredAction
from mailgate.domain.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from mailgate.domain.notices import NoticeKind
from mailgate.protocols.imap.server import start_imap
from mailgate.services.container import Services
from mailgate.services.notice_texts import render

PW = "correct horse battery staple"
LI = "li.na@acme.test"
WANG = "wang.wei@acme.test"
ADMIN = "admin@acme.test"
DESK = "desk@acme.test"
VIEWER = "viewer@acme.test"
BETA_ADMIN = "boss@beta.test"
HELPDESK = "IT desk, ext. 8888"
IP = "198.51.100.20"
NEW_SIGN_IN = render(NoticeKind.NEW_SIGN_IN, "en", {})[0]


@dataclass
class Acme:
    services: Services
    root: Actor
    admin: Actor
    desk: Actor
    viewer: Actor
    beta_admin: Actor
    li: Actor


@pytest.fixture(autouse=True)
async def _background_work_ends(services: Services) -> AsyncIterator[None]:
    """Sign-ins start notices in the background (new device): let them end with the test."""
    yield
    await services.alerts.drain()


@pytest.fixture
async def acme(services: Services, root: Actor) -> Acme:
    s = services
    await s.organisations.create(root, "acme", "Acme", helpdesk_contact=HELPDESK)
    await s.organisations.add_domain(root, "acme", "acme.test")
    await s.organisations.create(root, "beta", "Beta")
    await s.organisations.add_domain(root, "beta", "beta.test")
    for address in (LI, WANG, ADMIN, DESK, VIEWER, BETA_ADMIN):
        await s.accounts.create(root, address, password=PW, skip_first_login=True, language="en")
    await s.accounts.grant_role(root, ADMIN, Role.ORG_ADMIN, "acme")
    await s.accounts.grant_role(root, DESK, Role.HELPDESK, "acme")
    await s.accounts.grant_role(root, VIEWER, Role.REVIEWER, "acme")
    await s.accounts.grant_role(root, BETA_ADMIN, Role.ORG_ADMIN, "beta")
    act = s.identity.act_as
    return Acme(
        s, root, await act(ADMIN, IP), await act(DESK), await act(VIEWER), await act(BETA_ADMIN),
        await act(LI),
    )  # fmt: skip


async def inbox(acme: Acme, address: str) -> list[email.message.EmailMessage]:
    """The notices in the account's INBOX but those about sign-ins from a new device (the
    sign-ins these tests make to open web sessions cause them)."""
    await acme.services.alerts.drain()
    found, _ = await acme.services.mailstore.messages(acme.root, address)
    out = []
    for item in found:
        raw = await acme.services.mailstore.read(item.blob_id)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        if message["Subject"] != NEW_SIGN_IN:
            out.append(message)
    return out


def body_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def events(acme: Acme, action: str) -> list[AuditEvent]:
    found, _ = await acme.services.audit.list(acme.root, 0, 500)
    return [e for e in found if e.action == action]


async def sign_in(acme: Acme, address: str = LI) -> str:
    session = await acme.services.identity.sign_in(
        address, PW, source_ip="192.0.2.1", user_agent="Firefox/140"
    )
    return session.token


async def imap_allows(acme: Acme, password: str) -> bool:
    d = await acme.services.authentication.authenticate(LI, password, "imap", "192.0.2.9")
    return d.allowed


async def test_lockdown_does_everything_in_one_go(acme: Acme) -> None:
    s = acme.services
    tokens = [await sign_in(acme), await sign_in(acme)]
    app_pw = (await s.app_passwords.create(acme.li, LI, "Phone", "imap,smtp")).password
    assert await imap_allows(acme, app_pw)

    result = await s.account_admin.lockdown(acme.admin, LI, "  phishing   reported  ")

    assert (result.sessions_ended, result.app_passwords_revoked) == (2, 1)
    assert result.state_before is AccountState.ACTIVE
    account = await s.accounts.get(acme.root, LI)
    assert account.state is AccountState.LOCKED
    assert RequiredAction.UPDATE_PASSWORD in account.required_actions
    for token in tokens:
        assert await s.identity.session(token, "192.0.2.1") is None
    assert await s.app_passwords.list(acme.root, LI) == []
    assert not await imap_allows(acme, app_pw)
    assert not await imap_allows(acme, PW)

    (event,) = await events(acme, "account.lockdown")
    assert event.actor == ADMIN and event.source_ip == IP and event.target == f"account:{LI}"
    assert event.summary == {
        "reason": "phishing reported",
        "from": "active",
        "to": "locked",
        "sessions_ended": 2,
        "app_passwords_revoked": 1,
        "api_tokens_revoked": 0,
        "forwarding_removed": False,
        "update_password": True,
        "update_password_already_required": False,
    }
    (revoked,) = await events(acme, "app_password.revoke_all")
    assert revoked.summary == {"count": 1} and revoked.actor == ADMIN
    report = await s.audit.verify(acme.root)
    assert report.ok

    (notice,) = await inbox(acme, LI)
    assert notice["Subject"] == "Your account was secured"
    told = body_of(notice)
    assert "Reason: phishing reported" in told and "also locked the account" in told
    assert HELPDESK in told
    (to_admin,) = await inbox(acme, ADMIN)
    assert to_admin["Subject"] == f"Security: {LI} was locked down"
    text = body_of(to_admin)
    assert ADMIN in text and "phishing reported" in text and f"/admin/accounts/{LI}" in text
    assert await inbox(acme, BETA_ADMIN) == []


async def test_lockdown_and_lock_need_a_reason_and_not_oneself(acme: Acme) -> None:
    admin_ = acme.services.account_admin
    with pytest.raises(InvalidInput, match="reason"):
        await admin_.lockdown(acme.admin, LI, "   ")
    with pytest.raises(InvalidInput, match="reason"):
        await admin_.lock(acme.admin, LI, "")
    with pytest.raises(InvalidInput, match="500"):
        await admin_.lockdown(acme.admin, LI, "x" * 501)
    with pytest.raises(PermissionDenied, match="your own account"):
        await admin_.lockdown(acme.admin, ADMIN, "testing")
    with pytest.raises(PermissionDenied, match="your own account"):
        await admin_.lock(acme.admin, ADMIN, "testing")
    for address in (LI, ADMIN):
        account = await acme.services.accounts.get(acme.root, address)
        assert account.state is AccountState.ACTIVE and account.required_actions == []
    assert await events(acme, "account.lockdown") == []
    assert await events(acme, "account.lock") == []


async def test_lockdown_keeps_a_state_that_already_keeps_the_person_out(acme: Acme) -> None:
    s = acme.services
    await s.accounts.change_state(acme.admin, LI, AccountAction.SUSPEND, reason="leave")
    result = await s.account_admin.lockdown(acme.admin, LI, "laptop stolen")
    assert result.account.state is AccountState.SUSPENDED
    assert (result.sessions_ended, result.app_passwords_revoked) == (0, 0)
    (event,) = await events(acme, "account.lockdown")
    assert (event.summary["from"], event.summary["to"]) == ("suspended", "suspended")
    # Twice is harmless: the password step is not added again.
    await s.account_admin.lockdown(acme.admin, LI, "again")
    account = await s.accounts.get(acme.root, LI)
    assert account.required_actions.count(RequiredAction.UPDATE_PASSWORD) == 1


async def test_lock_and_unlock_tell_the_person(acme: Acme) -> None:
    s = acme.services
    locked = await s.account_admin.lock(acme.admin, LI, "left the company")
    assert locked.state is AccountState.LOCKED
    with pytest.raises(InvalidTransition):
        await s.account_admin.lock(acme.admin, LI, "again")
    assert not await imap_allows(acme, PW)
    unlocked = await s.account_admin.unlock(acme.desk, LI)
    assert unlocked.state is AccountState.ACTIVE
    assert await imap_allows(acme, PW)

    (lock_event,) = await events(acme, "account.lock")
    assert lock_event.summary["reason"] == "left the company" and lock_event.actor == ADMIN
    (unlock_event,) = await events(acme, "account.unlock")
    assert unlock_event.actor == DESK
    subjects = {m["Subject"]: body_of(m) for m in await inbox(acme, LI)}
    assert set(subjects) == {"Your account was locked", "Your account was unlocked"}
    assert "left the company" in subjects["Your account was locked"]
    assert HELPDESK in subjects["Your account was locked"]
    assert "This wasn't me" not in subjects["Your account was locked"]


async def test_force_password_change(acme: Acme) -> None:
    s = acme.services
    assert await s.account_admin.force_password_change(acme.admin, LI, "yearly audit") is True
    account = await s.accounts.get(acme.root, LI)
    assert account.required_actions == [RequiredAction.UPDATE_PASSWORD]
    assert await s.account_admin.force_password_change(acme.admin, LI) is False
    first, second = sorted(await events(acme, "account.force_password_change"), key=lambda e: e.seq)
    assert first.summary == {"reason": "yearly audit", "already_required": False}
    assert second.summary == {"reason": "", "already_required": True}
    assert [m["Subject"] for m in await inbox(acme, LI)] == ["Choose a new password"]
    # An account still owing its first password already has to choose one.
    await s.accounts.create(acme.root, "new@acme.test")
    assert await s.account_admin.force_password_change(acme.admin, "new@acme.test") is False


async def test_revoke_sessions_and_app_passwords(acme: Acme) -> None:
    s = acme.services
    token = await sign_in(acme)
    keep = await sign_in(acme, WANG)
    first = (await s.app_passwords.create(acme.li, LI, "Phone", "imap")).password
    await s.app_passwords.create(acme.li, LI, "Laptop", "imap,pop3")

    assert await s.account_admin.revoke_sessions(acme.admin, LI, "shared computer") == 1
    assert await s.identity.session(token, "192.0.2.1") is None
    assert await s.identity.session(keep, "192.0.2.1") is not None
    assert await s.account_admin.revoke_sessions(acme.admin, LI) == 0

    assert await s.account_admin.revoke_app_passwords(acme.admin, LI, "new phone") == 2
    assert not await imap_allows(acme, first)
    assert await imap_allows(acme, PW)  # the main password still works (no second factor)
    assert await s.account_admin.revoke_app_passwords(acme.admin, LI) == 0

    sessions_events = await events(acme, "account.revoke_sessions")
    assert sorted(e.summary["sessions_ended"] for e in sessions_events) == [0, 1]
    assert {e.summary["reason"] for e in sessions_events} == {"shared computer", ""}
    app_events = await events(acme, "account.revoke_app_passwords")
    assert sorted(e.summary["app_passwords_revoked"] for e in app_events) == [0, 2]
    # Told once each (nothing to tell when nothing was ended).
    subjects = sorted(m["Subject"] for m in await inbox(acme, LI))
    assert subjects == ["You were signed out everywhere", "Your app passwords were revoked"]


async def test_reset_second_factors_names_who_verified(acme: Acme) -> None:
    s = acme.services
    enrolment = await s.factors.enrol_totp(acme.li, LI)
    code = pyotp.TOTP(enrolment.secret).now()
    assert (await s.factors.confirm_totp(acme.li, LI, enrolment.factor_id, code)).accepted
    with pytest.raises(InvalidInput, match="verified"):
        await s.account_admin.reset_second_factors(acme.admin, LI, " ", "ID card")
    with pytest.raises(PermissionDenied):
        await s.account_admin.reset_second_factors(acme.admin, ADMIN, "Wang", "ID card")
    removed = await s.account_admin.reset_second_factors(
        acme.admin, LI, "Wang Wei (IT)", "in person, staff card"
    )
    assert removed == 1
    assert not (await s.factors.list_factors(acme.admin, LI)).enrolled
    (event,) = await events(acme, "factor.reset")
    assert event.summary["verified_by"] == "Wang Wei (IT)"
    assert event.summary["method"] == "in person, staff card"
    notices = [m["Subject"] for m in await inbox(acme, LI)]
    assert "Your sign-in methods were reset" in notices
    assert await s.account_admin.reset_second_factors(acme.admin, LI, "Wang", "phone") == 0


async def test_who_may_do_what(acme: Acme) -> None:
    a = acme.services.account_admin
    # Another organisation's admin does not even see the account.
    for call in (
        a.lockdown(acme.beta_admin, LI, "r"),
        a.lock(acme.beta_admin, LI, "r"),
        a.unlock(acme.beta_admin, LI),
        a.force_password_change(acme.beta_admin, LI),
        a.reset_second_factors(acme.beta_admin, LI, "x", "y"),
        a.revoke_sessions(acme.beta_admin, LI),
        a.revoke_app_passwords(acme.beta_admin, LI),
        a.sessions(acme.beta_admin, LI),
        a.audit_events(acme.beta_admin, LI),
        a.lockdown(acme.li, WANG, "r"),  # a plain account, neither
        a.lockdown(acme.admin, "nobody@acme.test", "r"),
        a.lockdown(acme.admin, "not an address", "r"),
    ):
        with pytest.raises(NotFound):
            await call
    # Helpdesk and reviewers read; the helpdesk also unlocks; neither changes anything else.
    for actor in (acme.desk, acme.viewer):
        assert await a.sessions(actor, LI) == []
        for call in (
            a.lockdown(actor, LI, "r"),
            a.lock(actor, LI, "r"),
            a.force_password_change(actor, LI),
            a.reset_second_factors(actor, LI, "x", "y"),
            a.revoke_sessions(actor, LI),
            a.revoke_app_passwords(actor, LI),
        ):
            with pytest.raises(PermissionDenied):
                await call
        assert await a.audit_events(actor, LI) == []  # no AUDIT_READ
    await a.lock(acme.admin, LI, "checking")
    with pytest.raises(PermissionDenied):
        await a.unlock(acme.viewer, LI)
    assert (await a.unlock(acme.desk, LI)).state is AccountState.ACTIVE
    account = await acme.services.accounts.get(acme.root, LI)
    assert account.required_actions == []


async def test_sessions_and_audit_seen_by_the_admin(acme: Acme) -> None:
    s = acme.services
    await sign_in(acme)
    (view,) = await s.account_admin.sessions(acme.admin, LI)
    assert (view.user_agent, view.ip, view.stage) == ("Firefox/140", "192.0.2.1", "full")
    assert not hasattr(view, "csrf") and not hasattr(view, "id_hash")
    await s.account_admin.lockdown(acme.admin, LI, "phishing")
    await s.account_admin.unlock(acme.admin, LI, "cleared")
    found = await s.account_admin.audit_events(acme.admin, LI)
    assert [e.action for e in found][:2] == ["account.unlock", "account.lockdown"]
    assert found[0].summary["reason"] == "cleared"
    assert all(e.target == f"account:{LI}" for e in found)
    assert await s.account_admin.sessions(acme.admin, LI) == []


@pytest.fixture
async def imap_port(acme: Acme, tmp_path: Path) -> AsyncIterator[int]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    listeners = await start_imap(acme.services, make_settings(tmp_path), server_ctx)
    yield listeners.port("imap")
    await listeners.close()


def imap_login(port: int, password: str) -> str:
    """A real imaplib LOGIN over loopback: "OK", or the server's refusal."""
    with imaplib.IMAP4("127.0.0.1", port, timeout=20) as client:
        try:
            status, _ = client.login(LI, password)
        except imaplib.IMAP4.error as exc:
            return str(exc)
        client.logout()
        return str(status)


async def test_imap_refuses_a_revoked_app_password_after_lockdown(
    acme: Acme, imap_port: int
) -> None:
    s = acme.services
    app_pw = (await s.app_passwords.create(acme.li, LI, "Thunderbird", "imap")).password
    assert await asyncio.to_thread(imap_login, imap_port, app_pw) == "OK"

    await s.account_admin.lockdown(acme.admin, LI, "credentials leaked")
    refused = await asyncio.to_thread(imap_login, imap_port, app_pw)
    assert "AUTHENTICATIONFAILED" in refused
    # Unlocked again, the app password stays revoked.
    await s.account_admin.unlock(acme.admin, LI, "investigated")
    assert "AUTHENTICATIONFAILED" in await asyncio.to_thread(imap_login, imap_port, app_pw)

    records = await s.logins.recent_logins(acme.admin, LI, 10)
    assert [r.success for r in records[:3]] == [False, False, True]
    assert all(r.protocol == "imap" for r in records[:3])
