"""The forced first login (services.activation) on both backends: the activation code (wrong,
malformed, another account's, expired, used, used up, all refused alike; refusals count against
the IP in the sign-in throttle), every step in its order and none skipped, an interrupted flow
resumed by signing in with the new password (and the second factor), the account activated
with the welcome message in its INBOX, and mail and API tokens refused until then - by real
imaplib, smtplib and poplib clients against servers on 127.0.0.1, with the refusal naming the
portal's /activate page only after the right password."""

from __future__ import annotations

import asyncio
import imaplib
import poplib
import re
import smtplib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import trustme
from sqlalchemy import select
from tests.test_factors import SoftKey
from tests.test_provisioning import account_of, auto_approve
from tests.test_workflow import IP, World, w

from mailgate.domain.access import Actor
from mailgate.domain.directory import Account, AccountAction, AccountState, RequiredAction
from mailgate.domain.errors import AuthenticationFailed, InvalidInput
from mailgate.domain.recovery import CodePurpose, ContactKind
from mailgate.protocols.imap.server import start_imap
from mailgate.protocols.pop3 import start_pop3
from mailgate.protocols.smtp import start_smtp
from mailgate.services.activation import (
    ActivationRefused,
    ActivationThrottled,
    Step,
    WrongStep,
)
from mailgate.services.authentication import AuthReason
from mailgate.services.credentials import PasswordRejected
from mailgate.services.identity import (
    STAGE_ACTIVATION,
    PendingSignIn,
    RestrictedSession,
    SecondStep,
    WebSession,
)
from mailgate.settings import load_settings
from mailgate.storage.tables import audit_events, one_time_codes

__all__ = ["w"]

NEW_PW = "a river of tea leaves in autumn"
UA = "Mozilla/5.0 (activation test)"
PORTAL = "https://mail.acme.test"
BACKUP = "zhang.wei@home.example"
_ACTIVATION_CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b")
_SIX = re.compile(r"\b(\d{6})\b")
REFUSED = "the address or activation code is not correct"


@dataclass
class New:
    """A provisioned account and the activation code its applicant got by SMS."""

    account: Account
    code: str

    @property
    def address(self) -> str:
        return self.account.address


@pytest.fixture(autouse=True)
async def drained(w: World) -> AsyncIterator[None]:
    """Sign-ins start "new device" notices in the background; they end before the database."""
    yield
    await w.s.alerts.drain()


async def provisioned(w: World, employee_id: str = "E001", **policy: object) -> New:
    await auto_approve(w, **policy)
    account = await account_of(w, employee_id)
    texts = [t for t in w.sms_to("+8613800138001") if account.address in t]
    (code,) = _ACTIVATION_CODE.findall(texts[-1])
    return New(account, code)


async def actor_of(w: World, restricted: RestrictedSession) -> Actor:
    return await w.s.identity.act_as(restricted.address, IP)


async def fresh(w: World, account_id: int) -> Account:
    async with w.s.workflow.uow(write=False) as uow:
        account = await uow.accounts.get(account_id)
    assert account is not None
    return account


async def verify_backup(w: World, actor: Actor) -> None:
    contact_id = await w.s.activation.add_contact(actor, ContactKind.EMAIL, BACKUP)
    (mail,) = await w.queued_to(BACKUP)
    await w.s.activation.verify_contact(actor, contact_id, _SIX.findall(mail)[-1])


async def totp_enrolled(w: World, actor: Actor) -> pyotp.TOTP:
    enrolment = await w.s.activation.enrol_totp(actor, "Phone")
    totp = pyotp.TOTP(enrolment.secret)
    result = await w.s.activation.confirm_totp(actor, enrolment.factor_id, totp.at(w.clock.now()))
    assert result.accepted
    return totp


async def audit_actions(w: World) -> list[str]:
    async with w.db.reader.connect() as conn:
        rows = (await conn.execute(select(audit_events.c.action))).all()
    return [r[0] for r in rows]


# --- the whole way ----------------------------------------------------------------------------


