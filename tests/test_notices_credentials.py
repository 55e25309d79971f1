"""Notices through Mailgate's own mail service and SMS, and setting a new main password."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import FAST_HASHER

from mailgate.domain.access import Actor, Role
from mailgate.domain.errors import AuthenticationFailed, InvalidInput
from mailgate.domain.notices import NoticeKind
from mailgate.domain.recovery import (
    CodePurpose,
    ContactKind,
    OneTimeCode,
    RecoveryContact,
    normalise_contact,
    normalise_phone,
)
from mailgate.services.container import Services
from mailgate.services.credentials import PasswordRejected
from mailgate.services.identity import token_hash
from mailgate.services.sms import FileSmsSender
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

LI = "li.na@acme.test"
ADMIN = "admin@acme.test"
PW = "correct horse battery staple"
NEW_PW = "a river of tea leaves in autumn"


class ManualClock:
    def __init__(self) -> None:
        self.t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t


@pytest.fixture
async def acme(database: Database, tmp_path: Path, root: Actor) -> Services:
    services = Services.build(
        SqlUnitOfWorkFactory(database),
        ManualClock(),
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        sms=FileSmsSender(tmp_path / "sms.jsonl"),
        portal_url="https://mail.acme.test",
    )
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    await services.accounts.create(root, LI, password=PW, skip_first_login=True, language="zh_Hant")
    await services.accounts.create(root, ADMIN, password=PW, skip_first_login=True, language="en")
    await services.accounts.grant_role(root, ADMIN, Role.ORG_ADMIN, "acme")
    return services


async def _inbox(services: Services, root: Actor, address: str) -> list[email.message.Message]:
    found, _ = await services.mailstore.messages(root, address)
    out = []
    for item in found:
        raw = await services.mailstore.read(item.blob_id)
        out.append(email.message_from_bytes(raw, policy=email.policy.default))
    return out


async def _contact(services: Services, address: str, kind: ContactKind, value: str) -> None:
    account = await services.identity.act_as(address)
    assert account.account_id is not None
    async with services.credentials.uow() as uow:
        await uow.recovery_contacts.add(
            RecoveryContact(0, account.account_id, kind, value, datetime.now(UTC), None)
        )
        contacts = await uow.recovery_contacts.for_account(account.account_id)
        await uow.recovery_contacts.mark_verified(contacts[-1].id, datetime.now(UTC))
        await uow.commit()


async def test_account_notice_reaches_inbox_and_every_verified_contact(
    acme: Services, root: Actor, tmp_path: Path
) -> None:
    await _contact(acme, LI, ContactKind.EMAIL, "li.na.home@example.net")
    await _contact(acme, LI, ContactKind.PHONE, "+8613800138000")
    actor = await acme.identity.act_as(LI)
    async with acme.credentials.uow() as uow:  # an unverified contact gets nothing
        assert actor.account_id is not None
        await uow.recovery_contacts.add(
            RecoveryContact(
                0, actor.account_id, ContactKind.EMAIL, "x@example.org", datetime.now(UTC)
            )
        )
        await uow.commit()
    account = await acme.accounts.get(root, LI)
    await acme.notices.to_account(account, NoticeKind.PASSWORD_CHANGED)

    (notice,) = await _inbox(acme, root, LI)
    assert notice["Subject"] == "您的密碼已變更"
    assert notice["Auto-Submitted"] == "auto-generated"
    assert notice["From"] == "Mailgate <no-reply@acme.test>"
    body = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert LI in body and "https://mail.acme.test/account/security" in body
    queued, _ = await acme.outbound.list(root)
    assert [r.address for item in queued for r in item.recipients] == ["li.na.home@example.net"]
    assert queued[0].mail_from == ""
    sms = FileSmsSender(tmp_path / "sms.jsonl").messages()
    assert [m["to"] for m in sms] == ["+8613800138000"]
    assert "密碼已變更" in sms[0]["text"]


async def test_admin_notice_goes_to_org_admins_in_their_language(
    acme: Services, root: Actor
) -> None:
    await acme.notices.to_admins(
        (await acme.accounts.get(root, LI)).org_id,
        NoticeKind.FAILURE_BURST,
        {"account": LI, "failures": "50", "ips": "12", "window": "60"},
    )
    (alert,) = await _inbox(acme, root, ADMIN)
    assert alert["Subject"] == f"Security alert: many failed sign-ins on {LI}"
    assert await _inbox(acme, root, LI) == []


async def test_change_password_needs_the_current_one_and_the_policy(
    acme: Services, root: Actor
) -> None:
    actor = await acme.identity.act_as(LI)
    with pytest.raises(AuthenticationFailed):
        await acme.credentials.change_password(
            actor, NEW_PW, current_password="wrong", keep_session_hash=None, client_ip="::1"
        )
    with pytest.raises(PasswordRejected) as rejected:
        await acme.credentials.change_password(
            actor, "woaini1314woaini", current_password=PW, keep_session_hash=None, client_ip="::1"
        )
    assert "password.common_password" in {p.key for p in rejected.value.problems}
    texts = {p.message_in("zh_Hant") for p in rejected.value.problems}
    assert "此密碼過於常見，或與常用密碼過於相似。" in texts
    with pytest.raises(PasswordRejected) as short:
        await acme.credentials.change_password(
            actor, "fourteen chars", current_password=PW, keep_session_hash=None, client_ip="::1"
        )
    assert {p.key for p in short.value.problems} == {"password.too_short"}

    one = await acme.identity.sign_in(LI, PW, source_ip="::1", user_agent="a")
    two = await acme.identity.sign_in(LI, PW, source_ip="::1", user_agent="b")
    await acme.credentials.change_password(
        actor,
        NEW_PW,
        current_password=PW,
        keep_session_hash=token_hash(one.token),
        client_ip="::1",
    )
    assert await acme.identity.session(one.token, "::1") is not None
    assert await acme.identity.session(two.token, "::1") is None
    stored = (await acme.accounts.get(root, LI)).password_hash
    assert stored is not None and stored.startswith("$argon2id$v=19$m=")
    assert (await acme.authentication.authenticate(LI, NEW_PW, "imap", "::1")).allowed
    assert not (await acme.authentication.authenticate(LI, PW, "imap", "::1")).allowed
    events, _ = await acme.audit.list(root)
    assert any(e.action == "account.password_change" for e in events)
    await acme.alerts.drain()  # the second browser also raised a "new sign-in" notice
    subjects = [m["Subject"] for m in await _inbox(acme, root, LI)]
    assert subjects.count("您的密碼已變更") == 1


async def test_reset_ends_sessions_revokes_app_passwords_and_codes(
    acme: Services, root: Actor
) -> None:
    actor = await acme.identity.act_as(LI)
    assert actor.account_id is not None
    session = await acme.identity.sign_in(LI, PW, source_ip="::1", user_agent="a")
    created = await acme.app_passwords.create(actor, LI, "Phone", "imap")
    now = datetime.now(UTC)
    async with acme.credentials.uow() as uow:
        await uow.one_time_codes.add(
            OneTimeCode(
                0,
                actor.account_id,
                CodePurpose.PASSWORD_RESET,
                "",
                "d" * 64,
                now,
                now + timedelta(minutes=15),
            )
        )
        await uow.commit()

    await acme.credentials.reset_password(actor, actor.account_id, NEW_PW, client_ip="192.0.2.1")

    assert await acme.identity.session(session.token, "::1") is None
    assert not (await acme.authentication.authenticate(LI, created.password, "imap", "::1")).allowed
    async with acme.credentials.uow(write=False) as uow:
        live = await uow.one_time_codes.live(
            actor.account_id, CodePurpose.PASSWORD_RESET, None, now
        )
    assert live == []
    await acme.alerts.drain()
    (notice,) = [m for m in await _inbox(acme, root, LI) if m["Subject"] == "您的密碼已重設"]
    assert "192.0.2.1" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_contacts_are_normalised_and_the_mailbox_is_not_its_own_recovery_address() -> None:
    assert normalise_phone("138 0013 8000") == "+8613800138000"
    assert normalise_phone("0044 7700 900123") == "+447700900123"
    for bad in ("12345", "+0123456789", "phone", "+86 138 0013 8000 99999"):
        with pytest.raises(InvalidInput):
            normalise_phone(bad)
    with pytest.raises(InvalidInput):
        normalise_contact(ContactKind.EMAIL, "LI.NA@ACME.TEST", LI)
    assert normalise_contact(ContactKind.EMAIL, " li@example.net ", LI) == "li@example.net"
    contact = RecoveryContact(1, 1, ContactKind.EMAIL, "li.na@example.net", datetime.now(UTC))
    assert contact.masked == "l***@e***.net"
    phone = RecoveryContact(1, 1, ContactKind.PHONE, "+8613800138000", datetime.now(UTC))
    assert phone.masked.endswith("8000") and "0013" not in phone.masked


def test_file_sms_sender_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "out" / "sms.jsonl"
    import asyncio

    asyncio.run(FileSmsSender(path).send("+8613800138000", "您的验证码 123456"))
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "to": "+8613800138000",
        "text": "您的验证码 123456",
    }


async def test_passwords_are_compared_in_their_nfkc_form(acme: Services, root: Actor) -> None:
    actor = await acme.identity.act_as(LI)
    full_width = "春眠不觉晓，处处闻啼鸟，夜来风雨声"  # "，" is U+FF0C, NFKC makes it ","
    await acme.credentials.change_password(
        actor, full_width, current_password=PW, keep_session_hash=None, client_ip="::1"
    )
    for typed in (full_width, full_width.replace("，", ",")):
        assert (await acme.authentication.authenticate(LI, typed, "web", "::1")).allowed
    await acme.accounts.create(
        root,
        "wide@acme.test",
        password="ｗｉｄｅ ｌｅｔｔｅｒｓ ａｒｅ ｆｉｎｅ",
        skip_first_login=True,
    )
    decision = await acme.authentication.authenticate(
        "wide@acme.test", "wide letters are fine", "web", "::1"
    )
    assert decision.allowed
