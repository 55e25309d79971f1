"""Provisioning: user names from the policy's pattern (pinyin of 张伟 and 欧阳子涵, surname
readings, Latin names), unique over accounts, aliases and groups with a numeric suffix; quota,
end date, allowed protocols and first-login steps from the policy; the activation code stored
only as a digest; and an account limited to some protocols refused by a real IMAP login."""

from __future__ import annotations

import asyncio
import imaplib
import ssl
from datetime import date, timedelta
from pathlib import Path

import pytest
import trustme
from sqlalchemy import select
from tests.conftest import FAST_HASHER
from tests.imap.server_support import make_settings
from tests.test_workflow import CHECK, IP, PW, T0, World, filed, w

from mailgate.domain.directory import Account, AccountAction, AccountState, RequiredAction
from mailgate.domain.errors import InvalidInput
from mailgate.domain.onboarding import ApplicationState
from mailgate.domain.policy import GIB, check_settings
from mailgate.protocols.imap.server import start_imap
from mailgate.services.authentication import AuthReason
from mailgate.services.provisioning import (
    ACTIVATION_ALPHABET,
    NameParts,
    expiry,
    format_activation_code,
    free_username,
    name_parts,
    new_activation_code,
    normalise_activation_code,
    render_username,
)
from mailgate.storage.tables import (
    application_decisions,
    applications,
    audit_events,
    one_time_codes,
)

__all__ = ["w"]


# --- user names (pure) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "zhang", "ouyang"),
    [
        ("{pinyin}", "zhangwei", "ouyangzihan"),
        ("{family}", "zhang", "ouyang"),
        ("{given}", "wei", "zihan"),
        ("{given}.{family}", "wei.zhang", "zihan.ouyang"),
        ("{family}{initials}", "zhangw", "ouyangzh"),
        ("{family}_{employee_id}", "zhang_e1001", "ouyang_e1001"),
        ("mg-{initials}.{family}", "mg-w.zhang", "mg-zh.ouyang"),
    ],
)
def test_patterns_for_zhang_wei_and_ouyang_zihan(pattern: str, zhang: str, ouyang: str) -> None:
    assert render_username(pattern, name_parts("张伟"), "E1001") == zhang
    assert render_username(pattern, name_parts("欧阳子涵"), "E1001") == ouyang


def test_name_parts() -> None:
    assert name_parts("欧阳子涵") == NameParts(("ouyang",), ("zi", "han"))
    assert name_parts("歐陽子涵") == NameParts(("ouyang",), ("zi", "han"))  # Traditional
    assert name_parts("曾国藩").family == ("zeng",)  # the surname reading, not ceng
    assert name_parts("单雄信").family == ("shan",)
    assert name_parts("吕布") == NameParts(("lv",), ("bu",))
    assert name_parts(" 王 小明 ") == NameParts(("wang",), ("xiao", "ming"))
    assert name_parts("Zhang Wei") == NameParts(("zhang",), ("wei",))  # roster order
    assert name_parts("José Núñez") == NameParts(("jose",), ("nunez",))
    assert name_parts("阿依古丽·买买提").family == ()  # no surname in transliterated names
    assert name_parts("") == NameParts((), ())


def test_usernames_are_lowercase_ascii_and_never_empty_parts() -> None:
    assert render_username("{given}.{family}", NameParts((), ("wei",)), "") == "wei"
    assert render_username("{pinyin}", NameParts((), ()), "E-1001") == ""
    assert render_username("{employee_id}", NameParts((), ()), "Ab.C_9") == "ab.c_9"
    long = render_username("{pinyin}", NameParts(("x" * 80,), ()), "")
    assert len(long) == 59  # room left for a suffix within 64 octets