async def test_every_step_in_order_then_active_with_the_welcome_message(w: World) -> None:
    new = await provisioned(w, second_factor_required=True)
    assert new.account.required_actions == [
        RequiredAction.SET_PASSWORD,
        RequiredAction.ENROL_SECOND_FACTOR,
        RequiredAction.VERIFY_RECOVERY_CONTACT,
    ]
    restricted = await w.s.activation.start(new.address, new.code.lower(), IP, UA)
    assert (restricted.stage, restricted.address) == (STAGE_ACTIVATION, new.address)
    assert await w.s.identity.restricted(restricted.token, STAGE_ACTIVATION) is not None
    actor = await actor_of(w, restricted)
    activation = w.s.activation

    progress = await activation.progress(new.account)
    assert progress.steps == (
        Step.PASSWORD,
        Step.SECOND_FACTOR,
        Step.RECOVERY_CONTACT,
        Step.RECOVERY_CODES,
    )
    assert (progress.step, progress.number, progress.total) == (Step.PASSWORD, 1, 4)
    # nothing can be skipped: every later step and the end are refused, naming the current one
    skipped = [
        activation.enrol_totp(actor, "Phone"),
        activation.add_contact(actor, ContactKind.EMAIL, BACKUP),
        activation.recovery_codes(actor),
        activation.complete(actor),
    ]
    for attempt in skipped:
        with pytest.raises(WrongStep) as refused:
            await attempt
        assert refused.value.current is Step.PASSWORD

    with pytest.raises(PasswordRejected):
        await activation.set_password(actor, "password")
    with pytest.raises(PasswordRejected):
        await activation.set_password(actor, "zhangwei e001 acme")  # name, employee ID
    await activation.set_password(actor, NEW_PW)
    assert (await activation.progress(new.account)).number == 2
    with pytest.raises(WrongStep):
        await activation.set_password(actor, NEW_PW + " again")

    with pytest.raises(WrongStep):
        await activation.add_contact(actor, ContactKind.EMAIL, BACKUP)
    totp = await totp_enrolled(w, actor)
    assert await activation.next_step(new.account) is Step.RECOVERY_CONTACT

    with pytest.raises(WrongStep):
        await activation.recovery_codes(actor)
    await verify_backup(w, actor)
    assert await activation.next_step(new.account) is Step.RECOVERY_CODES
    with pytest.raises(WrongStep, match="recovery codes"):
        await activation.complete(actor)  # the codes were never shown
    codes = await activation.recovery_codes(actor)
    assert len(codes) == 10
    assert (await fresh(w, new.account.id)).state is AccountState.PENDING_ACTIVATION

    session = await activation.finish(restricted, client_ip=IP, user_agent=UA)
    assert isinstance(session, WebSession) and session.actor.account_id == new.account.id
    assert w.s.identity.in_sudo(session)  # an app password can be made right away
    assert await w.s.identity.restricted(restricted.token, STAGE_ACTIVATION) is None
    account = await fresh(w, new.account.id)
    assert (account.state, account.required_actions) == (AccountState.ACTIVE, [])
    assert not account.skipped_first_login

    (welcome,) = [m for m in await w.inbox(new.address) if "欢迎使用您的邮箱" in m]
    assert f"用户名：{new.address}" in welcome
    assert "收件服务器（IMAP）：localhost，端口 2993（SSL/TLS）或端口 2143（STARTTLS）" in welcome
    assert "发件服务器（SMTP）：localhost，端口 2465（SSL/TLS）" in welcome
    assert (
        "客户端专用密码。您已开启两步验证" in welcome
        and f"{PORTAL}/account/app-passwords" in welcome
    )
    assert not [m for m in await w.queued_to(BACKUP) if "欢迎" in m]  # the mailbox only
    actions = await audit_actions(w)
    for action in (
        "account.activation_start",
        "account.password_set",
        "factor.totp_confirm",
        "account.first_login_step",
        "recovery.contact_verify",
        "factor.recovery_codes",
        "account.activate",
    ):
        assert action in actions

    # now the main password opens the web (with the second factor), mail needs app passwords
    auth = w.s.authentication.authenticate
    assert (await auth(new.address, NEW_PW, "imap", IP)).reason is AuthReason.APP_PASSWORD_REQUIRED
    w.clock.advance(seconds=30)
    pending = await w.s.identity.sign_in(new.address, NEW_PW, source_ip=IP, user_agent=UA)
    assert isinstance(pending, PendingSignIn)
    outcome = await w.s.identity.second_factor(
        pending.token, SecondStep.TOTP, totp.at(w.clock.now()), source_ip=IP, user_agent=UA
    )
    assert outcome.session is not None
    # completing again changes nothing and sends no second welcome
    assert (await activation.complete(actor)).state is AccountState.ACTIVE
    assert len([m for m in await w.inbox(new.address) if "欢迎使用您的邮箱" in m]) == 1


