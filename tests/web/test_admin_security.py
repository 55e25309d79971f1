"""The admin console's security pages over httpx: one account's page and its actions (with the
confirmation step, CSRF and sudo mode), login records with filters and the CSV download, the
alerts, in three languages; other organisations and lesser roles are kept out."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from mailgate.domain.access import Actor
from mailgate.domain.directory import AccountState, RequiredAction
from mailgate.domain.security import SecurityAlert
from mailgate.services.container import Services
from mailgate.services.identity import token_hash
from mailgate.settings import Settings
from mailgate.web.app import create_app
from mailgate.web.i18n import LANG_COOKIE
from mailgate.web.session import SESSION_COOKIE

from .conftest import BASE_URL, PASSWORD, build_world

SIGN_IN = "/admin/signin"
USER = "user@a.test"
ADMIN = "admin@a.test"
DESK = "desk@a.test"
PAGE = f"/admin/accounts/{quote(USER)}"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(slots=True)
class Console:
    client: httpx.AsyncClient
    services: Services
    root: Actor

    async def csrf_of(self, path: str) -> str:
        page = await self.client.get(path)
        match = _CSRF.search(page.text)
        assert match, (path, page.status_code, page.text[:500])
        return match.group(1)

    async def sign_in(self, address: str = ADMIN) -> None:
        self.client.cookies.clear()
        token = await self.csrf_of(SIGN_IN)
        response = await self.client.post(
            SIGN_IN, data={"address": address, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 303, response.text

    async def act(self, slug: str, data: dict[str, str], page: str = PAGE) -> httpx.Response:
        token = await self.csrf_of(f"{page}/{slug}")
        return await self.client.post(f"{page}/{slug}", data={**data, "csrf_token": token})

    async def state(self, address: str = USER) -> AccountState:
        return (await self.services.accounts.get(self.root, address)).state


@pytest.fixture
async def console(sqlite_services: Services, root: Actor, tmp_path: Path) -> AsyncIterator[Console]:
    await build_world(sqlite_services, root)
    app = create_app(sqlite_services, Settings(data_dir=tmp_path / "data"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        yield Console(c, sqlite_services, root)
    await sqlite_services.alerts.drain()  # notices of sign-ins from a new device


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("zh_Hans", ["第二步验证方式", "网页会话", "紧急锁定", "登录记录", "安全警报", "审计日志"]),
        (
            "zh_Hant",
            ["第二步驗證方式", "網頁工作階段", "緊急鎖定", "登入記錄", "安全警報", "稽核日誌"],
        ),
        ("en", ["Second factors", "Web sessions", "Lock down", "Login records", "Audit log"]),
    ],
)
async def test_account_page_in_three_languages(
    console: Console, locale: str, words: list[str]
) -> None:
    await console.sign_in()
    await console.services.account_admin.force_password_change(
        await console.services.identity.act_as(ADMIN), USER, "audit"
    )
    console.client.cookies.set(LANG_COOKIE, locale)
    listing = await console.client.get("/admin/accounts")
    assert f'href="/admin/accounts/{quote(USER)}"' in listing.text
    page = await console.client.get(PAGE)
    assert page.status_code == 200, page.text
    for word in words:
        assert word in page.text, (locale, word)
    assert 'href="/admin/logins"' in page.text and 'href="/admin/alerts"' in page.text
    assert f'href="/admin/logins?account={quote(USER)}"' in page.text
    assert "<script" not in page.text
    for path in ("/admin/logins", "/admin/alerts", f"{PAGE}/lockdown", f"{PAGE}/reset-factors"):
        other = await console.client.get(path)
        assert other.status_code == 200, (path, other.text)


async def test_lockdown_with_confirmation_csrf_and_reason(console: Console) -> None:
    s = console.services
    user_session = await s.identity.sign_in(USER, PASSWORD, source_ip="192.0.2.4", user_agent="X")
    await console.sign_in()
    page = await console.client.get(PAGE)
    assert f'href="{PAGE}/lockdown"' in page.text  # the page only links to the confirmation
    assert "X</td>" in page.text  # the user's web session is listed

    confirm = await console.client.get(f"{PAGE}/lockdown")
    assert (
        'name="reason"' in confirm.text
        and "every app password and API token is revoked" in confirm.text
    )
    refused = await console.client.post(f"{PAGE}/lockdown", data={"reason": "phishing"})
    assert refused.status_code == 403
    forged = await console.client.post(
        f"{PAGE}/lockdown", data={"reason": "phishing", "csrf_token": "x" * 43}
    )
    assert forged.status_code == 403
    no_reason = await console.act("lockdown", {"reason": "  "})
    assert no_reason.status_code == 422 and "Give a reason." in no_reason.text
    assert await console.state() is AccountState.ACTIVE

    done = await console.act("lockdown", {"reason": "Phishing mail answered"})
    assert done.status_code == 303
    target = urlsplit(done.headers["location"])
    assert target.path == PAGE
    assert parse_qs(target.query) == {
        "done": ["lockdown"],
        "sessions": ["1"],
        "app_passwords": ["0"],
        "api_tokens": ["0"],
    }
    after = await console.client.get(done.headers["location"])
    assert "The account was locked down. Sessions ended: 1." in after.text
    assert 'id="account-state">Locked<' in after.text
    assert "Choose a new password" in after.text
    assert "Locked down" in after.text and "Phishing mail answered" in after.text  # audit
    assert await s.identity.session(user_session.token, "192.0.2.4") is None
    account = await s.accounts.get(console.root, USER)
    assert RequiredAction.UPDATE_PASSWORD in account.required_actions

    # Unlock straight from the page (not destructive), then lock again with a reason.
    token = await console.csrf_of(PAGE)
    unlocked = await console.client.post(f"{PAGE}/unlock", data={"csrf_token": token})
    assert unlocked.status_code == 303
    assert await console.state() is AccountState.ACTIVE
    locked = await console.act("lock", {"reason": "on leave"})
    assert locked.status_code == 303 and await console.state() is AccountState.LOCKED
    again = await console.act("lock", {"reason": "twice"})
    assert again.status_code == 409 and "not allowed in the current state" in again.text


async def test_other_actions_from_the_console(console: Console) -> None:
    s = console.services
    actor = await s.identity.act_as(USER)
    await s.app_passwords.create(actor, USER, "Phone", "imap")
    await console.sign_in()
    forced = await console.act("force-password-change", {"reason": ""})
    assert forced.status_code == 303
    shown = await console.client.get(forced.headers["location"])
    assert "A new password is required at the next sign-in." in shown.text
    revoked = await console.act("revoke-app-passwords", {"reason": "new phone"})
    shown = await console.client.get(revoked.headers["location"])
    assert "App passwords revoked: 1." in shown.text and "Revoked" in shown.text
    ended = await console.act("revoke-sessions", {})
    assert parse_qs(urlsplit(ended.headers["location"]).query)["n"] == ["0"]
    missing = await console.act("reset-factors", {"verified_by": "Li Lei", "method": ""})
    assert missing.status_code == 422 and "who verified" in missing.text
    reset = await console.act(
        "reset-factors", {"verified_by": "Li Lei (IT)", "method": "video call, ID card"}
    )
    assert reset.status_code == 303
    unknown = await console.client.get(f"{PAGE}/explode")
    assert unknown.status_code == 404


async def test_scope_roles_and_own_account(console: Console) -> None:
    await console.sign_in()
    other = await console.client.get(f"/admin/accounts/{quote('user@b.test')}")
    assert other.status_code == 404
    token = await console.csrf_of(PAGE)
    post_other = await console.client.post(
        f"/admin/accounts/{quote('user@b.test')}/lockdown",
        data={"reason": "x", "csrf_token": token},
    )
    assert post_other.status_code == 404
    own = await console.client.get(f"/admin/accounts/{quote(ADMIN)}")
    assert own.status_code == 200
    assert f"/admin/accounts/{quote(ADMIN)}/lockdown" not in own.text
    assert "another administrator has to lock it" in own.text
    refused = await console.act("lockdown", {"reason": "test"}, f"/admin/accounts/{quote(ADMIN)}")
    assert refused.status_code == 422 and "your own account" in refused.text
    assert await console.state(ADMIN) is AccountState.ACTIVE

    await console.services.account_admin.lock(
        await console.services.identity.act_as(ADMIN), USER, "checking"
    )
    await console.sign_in(DESK)  # helpdesk: reads, unlocks, nothing else
    page = await console.client.get(PAGE)
    assert page.status_code == 200
    assert f"{PAGE}/lockdown" not in page.text and f'action="{PAGE}/unlock"' in page.text
    assert "Audit log" not in page.text and "审计日志" not in page.text
    assert (await console.client.get(f"{PAGE}/lockdown")).status_code == 403
    token = await console.csrf_of(PAGE)
    lockdown = await console.client.post(
        f"{PAGE}/lockdown", data={"reason": "x", "csrf_token": token}
    )
    assert lockdown.status_code == 403
    unlock = await console.client.post(f"{PAGE}/unlock", data={"csrf_token": token})
    assert unlock.status_code == 303 and await console.state() is AccountState.ACTIVE

    await console.sign_in(USER)  # no role: no console at all
    for path in (PAGE, "/admin/logins", "/admin/alerts", "/admin/logins/export.csv"):
        assert (await console.client.get(path)).status_code == 403, path


async def test_actions_need_sudo_mode(console: Console) -> None:
    await console.sign_in()
    token = await console.csrf_of(PAGE)
    cookie = console.client.cookies.get(SESSION_COOKIE)
    assert cookie is not None
    async with console.services.identity.uow() as uow:
        await uow.web_sessions.set_reauth(
            token_hash(cookie), datetime.now(UTC) - timedelta(hours=1)
        )
        await uow.commit()
    prompt = await console.client.get(f"{PAGE}/lockdown")
    assert prompt.status_code == 303
    assert prompt.headers["location"].startswith("/account/sudo?next=")
    posted = await console.client.post(
        f"{PAGE}/lockdown",
        data={"reason": "x", "csrf_token": token},
        headers={"referer": f"{BASE_URL}{PAGE}/lockdown"},
    )
    assert posted.status_code == 303 and posted.headers["location"].startswith("/account/sudo")
    assert await console.state() is AccountState.ACTIVE


async def _records(s: Services) -> None:
    auth = s.authentication.authenticate
    await auth(USER, "wrong password", "imap", "203.0.113.5", "=HYPERLINK(1)")
    await auth(USER, PASSWORD, "smtp", "198.51.100.1", "Thunderbird 140")
    await auth("user@b.test", "wrong password", "imap", "203.0.113.5", "beta client")
    await auth("nobody@a.test", "wrong password", "pop3", "203.0.113.6", "")


async def test_login_records_with_filters(console: Console) -> None:
    await _records(console.services)
    await console.sign_in()

    async def rows(query: str = "", status: int = 200) -> str:
        page = await console.client.get(f"/admin/logins{query}")
        assert page.status_code == status, (query, page.text)
        body = page.text.split('id="logins"')[1].split("</table>")[0]
        return body

    everything = await rows()
    assert "Thunderbird 140" in everything and "=HYPERLINK(1)" in everything
    assert "beta client" not in everything  # another organisation
    assert "Web" in everything  # the admin's own sign-in
    only_ip = await rows("?ip=203.0.113.5")
    assert "=HYPERLINK(1)" in only_ip and "Thunderbird" not in only_ip
    failures = await rows("?result=failure&protocol=imap")
    assert "=HYPERLINK(1)" in failures and "Thunderbird" not in failures
    assert "Thunderbird" in await rows("?result=success&protocol=smtp")
    assert "Wrong password" in await rows("?result=bad_password")
    by_account = await rows(f"?account={quote(USER)}&org=alpha")
    assert "Thunderbird" in by_account and ADMIN not in by_account
    today = datetime.now(UTC).astimezone().date()
    assert "Thunderbird" in await rows(
        f"?since={today - timedelta(days=1)}&until={today + timedelta(days=1)}"
    )
    assert "Thunderbird" not in await rows(f"?until={today - timedelta(days=2)}")
    hidden = await console.client.get(f"/admin/logins?account={quote('user@b.test')}")
    assert hidden.status_code == 404 and "that you may see" in hidden.text
    assert (await console.client.get("/admin/logins?org=beta")).status_code == 404
    bad_date = await console.client.get("/admin/logins?since=yesterday")
    assert bad_date.status_code == 422 and "A filter is not valid" in bad_date.text
    for edge in ("until=9999-12-31", "since=0001-01-01"):
        out_of_range = await console.client.get(f"/admin/logins?{edge}")
        assert out_of_range.status_code == 422, edge
    bad_protocol = await console.client.get("/admin/logins?protocol=gopher")
    assert bad_protocol.status_code == 422
    page = await console.client.get("/admin/logins?ip=203.0.113.5&result=failure")
    assert 'href="/admin/logins/export.csv?ip=203.0.113.5&amp;result=failure"' in page.text


async def test_csv_download(console: Console) -> None:
    await _records(console.services)
    await console.sign_in()
    response = await console.client.get("/admin/logins/export.csv?org=alpha&protocol=imap")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="mailgate-logins-alpha-{stamp}.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeffoccurred_at,username,protocol,ip,client_id,result,reason")
    table = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [(r["username"], r["ip"], r["result"]) for r in table] == [
        (USER, "203.0.113.5", "failure")
    ]
    assert table[0]["client_id"] == "'=HYPERLINK(1)"  # no formula for the spreadsheet
    everything = await console.client.get("/admin/logins/export.csv")
    assert 'filename="mailgate-logins-all-' in everything.headers["content-disposition"]
    assert "user@b.test" not in everything.text
    hidden = await console.client.get("/admin/logins/export.csv?org=beta")
    assert hidden.status_code == 404


async def test_alerts_page(console: Console) -> None:
    s = console.services
    account = await s.accounts.get(console.root, USER)
    beta = await s.accounts.get(console.root, "user@b.test")
    async with s.identity.uow() as uow:
        for target in (account, beta):
            await uow.account_security.add_alert(
                SecurityAlert(
                    occurred_at=datetime.now(UTC),
                    kind="failure_burst",
                    account_id=target.id,
                    org_id=target.org_id,
                    details={
                        "address": target.address,
                        "failures": 60,
                        "ips": 12,
                        "window_minutes": 60,
                    },
                )
            )
        await uow.commit()
    await console.sign_in()
    page = await console.client.get("/admin/alerts")
    assert page.status_code == 200
    assert "60 failed sign-ins from 12 network addresses within 60 minutes" in page.text
    assert f'href="/admin/accounts/{quote(USER)}"' in page.text and "user@b.test" not in page.text
    console.client.cookies.set(LANG_COOKIE, "zh_Hant")
    translated = await console.client.get("/admin/alerts?org=alpha")
    assert "安全警報" in translated.text and "大量登入失敗" in translated.text
    assert (await console.client.get("/admin/alerts?org=beta")).status_code == 404
