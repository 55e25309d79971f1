""" "This wasn't me" through the portal (httpx over ASGI, both databases): every web session
ends, app passwords stop working for a real IMAP client, a new password is required, the
admins and the person are told, the action is audited; CSRF and bad input are refused."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import imaplib
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import trustme
from tests.imap.server_support import make_settings

from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import RequiredAction
from mailgate.domain.security import LoginFilter
from mailgate.protocols.imap.server import ImapListeners, start_imap
from mailgate.services.container import Services
from mailgate.settings import Settings
from mailgate.web.app import create_app
from mailgate.web.i18n import LANG_COOKIE

from .conftest import BASE_URL, PASSWORD

SIGN_IN = "/admin/signin"
USER = "li.na@acme.test"  # zh_Hant
OTHER = "wang.wei@acme.test"
BOSS = "boss@acme.test"  # en, the organisation's admin
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class World:
    services: Services
    app: object
    imap: ImapListeners

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(self.app)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


@pytest.fixture
async def world(services: Services, root: Actor, tmp_path: Path) -> AsyncIterator[World]:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    for address, language in ((USER, "zh_Hant"), (OTHER, "en"), (BOSS, "en")):
        await services.accounts.create(
            root, address, password=PASSWORD, skip_first_login=True, language=language
        )
    await services.accounts.grant_role(root, BOSS, Role.ORG_ADMIN, "acme")
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    listeners = await start_imap(services, make_settings(tmp_path), tls)
    app = create_app(services, Settings(data_dir=tmp_path / "data"))
    yield World(services, app, listeners)
    await services.alerts.drain()
    await listeners.close()


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    match = _CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, address: str = USER) -> None:
    token = await csrf_of(client, SIGN_IN)
    response = await client.post(
        SIGN_IN, data={"address": address, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.text


def imap_login(port: int, user: str, password: str) -> str:
    """A real IMAP LOGIN with imaplib: "OK", or the refusal."""
    with imaplib.IMAP4("127.0.0.1", port) as client:
        try:
            typ, _ = client.login(user, password)
        except imaplib.IMAP4.error as refused:
            return f"NO {refused}"
        return str(typ)


async def inbox(services: Services, address: str) -> list[EmailMessage]:
    async with services.authentication.uow(write=False) as uow:
        account = await uow.accounts.by_key(address)
    assert account is not None
    listing = await services.mailboxes.pop3_listing(account.id)
    out = []
    for _, _, blob_id in listing.messages:
        data = await services.mailboxes.body(blob_id)
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        out.append(parsed)
    return out


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def test_not_me_secures_the_account_and_tells_everyone(world: World, root: Actor) -> None:
    s = world.services
    actor = await s.identity.act_as(USER)
    phone = await s.app_passwords.create(actor, USER, "Phone", "imap")
    port = world.imap.port("imap")
    assert await asyncio.to_thread(imap_login, port, USER, phone.password) == "OK"
    async with world.client() as laptop, world.client() as tablet:
        await sign_in(laptop)
        await sign_in(tablet)
        security = await laptop.get("/account/security")
        assert 'href="/account/not-me"' in security.text
        async with s.authentication.uow(write=False) as uow:
            account = await uow.accounts.by_key(USER)
            assert account is not None
            records, _ = await uow.logins.search(None, LoginFilter(account_id=account.id), 0, 50)
        imap_record = next(r for r in records if r.protocol == "imap")
        assert f'href="/account/not-me?record={imap_record.id}"' in security.text

        confirm = await laptop.get(f"/account/not-me?record={imap_record.id}")
        assert confirm.status_code == 200
        assert "Secure my account" in confirm.text and imap_record.ip in confirm.text
        token = _CSRF.search(confirm.text)
        assert token is not None
        done = await laptop.post(
            "/account/not-me",
            data={"csrf_token": token.group(1), "record": str(imap_record.id)},
        )
        assert done.status_code == 303 and done.headers["location"] == "/account/not-me/done"
        assert "__Host-mailgate_session=" in done.headers["set-cookie"]
        landing = await laptop.get("/account/not-me/done")
        assert landing.status_code == 200
        assert "choose a new password" in landing.text and 'action="/admin/signin"' in landing.text
        # Every web session ended, the one that pressed the button too.
        for browser in (laptop, tablet):
            page = await browser.get("/account")
            assert page.status_code == 303 and page.headers["location"].startswith(SIGN_IN)

    # The app password no longer opens IMAP.
    refused = await asyncio.to_thread(imap_login, port, USER, phone.password)
    assert refused.startswith("NO"), refused
    async with s.authentication.uow(write=False) as uow:
        account = await uow.accounts.by_key(USER)
        assert account is not None
        assert RequiredAction.UPDATE_PASSWORD in account.required_actions
        assert await uow.web_sessions.for_account(account.id) == []
        alerts, _ = await uow.account_security.alerts(None, 0, 10)
    [alert] = [a for a in alerts if a.kind == "not_me"]
    assert alert.details["record_id"] == imap_record.id and alert.account_id == account.id

    await s.alerts.drain()
    [to_boss] = [m for m in await inbox(s, BOSS) if "not theirs" in m["Subject"]]
    assert (
        to_boss["Subject"].strip()
        == f"Security alert: {USER} reported a sign-in that was not theirs"
    )
    assert f"/admin/logins?account={USER}" in body_of(to_boss)
    secured = [m for m in await inbox(s, USER) if m["Subject"] == "您的帳戶已被保護"]
    assert len(secured) == 1 and "您回報了非本人的活動" in body_of(secured[0])

    events, _ = await s.audit.list(root, 0, 200)
    [event] = [e for e in events if e.action == "account.not_me"]
    assert event.actor == USER and event.summary["record_id"] == imap_record.id
    assert any(e.action == "app_password.revoke_all" for e in events)
    # Nothing was sent twice.
    assert await s.alerts.dispatch() == 0


async def test_not_me_without_a_record(world: World) -> None:
    async with world.client() as browser:
        await sign_in(browser)
        confirm = await browser.get("/account/not-me")
        assert confirm.status_code == 200 and 'id="reported-sign-in"' not in confirm.text
        token = await csrf_of(browser, "/account/not-me")
        done = await browser.post("/account/not-me", data={"csrf_token": token})
        assert done.status_code == 303
    async with world.services.authentication.uow(write=False) as uow:
        alerts, _ = await uow.account_security.alerts(None, 0, 10)
    assert [(a.kind, a.details["record_id"]) for a in alerts] == [("not_me", None)]


async def test_csrf_and_bad_input_are_refused(world: World) -> None:
    s = world.services
    async with s.authentication.uow(write=False) as uow:
        other = await uow.accounts.by_key(OTHER)
        assert other is not None
    # A sign-in record of another account.
    await s.authentication.authenticate(OTHER, PASSWORD, "imap", "192.0.2.9")
    async with s.authentication.uow(write=False) as uow:
        [foreign], _ = await uow.logins.search(None, LoginFilter(account_id=other.id), 0, 5)
    async with world.client() as browser:
        await sign_in(browser)
        missing = await browser.post("/account/not-me", data={})
        assert missing.status_code == 403
        forged = await browser.post("/account/not-me", data={"csrf_token": "x" * 43})
        assert forged.status_code == 403
        token = await csrf_of(browser, "/account/not-me")
        for bad in ("abc", "-1", "0", "１２", "9" * 19):
            refused = await browser.post(
                "/account/not-me", data={"csrf_token": token, "record": bad}
            )
            assert refused.status_code == 400, bad
        theirs = await browser.post(
            "/account/not-me", data={"csrf_token": token, "record": str(foreign.id)}
        )
        assert theirs.status_code == 404
        assert (await browser.get(f"/account/not-me?record={foreign.id}")).status_code == 404
        assert (await browser.get("/account/not-me?record=zz")).status_code == 400
        # Still signed in: nothing happened.
        assert (await browser.get("/account")).status_code == 200
    async with s.authentication.uow(write=False) as uow:
        account = await uow.accounts.by_key(USER)
        assert account is not None
        assert RequiredAction.UPDATE_PASSWORD not in account.required_actions
        _, total = await uow.account_security.alerts(None, 0, 10)
    assert total == 0


async def test_not_me_pages_need_a_session_and_speak_the_language(world: World) -> None:
    async with world.client() as browser:
        gate = await browser.get("/account/not-me")
        assert gate.status_code == 303 and gate.headers["location"].startswith(SIGN_IN)
        browser.cookies.set(LANG_COOKIE, "zh_Hant")
        await sign_in(browser)
        confirm = await browser.get("/account/not-me")
        assert "這不是我" in confirm.text and "保護我的帳號" in confirm.text
        token = await csrf_of(browser, "/account/not-me")
        await browser.post("/account/not-me", data={"csrf_token": token})
        done = await browser.get("/account/not-me/done")
        text = html.unescape(done.text)
        assert "請重新登入並設定新密碼" in text and "您的帳號已受到保護" in text
        browser.cookies.set(LANG_COOKIE, "zh_Hans")
        assert "请重新登录并设置新密码" in html.unescape((await browser.get(done.url)).text)