async def test_without_a_second_factor_two_steps_and_the_password_works_for_mail(w: World) -> None:
    new = await provisioned(w, allowed_protocols=["imap", "smtp", "web"])
    assert new.account.required_actions == [
        RequiredAction.SET_PASSWORD,
        RequiredAction.VERIFY_RECOVERY_CONTACT,
    ]
    restricted = await w.s.activation.start(new.address, new.code, IP, UA)
    actor = await actor_of(w, restricted)
    assert (await w.s.activation.progress(new.account)).steps == (
        Step.PASSWORD,
        Step.RECOVERY_CONTACT,
    )
    with pytest.raises(WrongStep):
        await w.s.activation.enrol_totp(actor, "Phone")  # not at the password step
    await w.s.activation.set_password(actor, NEW_PW)
    with pytest.raises(WrongStep):
        await w.s.activation.enrol_totp(actor, "Phone")  # not a step of this account
    await verify_backup(w, actor)
    progress = await w.s.activation.progress(new.account)
    assert (progress.step, progress.number, progress.total) == (Step.DONE, 2, 2)
    assert await w.s.activation.finish(restricted, client_ip=IP, user_agent=UA) is not None

    (welcome,) = [m for m in await w.inbox(new.address) if "欢迎使用您的邮箱" in m]
    assert "密码：您激活邮箱时设置的密码" in welcome
    assert "POP3" not in welcome  # the policy allows IMAP and SMTP only
    assert (await w.s.authentication.authenticate(new.address, NEW_PW, "imap", IP)).allowed


# --- the activation code -----------------------------------------------------------------------


async def test_every_bad_code_gets_the_same_refusal(w: World) -> None:
    first = await provisioned(w, "E001")
    second = await provisioned(w, "E002")
    attempts = [
        ("nobody@acme.test", first.code),  # unknown address
        ("not an address", first.code),
        (first.address, "ABCD-EFGH-JKMN"),  # wrong
        (first.address, "0000-0000-0000"),  # not even the shape
        (first.address, ""),
        (first.address, second.code),  # another account's
        (first.address.upper(), "x" * 64),
    ]
    messages = set()
    for address, code in attempts:
        with pytest.raises(ActivationRefused) as refused:
            await w.s.activation.start(address, code, IP, UA)
        messages.add(str(refused.value))
    assert len(messages) == 1 and REFUSED in messages.pop()
    # the right code still works (4 wrong guesses counted against it, one left) ...
    restricted = await w.s.activation.start(first.address.upper(), first.code, IP, UA)
    assert restricted.address == first.address
    # ... once
    with pytest.raises(ActivationRefused, match=REFUSED):
        await w.s.activation.start(first.address, first.code, IP, UA)
    assert "account.activation_refused" in await audit_actions(w)


async def test_a_code_expires_after_72_hours(w: World) -> None:
    new = await provisioned(w)
    w.clock.advance(hours=72, seconds=1)
    with pytest.raises(ActivationRefused, match=REFUSED):
        await w.s.activation.start(new.address, new.code, IP, UA)


async def test_five_wrong_guesses_use_the_code_up(w: World) -> None:
    new = await provisioned(w)
    for n in range(5):
        with pytest.raises(ActivationRefused):
            await w.s.activation.start(new.address, f"ABCD-EFGH-JKM{n + 2}", IP, UA)
    async with w.db.reader.connect() as conn:
        (row,) = (await conn.execute(select(one_time_codes))).mappings().all()
    assert (row["purpose"], row["attempts"], row["used_at"]) == ("activation", 5, None)
    with pytest.raises(ActivationRefused, match=REFUSED):
        await w.s.activation.start(new.address, new.code, IP, UA)


