"""The console's account page shows the account's forwarding and API tokens, over httpx against
the real app (SQLite): an admin removes a forwarding (mail then stays in the INBOX) and revokes a
token (the API then refuses it), both with the page's CSRF token and in sudo mode; the helpdesk
sees the forwarding and the tokens but no buttons and is refused; the policy that stops a
forwarding is shown; the page speaks Chinese."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from mailgate.domain.access import Actor
from mailgate.services.container import Services
from mailgate.services.identity import token_hash
from mailgate.settings import Settings
from mailgate.web.app import create_app
from mailgate.web.i18n import LANG_COOKIE
from mailgate.web.session import SESSION_COOKIE

from .conftest import BASE_URL, PASSWORD, build_world

SIGN_IN = "/admin/signin"
USER = "user@a.test"
PEER = "peer@a.test"
ADMIN = "admin@a.test"
DESK = "desk@a.test"
PAGE = f"/admin/accounts/{quote(USER)}"
REMOVE = f"{PAGE}/forwarding/remove"
REVOKE = f"{PAGE}/api-tokens/revoke"
SENDER = "x@example.org"
MESSAGE = b"From: x@example.org\r\nTo: user@a.test\r\nSubject: quarterly report\r\n\r\nhello\r\n"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass(slots=True)
class Console:
    client: httpx.AsyncClient
    services: Services
    root: Actor

    async def csrf(self) -> str:
        page = await self.client.get(PAGE)
        match = _CSRF.search(page.text)
        assert match, (page.status_code, page.text[:500])
        return match.group(1)

    async def sign_in(self, address: str = ADMIN) -> None:
        self.client.cookies.clear()
        page = await self.client.get(SIGN_IN)
        match = _CSRF.search(page.text)
        assert match
        data = {"address": address, "password": PASSWORD, "csrf_token": match.group(1)}
        response = await self.client.post(SIGN_IN, data=data)
        assert response.status_code == 303, response.text

    async def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        """A button of the page, with the page's CSRF token."""
        form = {**(data or {}), "csrf_token": await self.csrf()}
        return await self.client.post(path, data=form, headers={"referer": f"{BASE_URL}{PAGE}"})

    async def subjects(self, address: str) -> list[str]:
        found, _ = await self.services.mailstore.messages(self.root, address, "INBOX")
        out = []
        for item in found:
            raw = await self.services.mailstore.read(item.blob_id)
            out.append(str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]))
        return out

    async def receive(self) -> None:
        """What the MX does with mail for USER: resolve (forwarding included), store."""
        found = await self.services.delivery.resolve(USER, SENDER, len(MESSAGE))
        assert found.account_ids and not found.remote
        await self.services.delivery.deliver(SENDER, found.account_ids, MESSAGE)

    async def set_forwarding(self, *, verify: bool = True) -> None:
        """USER forwards to PEER without a copy, confirmed with the code that reached PEER."""
        user = await self.services.identity.act_as(USER)
        await self.services.forwarding.set(user, PEER, keep_copy=False)
        if verify:
            # The code is in the subject, in the owner's language ("确认邮件转发：123456").
            codes = [c for s in await self.subjects(PEER) for c in _CODE.findall(s)]
            await self.services.forwarding.verify(user, codes[-1])

    async def forwarding_target(self) -> str | None:
        found = await self.services.forwarding.get(self.root, USER)
        return found.target if found else None

    async def token_for_user(self) -> tuple[str, str]:
        """A new API token of USER named "backup script": (token, handle)."""
        user = await self.services.identity.act_as(USER)
        token = await self.services.identity.create_api_token(user, USER, "backup script")
        return token, token_hash(token)[:12]

    async def api_status(self, token: str) -> int:
        response = await self.client.get(
            "/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code


@pytest.fixture
async def console(sqlite_services: Services, root: Actor, tmp_path: Path) -> AsyncIterator[Console]:
    await build_world(sqlite_services, root)
    await sqlite_services.accounts.create(root, PEER, password=PASSWORD, skip_first_login=True)
    app = create_app(sqlite_services, Settings(data_dir=tmp_path / "data"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        yield Console(c, sqlite_services, root)
    await sqlite_services.alerts.drain()  # notices of sign-ins from a new device


def section(page: httpx.Response, marker: str) -> str:
    """The part of the page from `marker` to the end of its card."""
    return page.text.split(marker, 1)[1].split("</div>", 1)[0]


async def test_admin_sees_the_forwarding_and_removes_it(console: Console) -> None:
    await console.set_forwarding()
    await console.receive()  # forwarded, no copy kept
    assert "quarterly report" in await console.subjects(PEER)
    assert "quarterly report" not in await console.subjects(USER)

    await console.sign_in()
    page = await console.client.get(PAGE)
    assert page.status_code == 200
    shown = section(page, 'id="forwarding"')
    assert f'data-target="{PEER}"' in shown and "Confirmed" in shown
    assert "No copy stays in the account" in shown
    assert "forwarding-not-applied" not in shown  # the default policy allows internal targets
    assert f'action="{REMOVE}"' in shown

    missing = await console.client.post(REMOVE, data={})
    assert missing.status_code == 403
    forged = await console.client.post(REMOVE, data={"csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert await console.forwarding_target() == PEER

    removed = await console.post(REMOVE)
    assert removed.status_code == 303
    target = urlsplit(removed.headers["location"])
    assert target.path == PAGE and parse_qs(target.query) == {"done": ["forwarding-removed"]}
    after = await console.client.get(removed.headers["location"])
    assert "The forwarding was removed" in after.text
    assert "mail is not forwarded." in section(after, 'id="forwarding"')
    assert "Forwarding removed" in after.text  # the audit log of the page
    assert await console.forwarding_target() is None
    events, _ = await console.services.audit.list(console.root, limit=50)
    assert any(
        e.action == "forwarding.remove" and e.actor == ADMIN and e.target == f"account:{USER}"
        for e in events
    )

    # New mail stays in the account's INBOX and no longer reaches the old target.
    await console.receive()
    assert (await console.subjects(USER)).count("quarterly report") == 1
    assert (await console.subjects(PEER)).count("quarterly report") == 1

    again = await console.post(REMOVE)  # a second click: nothing left, said so
    assert parse_qs(urlsplit(again.headers["location"]).query) == {"done": ["no-forwarding"]}
    notice = await console.client.get(again.headers["location"])
    assert "The account has no forwarding (any more)." in notice.text


async def test_pending_forwarding_and_a_policy_that_stops_it(console: Console) -> None:
    await console.set_forwarding(verify=False)
    await console.sign_in()
    pending = section(await console.client.get(PAGE), 'id="forwarding"')
    assert "Awaiting confirmation" in pending and "Nothing is forwarded until the code" in pending

    await console.set_forwarding()
    await console.services.policies.add(
        console.root, "alpha", "no-forwarding", position=1, settings={"forwarding": "none"}
    )
    stopped = section(await console.client.get(PAGE), 'id="forwarding"')
    assert "Confirmed" in stopped and 'id="forwarding-not-applied"' in stopped
    assert "does not allow forwarding to this address" in stopped
    await console.receive()  # the page is right: the policy keeps the mail here
    assert "quarterly report" in await console.subjects(USER)


async def test_revoking_a_token_makes_the_api_refuse_it(console: Console) -> None:
    token, handle = await console.token_for_user()
    assert await console.api_status(token) == 200
    await console.sign_in()
    page = await console.client.get(PAGE)
    tokens = page.text.split('id="api-tokens"', 1)[1].split("</table>", 1)[0]
    assert "backup script" in tokens and f"<code>{handle}</code>" in tokens
    assert f'action="{REVOKE}"' in tokens and f'name="handle" value="{handle}"' in tokens
    assert token not in page.text

    forged = await console.client.post(REVOKE, data={"handle": handle, "csrf_token": "x" * 43})
    assert forged.status_code == 403
    bad = await console.post(REVOKE, {"handle": "not-a-handle"})
    assert bad.status_code == 422
    assert await console.api_status(token) == 200

    revoked = await console.post(REVOKE, {"handle": handle})
    assert revoked.status_code == 303
    assert parse_qs(urlsplit(revoked.headers["location"]).query) == {"done": ["api-token-revoked"]}
    after = await console.client.get(revoked.headers["location"])
    assert "The API token was revoked" in after.text and "No API tokens." in after.text
    assert "API token revoked" in after.text  # the audit log of the page
    assert await console.api_status(token) == 401

    again = await console.post(REVOKE, {"handle": handle})
    assert parse_qs(urlsplit(again.headers["location"]).query) == {"done": ["no-api-token"]}


async def test_helpdesk_sees_no_buttons_and_is_refused(console: Console) -> None:
    await console.set_forwarding()
    token, handle = await console.token_for_user()
    await console.sign_in(DESK)  # reads accounts, does not change them
    page = await console.client.get(PAGE)
    assert page.status_code == 200
    assert "backup script" in page.text  # the tokens are listed
    assert REMOVE not in page.text and REVOKE not in page.text
    assert 'name="handle"' not in page.text
    forwarding = section(page, 'id="forwarding"')
    assert PEER in forwarding and "Confirmed" in forwarding  # the IT desk sees where mail goes

    assert (await console.post(REMOVE)).status_code == 403
    assert (await console.post(REVOKE, {"handle": handle})).status_code == 403
    assert await console.forwarding_target() == PEER
    assert await console.api_status(token) == 200

    await console.sign_in(USER)  # no role at all: no console
    assert (await console.client.post(REMOVE, data={})).status_code == 403
    assert await console.forwarding_target() == PEER


async def test_buttons_need_sudo_mode(console: Console) -> None:
    await console.set_forwarding()
    token, handle = await console.token_for_user()
    await console.sign_in()
    cookie = console.client.cookies.get(SESSION_COOKIE)
    assert cookie is not None
    async with console.services.identity.uow() as uow:
        await uow.web_sessions.set_reauth(
            token_hash(cookie), datetime.now(UTC) - timedelta(hours=1)
        )
        await uow.commit()
    for path, data in ((REMOVE, {}), (REVOKE, {"handle": handle})):
        asked = await console.post(path, data)
        assert asked.status_code == 303, path
        assert asked.headers["location"] == f"/account/sudo?next={quote(PAGE, safe='')}"
    assert await console.forwarding_target() == PEER
    assert await console.api_status(token) == 200


@pytest.mark.parametrize(
    ("locale", "words", "notice"),
    [
        (
            "zh_Hans",
            [
                "邮件转发",
                "已确认",
                "此账号的邮箱中不保留副本。",
                "删除邮件转发",
                "API 令牌",
                "标识",
            ],
            "邮件转发已删除：此账号的邮件将保留在其自己的邮箱中。",
        ),
        (
            "zh_Hant",
            [
                "郵件轉寄",
                "已確認",
                "此帳號的郵箱中不保留副本。",
                "刪除郵件轉寄",
                "API 權杖",
                "識別碼",
            ],
            "郵件轉寄已刪除：此帳號的郵件將保留在其自己的郵箱中。",
        ),
    ],
)
async def test_the_new_sections_in_chinese(
    console: Console, locale: str, words: list[str], notice: str
) -> None:
    await console.set_forwarding()
    await console.token_for_user()
    await console.sign_in()
    console.client.cookies.set(LANG_COOKIE, locale)
    page = await console.client.get(PAGE)
    assert page.status_code == 200
    for word in words:
        assert word in page.text, (locale, word)
    for english in ("Remove forwarding", "API tokens", "Handle", "Confirmed"):
        assert english not in page.text, (locale, english)
    removed = await console.post(REMOVE)
    after = await console.client.get(removed.headers["location"])
    assert notice in after.text
