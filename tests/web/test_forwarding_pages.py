"""`/account/forwarding` over httpx against the real app (SQLite): every change needs sudo mode
and the session's CSRF token; with both, a person sets a forwarding, enters the code that went
to the target, sees it active, and removes it; the page speaks all three languages."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import settle_alerts

from mailgate.domain.access import Actor, operator
from mailgate.domain.notices import NoticeKind
from mailgate.services.container import Services
from mailgate.services.factors import FactorConfig
from mailgate.settings import Settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import open_database
from mailgate.storage.migrate import upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.web.app import create_app

from .conftest import BASE_URL, FAST_HASHER, PASSWORD
from .test_sessions import MovableClock

PAGE = "/account/forwarding"
USER = "li.na@example.test"
PEER = "wang.fang@example.test"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass(slots=True)
class Site:
    transport: httpx.ASGITransport
    client: httpx.AsyncClient
    services: Services
    clock: MovableClock
    root: Actor

    async def csrf(self) -> str:
        page = await self.client.get("/account")
        match = _CSRF.search(page.text)
        assert match, page.text
        return match.group(1)

    async def sign_in(self) -> None:
        page = await self.client.get("/admin/signin")
        match = _CSRF.search(page.text)
        assert match
        data = {"address": USER, "password": PASSWORD, "csrf_token": match.group(1)}
        signed = await self.client.post("/admin/signin", data=data)
        assert signed.status_code == 303

    async def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        form = {**(data or {}), "csrf_token": await self.csrf()}
        return await self.client.post(path, data=form, headers={"Referer": f"{BASE_URL}{PAGE}"})

    async def code_for_peer(self) -> str:
        found, _ = await self.services.mailstore.messages(self.root, PEER)
        for item in reversed(found):
            raw = await self.services.mailstore.read(item.blob_id)
            message = email.message_from_bytes(raw, policy=email.policy.default)
            # In the owner's language (zh_Hans by default): "确认邮件转发：123456".
            if codes := _CODE.findall(str(message["Subject"])):
                return str(codes[-1])
        raise AssertionError("no code reached the target")

    async def forwarding_target(self) -> str | None:
        actor = await self.services.identity.act_as(USER)
        found = await self.services.forwarding.get(actor)
        return found.target if found else None


@pytest.fixture
async def site(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    db = open_database(sqlite_url, pool_size=5)
    await upgrade(db)
    clock = MovableClock()
    services = Services.build(
        SqlUnitOfWorkFactory(db),
        clock,
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        factors=FactorConfig(rp_id="testserver", origins=(BASE_URL,), secret_key=b"s" * 32),
    )
    await services.setup.seed_demo()
    root = operator("cli:test")
    for address in (USER, PEER):
        await services.accounts.create(root, address, password=PASSWORD, skip_first_login=True)
    transport = httpx.ASGITransport(create_app(services, Settings(data_dir=tmp_path / "data")))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield Site(transport, client, services, clock, root)
    await settle_alerts()
    await db.dispose()


async def test_without_sudo_every_change_goes_to_the_prompt_and_changes_nothing(
    site: Site,
) -> None:
    await site.sign_in()
    site.clock.advance(minutes=11)  # sudo mode from the sign-in has run out
    shown = await site.client.get(PAGE)
    assert shown.status_code == 200 and "Your mail is not forwarded." in shown.text
    for path, data in (
        (PAGE, {"target": PEER, "keep_copy": "1"}),
        (f"{PAGE}/verify", {"code": "123456"}),
        (f"{PAGE}/remove", {}),
    ):
        asked = await site.post(path, data)
        assert asked.status_code == 303, path
        assert asked.headers["location"] == "/account/sudo?next=%2Faccount%2Fforwarding"
    assert await site.forwarding_target() is None
    assert ("contact", NoticeKind.FORWARDING_VERIFY_CODE) not in site.services.notices.sent


async def test_with_sudo_set_confirm_and_remove(site: Site) -> None:
    await site.sign_in()
    site.clock.advance(minutes=11)
    ok = await site.post("/account/sudo", {"password": PASSWORD, "next": PAGE})
    assert ok.status_code == 303 and ok.headers["location"] == PAGE

    refused = await site.post(PAGE, {"target": "someone@example.org"})
    assert refused.status_code == 422
    assert "only to addresses of its own domains" in refused.text
    own = await site.post(PAGE, {"target": USER})
    assert own.status_code == 422 and "another address than this mailbox" in own.text

    sent = await site.post(PAGE, {"target": PEER})  # the checkbox left unticked: no copy
    assert sent.status_code == 303 and sent.headers["location"] == f"{PAGE}?done=sent"
    pending = await site.client.get(sent.headers["location"])
    assert "Waiting for the code" in pending.text and PEER in pending.text
    assert "No copy stays in this mailbox." in pending.text

    wrong = await site.post(f"{PAGE}/verify", {"code": "12"})
    assert wrong.status_code == 422 and "Enter the 6 digits of the code." in wrong.text
    code = await site.code_for_peer()
    done = await site.post(f"{PAGE}/verify", {"code": code})
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=verified"
    active = await site.client.get(done.headers["location"])
    assert "Your mail is now forwarded." in active.text and "Active" in active.text
    peer_id = (await site.services.identity.act_as(PEER)).account_id
    assert (await site.services.delivery.resolve(USER, None)).account_ids == [peer_id]

    removed = await site.post(f"{PAGE}/remove")
    assert removed.status_code == 303 and removed.headers["location"] == f"{PAGE}?done=removed"
    assert await site.forwarding_target() is None
    again = await site.post(f"{PAGE}/remove")
    assert again.status_code == 404 and "There is no forwarding" in again.text


async def test_a_post_without_the_csrf_token_is_refused(site: Site) -> None:
    await site.sign_in()  # in sudo mode right after signing in
    for path in (PAGE, f"{PAGE}/verify", f"{PAGE}/remove"):
        bare = await site.client.post(path, data={"target": PEER, "code": "123456"})
        assert bare.status_code == 403, path
        forged = await site.client.post(
            path, data={"target": PEER, "code": "123456", "csrf_token": "x" * 43}
        )
        assert forged.status_code == 403, path
    assert await site.forwarding_target() is None


@pytest.mark.parametrize(
    ("language", "title", "link"),
    [
        ("zh-CN", "邮件转发", "转发我的邮件"),
        ("zh-TW", "郵件轉寄", "轉寄我的郵件"),
        ("en", "Forwarding", "Forward my mail"),
    ],
)
async def test_the_page_in_each_language(site: Site, language: str, title: str, link: str) -> None:
    await site.sign_in()
    page = await site.client.get(PAGE, headers={"Accept-Language": language})
    assert page.status_code == 200
    assert f'href="{PAGE}"' in page.text and title in page.text and link in page.text
    signed_out = httpx.AsyncClient(transport=site.transport, base_url=BASE_URL)
    async with signed_out:
        away = await signed_out.get(PAGE)
    assert away.status_code == 303