async def test_refusals_count_against_the_ip_like_failed_sign_ins(w: World) -> None:
    new = await provisioned(w)
    free = w.s.authentication.limiter.policy.ip_free_failures
    for _ in range(free):
        with pytest.raises(ActivationRefused):
            await w.s.activation.start("nobody@acme.test", new.code, IP, UA)
    with pytest.raises(ActivationThrottled) as throttled:
        await w.s.activation.start(new.address, new.code, IP, UA)
    assert 0 < throttled.value.retry_after <= 60
    # the sign-in of the same IP waits too (one throttle) ...
    decision = await w.s.authentication.authenticate("li.na@acme.test", "x" * 20, "web", IP)
    assert decision.cause is AuthReason.THROTTLED
    # ... other IPs do not, and the code was not touched by the throttled attempt
    assert await w.s.activation.start(new.address, new.code, "10.9.9.9", UA)
    w.clock.advance(minutes=2)
    with pytest.raises(ActivationRefused):
        await w.s.activation.start(new.address, new.code, IP, UA)  # used meanwhile


# --- an interrupted first login ------------------------------------------------------------------


async def test_password_set_then_gone_resumes_by_signing_in(w: World) -> None:
    new = await provisioned(w)
    restricted = await w.s.activation.start(new.address, new.code, IP, UA)
    await w.s.activation.set_password(await actor_of(w, restricted), NEW_PW)
    await w.s.identity.end_restricted(restricted)  # the browser closed

    with pytest.raises(AuthenticationFailed):
        await w.s.identity.sign_in(
            new.address, "not the password at all", source_ip=IP, user_agent=UA
        )
    again = await w.s.identity.sign_in(new.address, NEW_PW, source_ip=IP, user_agent=UA)
    assert isinstance(again, RestrictedSession) and again.stage == STAGE_ACTIVATION
    assert await w.s.activation.next_step(new.account) is Step.RECOVERY_CONTACT
    await verify_backup(w, await actor_of(w, again))
    assert await w.s.activation.finish(again, client_ip=IP, user_agent=UA) is not None
    assert (await fresh(w, new.account.id)).state is AccountState.ACTIVE


async def test_after_the_second_factor_resuming_needs_it(w: World) -> None:
    new = await provisioned(w, second_factor_required=True)
    restricted = await w.s.activation.start(new.address, new.code, IP, UA)
    actor = await actor_of(w, restricted)
    await w.s.activation.set_password(actor, NEW_PW)
    totp = await totp_enrolled(w, actor)
    await w.s.identity.end_restricted(restricted)

    w.clock.advance(seconds=30)
    pending = await w.s.identity.sign_in(new.address, NEW_PW, source_ip=IP, user_agent=UA)
    assert isinstance(pending, PendingSignIn)
    outcome = await w.s.identity.second_factor(
        pending.token, SecondStep.TOTP, totp.at(w.clock.now()), source_ip=IP, user_agent=UA
    )
    assert outcome.session is None and outcome.restricted is not None
    assert outcome.restricted.stage == STAGE_ACTIVATION
    progress = await w.s.activation.progress(new.account)
    assert (progress.step, progress.number, progress.total) == (Step.RECOVERY_CONTACT, 3, 4)


# --- refused until done -------------------------------------------------------------------------


async def test_api_tokens_and_mail_are_refused_until_the_first_login_is_done(w: World) -> None:
    new = await provisioned(w)
    token = await w.s.identity.create_api_token(w.root, new.address, "script")
    auth = w.s.authentication.authenticate

    async def refused_everywhere() -> None:
        with pytest.raises(AuthenticationFailed):
            await w.s.identity.api_actor(token, IP)
        for protocol in ("imap", "pop3", "smtp"):
            decision = await auth(new.address, NEW_PW, protocol, IP)
            assert not decision.allowed and decision.reason is AuthReason.NOT_ACTIVATED

    restricted = await w.s.activation.start(new.address, new.code, IP, UA)
    actor = await actor_of(w, restricted)
    await w.s.activation.set_password(actor, NEW_PW)
    await refused_everywhere()
    contact_id = await w.s.activation.add_contact(actor, ContactKind.EMAIL, BACKUP)
    await refused_everywhere()
    (mail,) = await w.queued_to(BACKUP)
    with pytest.raises(InvalidInput):
        await w.s.activation.verify_contact(actor, contact_id, "000000")
    await w.s.activation.verify_contact(actor, contact_id, _SIX.findall(mail)[-1])
    # every step is done but the account is not activated yet: still refused
    await refused_everywhere()
    await w.s.activation.complete(actor)
    assert (await w.s.identity.api_actor(token, IP)).account_id == new.account.id
    for protocol in ("imap", "pop3", "smtp"):
        assert (await auth(new.address, NEW_PW, protocol, IP)).allowed