def test_activation_codes() -> None:
    codes = {new_activation_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 12 and set(code) <= set(ACTIVATION_ALPHABET)
    assert not set("0O1IL") & set(ACTIVATION_ALPHABET)
    code = "ABCDEFGHJKMN"
    assert format_activation_code(code) == "ABCD-EFGH-JKMN"
    assert normalise_activation_code(" abcd-efgh jkmn ") == code
    for bad in ("", "ABCD-EFGH-JKM", "ABCD-EFGH-JKM0", "ABCDEFGHJKMNP", "ABCD EFGH JKML"):
        assert normalise_activation_code(bad) is None


def test_expiry_is_the_shorter_of_lifetime_and_wanted_duration() -> None:
    today = date(2026, 3, 2)
    assert expiry(today, 0, None) is None
    assert expiry(today, 180, None) == date(2026, 8, 29)
    assert expiry(today, 0, 30) == date(2026, 4, 1)
    assert expiry(today, 180, 30) == date(2026, 4, 1)
    assert expiry(today, 30, 180) == date(2026, 4, 1)


def test_policy_rejects_unknown_protocols_and_patterns() -> None:
    with pytest.raises(InvalidInput, match="unknown"):
        check_settings({"allowed_protocols": ["imap", "telnet"]})
    with pytest.raises(InvalidInput):
        check_settings({"username_pattern": "{surname}"})


# --- provisioning through the workflow (both backends) -----------------------------------------


async def auto_approve(w: World, **settings: object) -> None:
    await w.s.policies.change(
        w.root, "acme", "everyone", settings={"auto_approve_on_roster_match": True, **settings}
    )


async def account_of(w: World, employee_id: str, **changes: object) -> Account:
    app = await filed(w, employee_id, **changes)
    assert app.state is ApplicationState.APPROVED and app.account_id is not None
    async with w.s.workflow.uow(write=False) as uow:
        account = await uow.accounts.get(app.account_id)
    assert account is not None
    return account


async def test_collisions_with_accounts_aliases_and_groups(w: World) -> None:
    await auto_approve(w)
    await w.s.accounts.create(w.root, "zhangwei@acme.test", password=PW, skip_first_login=True)
    await w.s.routes.add_alias(w.root, "zhangwei2@acme.test", ["li.na@acme.test"])
    await w.s.routes.create_group(w.root, "ZhangWei3@acme.test", "张伟的组")
    account = await account_of(w, "E001")
    assert account.address == "zhangwei4@acme.test"
    assert (account.display_name, account.language) == ("张伟", "zh_Hans")
    async with w.s.workflow.uow(write=False) as uow:
        entry = await uow.roster.get(account.org_id, "E001")
        assert await uow.addresses.kind_of("zhangwei4@acme.test") == "account"
        assert [f.name for f in await uow.mail.mailboxes(account.id)][:1] == ["INBOX"]
    assert entry is not None and account.roster_id == entry.id


async def test_employee_id_pattern_and_reserved_names(w: World) -> None:
    await auto_approve(w, username_pattern="{employee_id}")
    await w.s.accounts.create(w.root, "e002@acme.test", password=PW, skip_first_login=True)
    assert (await account_of(w, "E002")).address == "e002-2@acme.test"
    async with w.s.workflow.uow(write=False) as uow:
        domain = await uow.domains.by_name("acme.test")
        assert domain is not None
        assert str(await free_username(uow, "postmaster", domain)) == "postmaster2@acme.test"
        assert str(await free_username(uow, "li.na", domain)) == "li.na2@acme.test"


async def test_given_family_pattern_for_a_compound_surname(w: World) -> None:
    await auto_approve(w, username_pattern="{given}.{family}")
    assert (await account_of(w, "E002")).address == "zihan.ouyang@acme.test"


async def test_quota_expiry_protocols_and_first_login_from_the_policy(w: World) -> None:
    await auto_approve(
        w,
        quota=GIB,
        max_lifetime_days=180,
        allowed_protocols=["web", "smtp"],
        second_factor_required=True,
    )
    short = await account_of(w, "E001", duration_days=90)
    assert short.state is AccountState.PENDING_ACTIVATION and short.password_hash is None
    assert (short.quota, short.expires_on) == (GIB, T0.date() + timedelta(days=90))
    assert short.allowed_protocols == ("web", "smtp")
    assert short.required_actions == [
        RequiredAction.SET_PASSWORD,
        RequiredAction.ENROL_SECOND_FACTOR,
        RequiredAction.VERIFY_RECOVERY_CONTACT,
    ]
    capped = await account_of(w, "E002", duration_days=365)
    assert capped.expires_on == T0.date() + timedelta(days=180)
    # accounts made by hand keep every protocol
    plain = await w.s.accounts.get(w.root, "li.na@acme.test")
    assert plain.allowed_protocols == ("imap", "pop3", "smtp", "web")


async def test_the_activation_code_is_stored_only_as_a_digest(w: World) -> None:
    await auto_approve(w)
    account = await account_of(w, "E001")
    (sms,) = [t for t in w.sms_to("+8613800138001") if account.address in t]
    code = next(c for c in (normalise_activation_code(p) for p in sms.split()) if c)
    async with w.db.reader.connect() as conn:
        stored = []
        for table in (one_time_codes, audit_events, applications, application_decisions):
            stored += [str(dict(r)) for r in (await conn.execute(select(table))).mappings()]
        (row,) = (await conn.execute(select(one_time_codes))).mappings().all()
    assert (row["account_id"], row["purpose"], row["used_at"]) == (account.id, "activation", None)
    assert row["expires_at"] == T0 + timedelta(hours=72)
    everything = " ".join(stored)
    assert code not in everything and format_activation_code(code) not in everything


async def test_an_account_limited_to_web_and_smtp_is_refused_by_imap(
    w: World, tmp_path: Path
) -> None:
    await auto_approve(w, allowed_protocols=["web", "smtp"])
    account = await account_of(w, "E001")
    async with w.s.workflow.uow() as uow:  # as if the first login were done
        fresh = await uow.accounts.get(account.id)
        assert fresh is not None
        fresh.password_hash = await FAST_HASHER.hash(PW)
        await uow.accounts.update(fresh)
        await uow.commit()
    await w.s.accounts.change_state(w.root, account.address, AccountAction.ACTIVATE)

    auth = w.s.authentication.authenticate
    assert (await auth(account.address, PW, "web", IP)).allowed
    assert (await auth(account.address, PW, "pop3", IP)).reason is AuthReason.PROTOCOL_NOT_ALLOWED
    wrong = await auth(account.address, "not the password at all", "pop3", IP)
    assert wrong.reason is AuthReason.BAD_CREDENTIALS  # told only after a right password

    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)
    listeners = await start_imap(w.s, make_settings(tmp_path), server_tls)
    port = listeners.port("imap")

    def login(user: str, password: str) -> str:
        client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        try:
            typ, _ = client.login(user, password)
        except imaplib.IMAP4.error as exc:
            client.shutdown()
            return str(exc)
        client.logout()
        return str(typ)

    try:
        refused = await asyncio.to_thread(login, account.address, PW)
        assert "[AUTHORIZATIONFAILED]" in refused and "may not use IMAP" in refused
        guessed = await asyncio.to_thread(login, account.address, "not the password at all")
        assert "[AUTHENTICATIONFAILED]" in guessed and "IMAP" not in guessed
        assert await asyncio.to_thread(login, "li.na@acme.test", PW) == "OK"
    finally:
        await listeners.close()


async def test_no_checklist_no_approval_even_for_provisioning(w: World) -> None:
    app = await filed(w, "E003")  # straight to IT: no supervisor mailbox
    with pytest.raises(InvalidInput):
        await w.s.workflow.decide(w.it, app.id, "approve", "", {CHECK: False})
    async with w.s.workflow.uow(write=False) as uow:
        assert await uow.accounts.by_key("chenjing@acme.test") is None
    done = await w.s.workflow.decide(w.it, app.id, "approve", "", {CHECK: True})
    assert done.account_id is not None
