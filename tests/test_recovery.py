"""Recovery contacts and the self-service reset, on both backends: codes are single-use,
expire, allow 5 wrong guesses, are rate limited; the mailbox cannot be its own recovery
address; phones are normalised; notices reach the INBOX and the SMS file; the reset sends only
to verified contacts of active accounts, asks for the second factor, revokes app passwords and
sessions, and never touches the sign-in throttle. Also the SMS webhook provider against a
small HTTP server on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyotp
import pytest
from tests.clock import FakeClock
from tests.conftest import FAST_HASHER
from typer.testing import CliRunner

from mailgate.bootstrap import Runtime
from mailgate.cli.main import build_cli
from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import AccountAction, RequiredAction
from mailgate.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from mailgate.domain.notices import NoticeKind
from mailgate.domain.ports import SmsUnavailable
from mailgate.domain.recovery import CodePurpose, ContactKind
from mailgate.domain.security import MailScope
from mailgate.services.container import Services
from mailgate.services.credentials import PasswordRejected
from mailgate.services.factors import FactorConfig
from mailgate.services.recovery import (
    AlreadyVerified,
    CodeRefused,
    CodeShape,
    NoSmsProvider,
    OwnMailbox,
    TooManyCodes,
    TooManyContacts,
)
from mailgate.services.reset import ResetMethod, ResetStep, TicketInvalid
from mailgate.services.sms import FileSmsSender, WebhookSmsSender
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

USER = "li.na@a.test"
PW = "correct horse battery staple"
NEW_PW = "a river of tea leaves in autumn"
IP = "198.51.100.7"
T0 = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
_CODE = re.compile(r"\b(\d{6})\b")
_LINK = re.compile(r"/reset/link/([A-Za-z0-9_-]+)")


@dataclass
class World:
    s: Services
    clock: FakeClock
    sms: FileSmsSender
    root: Actor
    user: Actor

    def codes_sent_to(self, phone: str) -> list[str]:
        texts = [m["text"] for m in self.sms.messages() if m["to"] == phone]
        return [found[0] for text in texts if (found := _CODE.findall(text))]

    async def inbox(self, address: str = USER) -> list[email.message.EmailMessage]:
        found, _ = await self.s.mailstore.messages(self.root, address)
        out = []
        for item in found:
            raw = await self.s.mailstore.read(item.blob_id)
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            out.append(message)
        return out

    async def queued_to(self, address: str) -> list[str]:
        """Bodies of the outbound messages queued for `address`."""
        items, _ = await self.s.outbound.list(self.root)
        bodies = []
        for item in items:
            if address in [r.address for r in item.recipients]:
                raw = await self.s.mailstore.read(item.blob_id)
                message = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(message, email.message.EmailMessage)
                part = message.get_body(("plain",))
                assert part is not None
                bodies.append(str(part.get_content()))
        return bodies


def _services(database: Database, tmp_path: Path, clock: FakeClock, **kw: object) -> Services:
    return Services.build(
        SqlUnitOfWorkFactory(database),
        clock,
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        factors=FactorConfig(secret_key=b"k" * 32),
        portal_url="https://mail.a.test",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def world(database: Database, tmp_path: Path, root: Actor) -> World:
    clock = FakeClock(T0)
    sms = FileSmsSender(tmp_path / "sms.jsonl")
    s = _services(database, tmp_path, clock, sms=sms)
    for x in ("a", "b"):
        await s.organisations.create(root, f"org-{x}", f"Org {x.upper()}")
        await s.organisations.add_domain(root, f"org-{x}", f"{x}.test")
        await s.accounts.create(root, f"admin@{x}.test", password=PW, skip_first_login=True)
        await s.accounts.grant_role(root, f"admin@{x}.test", Role.ORG_ADMIN, f"org-{x}")
    await s.accounts.create(root, "desk@a.test", password=PW, skip_first_login=True)
    await s.accounts.grant_role(root, "desk@a.test", Role.HELPDESK, "org-a")
    await s.accounts.create(root, USER, password=PW, skip_first_login=True, language="en")
    return World(s, clock, sms, root, await s.identity.act_as(USER))


@pytest.fixture
def w(world: World) -> World:
    return world


async def _verified_phone(w: World, phone: str = "+8613800138000") -> int:
    contact_id = await w.s.recovery.add(w.user, USER, ContactKind.PHONE, phone)
    await w.s.recovery.verify(w.user, USER, contact_id, w.codes_sent_to(phone)[-1])
    return contact_id


# --- contacts -------------------------------------------------------------------------------


async def test_phone_contact_is_verified_with_the_code_from_the_sms(w: World) -> None:
    contact_id = await w.s.recovery.add(w.user, USER, "phone", "138 0013 8000")
    (contact,) = await w.s.recovery.list(w.user, USER)
    assert (contact.id, contact.value, contact.verified) == (contact_id, "+8613800138000", False)
    (message,) = w.sms.messages()
    assert message["to"] == "+8613800138000"
    assert "valid 10 min" in message["text"]
    code = w.codes_sent_to("+8613800138000")[0]
    assert await w.inbox() == []  # nothing counts until verified

    await w.s.recovery.verify(w.user, USER, contact_id, f" {code[:3]} {code[3:]} ")
    (contact,) = await w.s.recovery.list(w.user, USER)
    assert contact.verified and contact.verified_at == w.clock.now()
    (notice,) = await w.inbox()
    assert notice["Subject"] == "A recovery contact was added"
    body = notice.get_body(("plain",))
    assert body is not None and "+86*******8000" in str(body.get_content())
    # The new contact is a channel now: the notice went to the phone as well.
    assert "A recovery contact was added" in w.sms.messages()[-1]["text"]
    with pytest.raises(AlreadyVerified):
        await w.s.recovery.verify(w.user, USER, contact_id, code)  # single use


async def test_email_contact_gets_its_code_through_the_outbound_queue(w: World) -> None:
    contact_id = await w.s.recovery.add(w.user, USER, ContactKind.EMAIL, "Li.Na@Example.NET")
    (body,) = await w.queued_to("Li.Na@example.net")
    code = _CODE.findall(body)[0]
    assert "recovery contact of li.na@a.test" in body
    await w.s.recovery.verify(w.user, USER, contact_id, code)
    assert [c.verified for c in await w.s.recovery.list(w.user, USER)] == [True]


async def test_the_mailbox_cannot_be_its_own_recovery_address(w: World) -> None:
    for same in (USER, "LI.NA@A.TEST", " li.na@a.test "):
        with pytest.raises(OwnMailbox):
            await w.s.recovery.add(w.user, USER, ContactKind.EMAIL, same)
    with pytest.raises(InvalidInput):
        await w.s.recovery.add(w.user, USER, ContactKind.EMAIL, "not an address")
    with pytest.raises(InvalidInput):
        await w.s.recovery.add(w.user, USER, "fax", "+8613800138000")
    assert await w.s.recovery.list(w.user, USER) == []


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("0086 (138) 0013 8000", "+8613800138000"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+852 9123 4567", "+85291234567"),
    ],
)
async def test_phone_numbers_are_stored_in_e164(w: World, typed: str, stored: str) -> None:
    await w.s.recovery.add(w.user, USER, ContactKind.PHONE, typed)
    assert [c.value for c in await w.s.recovery.list(w.user, USER)] == [stored]


@pytest.mark.parametrize("typed", ["12345", "0800 123 456", "+86 abc", "", "+0123456789"])
async def test_malformed_phone_numbers_are_refused(w: World, typed: str) -> None:
    with pytest.raises(InvalidInput, match="country code"):
        await w.s.recovery.add(w.user, USER, ContactKind.PHONE, typed)


async def test_same_contact_twice_is_a_conflict(w: World) -> None:
    await w.s.recovery.add(w.user, USER, ContactKind.PHONE, "13800138000")
    w.clock.advance(seconds=61)
    with pytest.raises(Conflict):
        await w.s.recovery.add(w.user, USER, ContactKind.PHONE, "+86 138 0013 8000")


async def test_codes_expire_after_ten_minutes(w: World) -> None:
    contact_id = await w.s.recovery.add(w.user, USER, ContactKind.PHONE, "13800138000")
    code = w.codes_sent_to("+8613800138000")[0]
    w.clock.advance(minutes=10, seconds=1)
    with pytest.raises(CodeRefused):
        await w.s.recovery.verify(w.user, USER, contact_id, code)
    assert not (await w.s.recovery.list(w.user, USER))[0].verified


async def test_five_wrong_guesses_spend_the_code(w: World) -> None:
    contact_id = await w.s.recovery.add(w.user, USER, ContactKind.PHONE, "13800138000")
    code = w.codes_sent_to("+8613800138000")[0]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    left = []
    for _ in range(5):
        with pytest.raises(CodeRefused) as refused:
            await w.s.recovery.verify(w.user, USER, contact_id, wrong)
        left.append(refused.value.attempts_left)
    assert left == [4, 3, 2, 1, 0]
    with pytest.raises(CodeRefused):
        await w.s.recovery.verify(w.user, USER, contact_id, code)  # the right one, too late
    with pytest.raises(CodeShape):
        await w.s.recovery.verify(w.user, USER, contact_id, "12a456")  # not counted: no code


async def test_a_new_code_spends_the_old_one_and_is_rate_limited(w: World) -> None:
    contact_id = await w.s.recovery.add(w.user, USER, ContactKind.PHONE, "13800138000")
    with pytest.raises(TooManyCodes) as soon:
        await w.s.recovery.resend(w.user, USER, contact_id)
    assert 1 <= soon.value.retry_after <= 60
    w.clock.advance(seconds=61)
    await w.s.recovery.resend(w.user, USER, contact_id)
    first, second = w.codes_sent_to("+8613800138000")
    if first != second:
        with pytest.raises(CodeRefused):
            await w.s.recovery.verify(w.user, USER, contact_id, first)
    for _ in range(3):
        w.clock.advance(seconds=61)
        await w.s.recovery.resend(w.user, USER, contact_id)
    w.clock.advance(seconds=61)
    with pytest.raises(TooManyCodes) as hourly:
        await w.s.recovery.resend(w.user, USER, contact_id)  # the sixth within the hour
    assert hourly.value.retry_after > 60
    assert len(w.sms.messages()) == 5
    await w.s.recovery.verify(w.user, USER, contact_id, w.codes_sent_to("+8613800138000")[-1])


async def test_at_most_five_contacts(w: World) -> None:
    for i in range(5):
        await w.s.recovery.add(w.user, USER, ContactKind.EMAIL, f"backup{i}@example.net")
    with pytest.raises(TooManyContacts):
        await w.s.recovery.add(w.user, USER, ContactKind.EMAIL, "backup5@example.net")


async def test_phone_without_sms_provider_is_a_clear_error(
    database: Database, tmp_path: Path, root: Actor
) -> None:
    s = _services(database, tmp_path, FakeClock(T0))
    await s.organisations.create(root, "org-a", "Org A")
    await s.organisations.add_domain(root, "org-a", "a.test")
    await s.accounts.create(root, USER, password=PW, skip_first_login=True)
    user = await s.identity.act_as(USER)
    with pytest.raises(NoSmsProvider, match="no SMS provider"):
        await s.recovery.add(user, USER, ContactKind.PHONE, "13800138000")
    await s.recovery.add(user, USER, ContactKind.EMAIL, "li.na@example.net")


async def test_who_may_see_and_change_contacts(w: World) -> None:
    await w.s.recovery.add(w.user, USER, ContactKind.PHONE, "13800138000")
    for admin in ("admin@a.test", "desk@a.test"):
        actor = await w.s.identity.act_as(admin)
        assert [c.value for c in await w.s.recovery.list(actor, USER)] == ["+8613800138000"]
        with pytest.raises(PermissionDenied):
            await w.s.recovery.add(actor, USER, ContactKind.PHONE, "13900139000")
    outsider = await w.s.identity.act_as("admin@b.test")
    with pytest.raises(NotFound):
        await w.s.recovery.list(outsider, USER)
    with pytest.raises(NotFound):
        await w.s.recovery.add(outsider, USER, ContactKind.PHONE, "13900139000")
    with pytest.raises(NotFound):
        await w.s.recovery.list(w.user, "admin@a.test")


async def test_removal_is_audited_and_told_to_the_removed_contact(w: World) -> None:
    contact_id = await _verified_phone(w)
    await w.s.recovery.remove(w.user, USER, contact_id)
    assert await w.s.recovery.list(w.user, USER) == []
    subjects = [m["Subject"] for m in await w.inbox()]
    assert subjects == ["A recovery contact was added", "A recovery contact was removed"]
    last = w.sms.messages()[-1]
    assert last["to"] == "+8613800138000"
    assert "A recovery contact was removed" in last["text"] and USER in last["text"]
    events, _ = await w.s.audit.list(w.root, limit=200)
    actions = [e.action for e in events if e.target == f"account:{USER}"]
    for action in ("recovery.contact_add", "recovery.contact_verify", "recovery.contact_remove"):
        assert action in actions
    with pytest.raises(NotFound):
        await w.s.recovery.remove(w.user, USER, contact_id)


async def test_verifying_clears_the_first_login_step(w: World) -> None:
    account = await w.s.accounts.create(w.root, "new@a.test", password=PW)
    assert RequiredAction.VERIFY_RECOVERY_CONTACT in account.required_actions
    actor = await w.s.identity.act_as("new@a.test")
    contact_id = await w.s.recovery.add(actor, "new@a.test", ContactKind.PHONE, "13700137000")
    await w.s.recovery.verify(actor, "new@a.test", contact_id, w.codes_sent_to("+8613700137000")[0])
    account = await w.s.accounts.get(w.root, "new@a.test")
    assert RequiredAction.VERIFY_RECOVERY_CONTACT not in account.required_actions
    assert RequiredAction.SET_PASSWORD in account.required_actions


# --- self-service reset ---------------------------------------------------------------------


async def _reset_code(w: World, phone: str = "+8613800138000") -> str:
    await w.s.reset.request_reset(USER, IP)
    return w.codes_sent_to(phone)[-1]


async def test_reset_goes_to_every_verified_contact_only(w: World) -> None:
    await _verified_phone(w)
    home = await w.s.recovery.add(w.user, USER, ContactKind.EMAIL, "li.na@example.net")
    w.clock.advance(seconds=61)
    await w.s.recovery.verify(
        w.user, USER, home, _CODE.findall((await w.queued_to("li.na@example.net"))[0])[0]
    )
    await w.s.recovery.add(w.user, USER, ContactKind.EMAIL, "unverified@example.org")
    before = len(w.sms.messages())
    await w.s.reset.request_reset(USER, IP)
    (sms,) = w.sms.messages()[before:]
    code = _CODE.findall(sms["text"])[0]
    assert "valid 15 min" in sms["text"] and "/reset/link/" not in sms["text"]
    mail = (await w.queued_to("li.na@example.net"))[-1]
    assert code in mail and "https://mail.a.test/reset/link/" in mail
    assert len(await w.queued_to("unverified@example.org")) == 1  # only its own code
    ticket = await w.s.reset.verify_code(USER, code, IP)
    assert ticket is not None
    state = await w.s.reset.ticket(ticket)
    assert state is not None and state.step is ResetStep.NEW_PASSWORD and state.address == USER
    # The link of the same request is spent with the code.
    token = _LINK.findall(mail)[0]
    assert await w.s.reset.verify_link(token, IP) is None


async def test_nothing_is_sent_without_a_usable_account_and_verified_contact(w: World) -> None:
    await w.s.reset.request_reset("nobody@a.test", IP)
    await w.s.reset.request_reset("not-an-address", IP)
    await w.s.reset.request_reset(USER, IP)  # no verified contact (only an unverified one)
    await w.s.recovery.add(w.user, USER, ContactKind.PHONE, "13900139000")
    sent = len(w.sms.messages())
    await w.s.reset.request_reset(USER, IP)
    assert len(w.sms.messages()) == sent
    await _verified_phone(w)
    w.clock.advance(seconds=61)
    await w.s.accounts.change_state(w.root, USER, AccountAction.LOCK)
    sent = len(w.sms.messages())
    await w.s.reset.request_reset(USER, IP)
    assert len(w.sms.messages()) == sent
    await w.s.accounts.change_state(w.root, USER, AccountAction.UNLOCK)
    await w.s.reset.request_reset(USER, IP)
    assert len(w.sms.messages()) == sent + 1
    events, _ = await w.s.audit.list(w.root, limit=200)
    refused = [e.summary.get("reason") for e in events if e.action == "reset.request_refused"]
    assert refused == [
        "account_not_usable",
        "no_verified_contact",
        "no_verified_contact",
    ]  # newest first


async def test_pending_account_gets_no_reset_code(w: World) -> None:
    await w.s.accounts.create(w.root, "pending@a.test", password=PW)
    actor = await w.s.identity.act_as("pending@a.test")
    contact_id = await w.s.recovery.add(actor, "pending@a.test", ContactKind.PHONE, "13600136000")
    code = w.codes_sent_to("+8613600136000")[0]
    await w.s.recovery.verify(actor, "pending@a.test", contact_id, code)
    await w.s.reset.request_reset("pending@a.test", IP)  # still owes set_password
    assert len(w.codes_sent_to("+8613600136000")) == 1


async def test_reset_codes_are_single_use_and_expire(w: World) -> None:
    await _verified_phone(w)
    code = await _reset_code(w)
    assert await w.s.reset.verify_code(USER, code, IP) is not None
    assert await w.s.reset.verify_code(USER, code, IP) is None  # used
    w.clock.advance(seconds=61)
    code = await _reset_code(w)
    w.clock.advance(minutes=15, seconds=1)
    assert await w.s.reset.verify_code(USER, code, IP) is None  # expired
    with pytest.raises(CodeShape):
        await w.s.reset.verify_code(USER, "12345", IP)


async def test_wrong_reset_codes_spend_it_and_leave_the_throttle_alone(w: World) -> None:
    await _verified_phone(w)
    code = await _reset_code(w)
    wrong = f"{(int(code) + 7) % 1_000_000:06d}"
    # Two failed sign-ins first: the counters the reset must not touch.
    for _ in range(2):
        assert not (await w.s.authentication.authenticate(USER, "wrong", "imap", IP)).allowed
    async with w.s.credentials.uow(write=False) as uow:
        before = await uow.throttle.get([(0, IP)])
    for _ in range(5):
        assert await w.s.reset.verify_code(USER, wrong, IP) is None
    assert await w.s.reset.verify_code(USER, code, IP) is None  # spent by the wrong guesses
    async with w.s.credentials.uow(write=False) as uow:
        assert await uow.throttle.get([(0, IP)]) == before
    # An unknown address or the wrong account's code: the same None.
    assert await w.s.reset.verify_code("nobody@a.test", code, IP) is None


async def test_reset_requests_are_limited_silently(w: World) -> None:
    await _verified_phone(w)
    sent = len(w.sms.messages())
    await w.s.reset.request_reset(USER, IP)
    await w.s.reset.request_reset(USER, IP)  # within a minute: dropped
    assert len(w.sms.messages()) == sent + 1
    for _ in range(6):
        w.clock.advance(seconds=61)
        await w.s.reset.request_reset(USER, IP)
    assert len(w.sms.messages()) == sent + 5
    w.clock.advance(hours=1)
    await w.s.reset.request_reset(USER, IP)
    assert len(w.sms.messages()) == sent + 6


async def test_link_works_once(w: World) -> None:
    home = await w.s.recovery.add(w.user, USER, ContactKind.EMAIL, "li.na@example.net")
    code = _CODE.findall((await w.queued_to("li.na@example.net"))[0])[0]
    await w.s.recovery.verify(w.user, USER, home, code)
    await w.s.reset.request_reset(USER, IP)
    token = _LINK.findall((await w.queued_to("li.na@example.net"))[-1])[0]
    ticket = await w.s.reset.verify_link(token, IP)
    assert ticket is not None
    assert await w.s.reset.verify_link(token, IP) is None
    assert await w.s.reset.verify_link("x" * 43, IP) is None
    assert await w.s.reset.verify_link("../../etc/passwd", IP) is None


async def test_reset_ends_sessions_revokes_app_passwords_and_notifies(w: World) -> None:
    await _verified_phone(w)
    created = await w.s.app_passwords.create(
        w.user, USER, "Phone", frozenset({MailScope.IMAP}), None
    )
    imap = await w.s.authentication.authenticate(USER, created.password, "imap", IP)
    assert imap.allowed
    session = await w.s.identity.sign_in(USER, PW, source_ip=IP, user_agent="test")
    ticket = await w.s.reset.verify_code(USER, await _reset_code(w), IP)
    assert ticket is not None
    with pytest.raises(PasswordRejected):
        await w.s.reset.complete(ticket, "short", IP)
    assert await w.s.reset.complete(ticket, NEW_PW, IP) == USER  # still usable after a refusal
    with pytest.raises(TicketInvalid):
        await w.s.reset.complete(ticket, "another long passphrase here", IP)
    assert not (await w.s.authentication.authenticate(USER, created.password, "imap", IP)).allowed
    assert not (await w.s.authentication.authenticate(USER, PW, "imap", IP)).allowed
    assert (await w.s.authentication.authenticate(USER, NEW_PW, "imap", IP)).allowed
    assert await w.s.identity.session(session.token, IP) is None  # type: ignore[union-attr]
    assert (await w.inbox())[-1]["Subject"] == "Your password was reset"
    assert "Your password was reset" in w.sms.messages()[-1]["text"]
    events, _ = await w.s.audit.list(w.root, limit=200)
    actions = {e.action for e in events}
    assert {"reset.request", "reset.code_accepted", "account.password_reset"} <= actions


async def test_totp_is_still_required(w: World) -> None:
    await _verified_phone(w)
    enrolment = await w.s.factors.enrol_totp(w.user, USER)
    totp = pyotp.TOTP(enrolment.secret)
    result = await w.s.factors.confirm_totp(
        w.user, USER, enrolment.factor_id, totp.at(w.clock.now())
    )
    assert result.accepted
    w.clock.advance(seconds=30)
    ticket = await w.s.reset.verify_code(USER, await _reset_code(w), IP)
    assert ticket is not None
    state = await w.s.reset.ticket(ticket)
    assert state is not None and state.step is ResetStep.SECOND_FACTOR
    assert state.methods == {ResetMethod.TOTP}
    with pytest.raises(TicketInvalid):
        await w.s.reset.complete(ticket, NEW_PW, IP)  # not before the second factor
    wrong = await w.s.reset.second_factor(ticket, ResetMethod.TOTP, "000000", IP)
    assert wrong.ticket is None and wrong.attempts_left == 4 and not wrong.ended
    async with w.s.credentials.uow(write=False) as uow:
        (pair,) = list(await uow.throttle.get([(w.user.account_id or 0, IP)]))
    assert pair.failures == 1  # counted like a wrong second factor at sign-in
    good = await w.s.reset.second_factor(ticket, ResetMethod.TOTP, totp.at(w.clock.now()), IP)
    assert good.ticket is not None
    assert (await w.s.reset.second_factor(ticket, ResetMethod.TOTP, "123456", IP)).ended
    ready = await w.s.reset.ticket(good.ticket)
    assert ready is not None and ready.step is ResetStep.NEW_PASSWORD
    await w.s.reset.complete(good.ticket, NEW_PW, IP)
    assert (await w.s.authentication.authenticate(USER, NEW_PW, "web", "192.0.2.1")).allowed


async def test_five_wrong_second_factors_end_the_ticket(w: World) -> None:
    await _verified_phone(w)
    enrolment = await w.s.factors.enrol_totp(w.user, USER)
    totp = pyotp.TOTP(enrolment.secret)
    await w.s.factors.confirm_totp(w.user, USER, enrolment.factor_id, totp.at(w.clock.now()))
    ticket = await w.s.reset.verify_code(USER, await _reset_code(w), IP)
    assert ticket is not None
    outcomes = [
        await w.s.reset.second_factor(ticket, ResetMethod.RECOVERY_CODE, "aaaa-bbbb", IP)
        for _ in range(5)
    ]
    assert [o.attempts_left for o in outcomes] == [4, 3, 2, 1, 0] and outcomes[-1].ended
    assert await w.s.reset.ticket(ticket) is None


# --- the SMS webhook ------------------------------------------------------------------------


@dataclass
class Gateway:
    url: str
    received: list[tuple[dict[str, str], dict[str, str]]]  # (headers, JSON body)
    status: list[int]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    received: list[tuple[dict[str, str], dict[str, str]]] = []
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers.items()), json.loads(body)))
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Gateway(f"http://127.0.0.1:{server.server_address[1]}/sms", received, status)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_webhook_posts_json_with_the_bearer_token(gateway: Gateway) -> None:
    sender = WebhookSmsSender(gateway.url, "s3cret")
    await sender.send("+8613800138000", "【Mailgate】您的验证码为 123456")
    ((headers, body),) = gateway.received
    assert body == {"to": "+8613800138000", "text": "【Mailgate】您的验证码为 123456"}
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"].startswith("application/json")
    gateway.status[0] = 503
    with pytest.raises(SmsUnavailable, match="503"):
        await sender.send("+8613800138000", "again")
    with pytest.raises(ValueError, match="http"):
        WebhookSmsSender("ftp://127.0.0.1/sms")


async def test_a_failing_gateway_loses_nothing(
    database: Database,
    tmp_path: Path,
    root: Actor,
    gateway: Gateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(T0)
    s = _services(database, tmp_path, clock, sms=WebhookSmsSender(gateway.url))
    await s.organisations.create(root, "org-a", "Org A")
    await s.organisations.add_domain(root, "org-a", "a.test")
    await s.accounts.create(root, USER, password=PW, skip_first_login=True, language="en")
    user = await s.identity.act_as(USER)
    gateway.status[0] = 500
    with caplog.at_level(logging.WARNING, logger="mailgate.services.notices"):
        contact_id = await s.recovery.add(user, USER, ContactKind.PHONE, "13800138000")
    assert "SMS webhook answered 500" in caplog.text
    assert [c.id for c in await s.recovery.list(user, USER)] == [contact_id]  # still added
    async with s.credentials.uow(write=False) as uow:
        assert (
            len(
                await uow.one_time_codes.live(
                    user.account_id or 0, CodePurpose.VERIFY_CONTACT, None, clock.now()
                )
            )
            == 1
        )
    gateway.status[0] = 200
    clock.advance(seconds=61)
    await s.recovery.resend(user, USER, contact_id)  # the gateway is back: a new code
    code = _CODE.findall(gateway.received[-1][1]["text"])[0]
    await s.recovery.verify(user, USER, contact_id, code)
    gateway.status[0] = 500
    account = await s.accounts.get(root, USER)
    await s.notices.to_account(account, NoticeKind.PASSWORD_CHANGED)
    found, _ = await s.mailstore.messages(root, USER)
    assert len(found) == 2  # contact added + password changed: the INBOX still has them


# --- the CLI --------------------------------------------------------------------------------


def test_recovery_commands(cli_env: dict[str, str]) -> None:
    app = build_cli(Runtime)
    runner = CliRunner()
    outbox = FileSmsSender(Path(cli_env["MAILGATE_DATA_DIR"]) / "sms-outbox.jsonl")

    def mg(*args: str, stdin: str | None = None, ok: bool = True) -> str:
        res = runner.invoke(app, list(args), input=stdin, env=cli_env, catch_exceptions=False)
        assert (res.exit_code == 0) == ok, f"mailgate {' '.join(args)}: {res.stdout} {res.stderr}"
        return res.stdout if ok else res.stderr

    mg("init", "--admin", "root@ops.test", "--password-stdin", stdin="root-password-123\n")
    mg("org", "create", "acme", "--name", "Acme")
    mg("domain", "add", "a.test", "--org", "acme")
    mg("org", "update", "acme", "--helpdesk", "IT desk, ext. 8000, it@a.test")
    shown = json.loads(mg("--json", "org", "show", "acme"))
    assert shown["helpdesk_contact"] == "IT desk, ext. 8000, it@a.test"
    mg("account", "create", USER, "--password-stdin", "--skip-first-login", stdin=f"{PW}\n")

    assert "only the account itself" in mg("recovery", "add", USER, "--phone", "138", ok=False)
    assert "exactly one of" in mg("--as", USER, "recovery", "add", USER, ok=False)
    assert "country code" in mg("--as", USER, "recovery", "add", USER, "--phone", "12", ok=False)
    assert "another mailbox" in mg("--as", USER, "recovery", "add", USER, "--email", USER, ok=False)
    added = json.loads(
        mg("--json", "--as", USER, "recovery", "add", USER, "--phone", "138 0013 8000")
    )
    (message,) = outbox.messages()
    code = _CODE.findall(message["text"])[0]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    contact = str(added["contact_id"])
    assert "not correct" in mg("--as", USER, "recovery", "verify", USER, contact, wrong, ok=False)
    assert "wait" in mg("--as", USER, "recovery", "resend", USER, contact, ok=False)
    mg("--as", USER, "recovery", "verify", USER, contact, code)
    listed = json.loads(mg("--json", "recovery", "list", USER))
    assert [(c["value"], c["verified"]) for c in listed["items"]] == [("+8613800138000", True)]
    assert "+8613800138000" in mg("recovery", "list", USER)
    mg("--as", USER, "recovery", "remove", USER, contact)
    assert json.loads(mg("--json", "recovery", "list", USER))["items"] == []
    assert "no such recovery contact" in mg(
        "--as", USER, "recovery", "remove", USER, contact, ok=False
    )