async def test_an_account_activated_by_hand_is_not_opened_by_its_code(w: World) -> None:
    """An administrator's activation waives the first login; the code opens nothing then."""
    new = await provisioned(w)
    async with w.s.workflow.uow() as uow:
        account = await uow.accounts.get(new.account.id)
        assert account is not None
        account.password_hash = "x"
        await uow.accounts.update(account)
        await uow.commit()
    await w.s.accounts.change_state(w.root, new.address, AccountAction.ACTIVATE)
    with pytest.raises(ActivationRefused):
        await w.s.activation.start(new.address, new.code, IP, UA)
    async with w.db.reader.connect() as conn:
        live = (
            await conn.execute(
                select(one_time_codes.c.used_at).where(
                    one_time_codes.c.purpose == CodePurpose.ACTIVATION.value
                )
            )
        ).all()
    assert live == [(None,)]  # not spent by the refusal


# --- the mail protocols with real clients ---------------------------------------------------------


@dataclass
class Servers:
    imap: int
    pop3: int
    submission: int
    tls: ssl.SSLContext


@pytest.fixture
async def servers(w: World, tmp_path: Path) -> AsyncIterator[Servers]:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    settings = load_settings(
        environ={},
        data_dir=tmp_path / "data",
        web={"public_url": PORTAL},
        imap={"port": 0, "tls_port": 0, "allow_plaintext_on_loopback": True},
        pop3={"port": 0, "tls_port": 0, "allow_plaintext_on_loopback": True},
        smtp={"mx_port": 0, "submission_port": 0, "submissions_port": 0},
    )
    imap = await start_imap(w.s, settings, server_tls)
    pop3 = await start_pop3(w.s, settings, server_tls)
    smtp = await start_smtp(w.s, settings, server_tls)
    try:
        yield Servers(imap.port("imap"), pop3.port("pop3"), smtp.port("submission"), client_tls)
    finally:
        await imap.close()
        await pop3.close()
        await smtp.close()


def imap_login(port: int, user: str, password: str) -> str:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    try:
        typ, _ = client.login(user, password)
    except imaplib.IMAP4.error as exc:
        client.shutdown()
        return str(exc)
    client.logout()
    return str(typ)


def pop3_login(port: int, user: str, password: str) -> str:
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    try:
        client.user(user)
        reply = client.pass_(password).decode()
    except poplib.error_proto as exc:
        reply = exc.args[0].decode()
    client.quit()
    return reply


def smtp_login(port: int, tls: ssl.SSLContext, user: str, password: str) -> str:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=tls)
        try:
            code, text = client.login(user, password)
        except smtplib.SMTPAuthenticationError as exc:
            return f"{exc.smtp_code} {exc.smtp_error.decode()}"
        return f"{code} {text.decode()}"


async def test_imap_smtp_and_pop3_point_to_activate_after_the_right_password(
    w: World, servers: Servers
) -> None:
    new = await provisioned(w)
    restricted = await w.s.activation.start(new.address, new.code, IP, UA)
    actor = await actor_of(w, restricted)
    await w.s.activation.set_password(actor, NEW_PW)
    wrong = "not the password at all"

    async def replies(password: str) -> tuple[str, str, str]:
        return (
            await asyncio.to_thread(imap_login, servers.imap, new.address, password),
            await asyncio.to_thread(pop3_login, servers.pop3, new.address, password),
            await asyncio.to_thread(
                smtp_login, servers.submission, servers.tls, new.address, password
            ),
        )

    imap, pop3, smtp = await replies(NEW_PW)
    assert "[CONTACTADMIN]" in imap and f"{PORTAL}/activate" in imap
    assert (
        pop3
        == f"-ERR [SYS/PERM] Finish activating your account at {PORTAL}/activate before using mail"
    )
    assert (
        smtp
        == f"525 5.7.13 Account not activated yet: finish activating it at {PORTAL}/activate first"
    )
    imap, pop3, smtp = await replies(wrong)  # a guess learns nothing
    assert "[AUTHENTICATIONFAILED]" in imap and "activate" not in imap
    assert pop3 == "-ERR [AUTH] Authentication failed"
    assert smtp.startswith("535 5.7.8")

    await verify_backup(w, actor)
    await w.s.activation.complete(actor)
    imap, pop3, smtp = await replies(NEW_PW)
    assert imap == "OK" and pop3.startswith("+OK") and smtp.startswith("235")


async def test_an_active_account_owing_a_step_is_told_first_login_pending(w: World) -> None:
    """An active account that a later rule asks for a step (here: a recovery contact) is in
    the activation stage again: sign-in leads there, mail protocols refuse it."""
    new = await provisioned(w)
    restricted = await w.s.activation.start(new.address, new.code, IP, UA)
    actor = await actor_of(w, restricted)
    await w.s.activation.set_password(actor, NEW_PW)
    await verify_backup(w, actor)
    await w.s.activation.finish(restricted, client_ip=IP, user_agent=UA)
    async with w.s.workflow.uow() as uow:
        account = await uow.accounts.get(new.account.id)
        assert account is not None
        account.required_actions = [RequiredAction.ENROL_SECOND_FACTOR]
        await uow.accounts.update(account)
        await uow.commit()
    decision = await w.s.authentication.authenticate(new.address, NEW_PW, "imap", IP)
    assert decision.reason is AuthReason.FIRST_LOGIN_PENDING
    again = await w.s.identity.sign_in(new.address, NEW_PW, source_ip=IP, user_agent=UA)
    assert isinstance(again, RestrictedSession) and again.stage == STAGE_ACTIVATION
    progress = await w.s.activation.progress(new.account)
    assert progress.step is Step.SECOND_FACTOR and Step.RECOVERY_CODES not in progress.steps
    await totp_enrolled(w, await actor_of(w, again))
    assert await w.s.activation.next_step(new.account) is Step.DONE
    assert await w.s.activation.finish(again, client_ip=IP, user_agent=UA) is not None
    assert len([m for m in await w.inbox(new.address) if "欢迎使用您的邮箱" in m]) == 1


async def test_a_security_key_where_the_policy_asks_for_one(w: World) -> None:
    new = await provisioned(w, second_factor_required=True, second_factor_methods=["webauthn"])
    restricted = await w.s.activation.start(new.address, new.code, IP, UA)
    actor = await actor_of(w, restricted)
    await w.s.activation.set_password(actor, NEW_PW)
    assert await w.s.activation.factor_methods(new.account) == ("webauthn",)
    with pytest.raises(WrongStep, match="totp"):
        await w.s.activation.enrol_totp(actor, "Phone")
    key = SoftKey(rp_id="localhost", origin="http://localhost:8080")
    options = await w.s.activation.webauthn_options(actor)
    with pytest.raises(InvalidInput):
        await w.s.activation.register_webauthn(actor, "{}", "YubiKey")
    assert await w.s.activation.next_step(new.account) is Step.SECOND_FACTOR
    view = await w.s.activation.register_webauthn(actor, key.register(options), "YubiKey")
    assert view.name == "YubiKey"
    assert await w.s.activation.next_step(new.account) is Step.RECOVERY_CONTACT
    assert (
        RequiredAction.ENROL_SECOND_FACTOR not in (await fresh(w, new.account.id)).required_actions
    )


async def test_an_authenticator_app_only_policy_offers_no_security_key(w: World) -> None:
    new = await provisioned(w, second_factor_required=True, second_factor_methods=["totp"])
    restricted = await w.s.activation.start(new.address, new.code, IP, UA)
    actor = await actor_of(w, restricted)
    await w.s.activation.set_password(actor, NEW_PW)
    with pytest.raises(WrongStep, match="webauthn"):
        await w.s.activation.webauthn_options(actor)
    await totp_enrolled(w, actor)
    assert await w.s.activation.next_step(new.account) is Step.RECOVERY_CONTACT
