"""The admin console: sign-in with secure cookies and CSRF, languages, the list pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from babel.dates import format_date

from mailgate.services.container import Services
from mailgate.settings import Settings
from mailgate.web.app import create_app

from .conftest import BASE_URL

SIGN_IN = "/admin/signin"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(slots=True)
class Console:
    client: httpx.AsyncClient
    transport: httpx.ASGITransport
    admin: str
    password: str

    async def csrf_of(self, path: str) -> str:
        page = await self.client.get(path)
        match = _CSRF.search(page.text)
        assert match, page.text
        return match.group(1)

    async def sign_in(
        self, address: str | None = None, password: str | None = None
    ) -> httpx.Response:
        token = await self.csrf_of(SIGN_IN)
        return await self.client.post(
            SIGN_IN,
            data={
                "address": address or self.admin,
                "password": password or self.password,
                "csrf_token": token,
                "next": "/admin/roster",
            },
        )


@pytest.fixture
async def console(sqlite_services: Services, tmp_path: Path) -> AsyncIterator[Console]:
    admin, password = await sqlite_services.setup.seed_demo()
    app = create_app(sqlite_services, Settings(data_dir=tmp_path / "data"))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield Console(c, transport, admin, password)


def _set_cookie(response: httpx.Response, name: str) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(name + "=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


async def test_sign_in_sets_host_session_cookie(console: Console) -> None:
    form = await console.client.get(SIGN_IN)
    assert form.status_code == 200
    pre = _set_cookie(form, "__Host-mailgate_csrf")
    assert all(a in pre for a in ("Secure", "HttpOnly", "Path=/", "SameSite=lax"))
    response = await console.sign_in()
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/roster"
    cookie = _set_cookie(response, "__Host-mailgate_session")
    attributes = [a.strip() for a in cookie.split(";")]
    assert {"HttpOnly", "Path=/", "SameSite=lax", "Secure"} <= set(attributes)
    assert not any(a.lower().startswith("domain") for a in attributes)
    page = await console.client.get("/admin/roster")
    assert page.status_code == 200
    assert console.admin in page.text


async def test_new_session_id_at_every_sign_in(console: Console) -> None:
    """A session id the browser already holds (perhaps planted) is replaced and revoked."""
    await console.sign_in()
    first = console.client.cookies["__Host-mailgate_session"]
    async with httpx.AsyncClient(transport=console.transport, base_url=BASE_URL) as other:
        token = _CSRF.search((await other.get(SIGN_IN)).text)
        assert token
        other.cookies.set("__Host-mailgate_session", first)
        again = await other.post(
            SIGN_IN,
            data={
                "address": console.admin,
                "password": console.password,
                "csrf_token": token.group(1),
            },
        )
        assert again.status_code == 303
        second = _set_cookie(again, "__Host-mailgate_session").split(";")[0].split("=", 1)[1]
    assert second != first
    stale = await console.client.get("/admin/roster")
    assert stale.status_code == 303 and stale.headers["location"].startswith(SIGN_IN)


async def test_sign_in_failures_are_uniform(console: Console) -> None:
    wrong = await console.sign_in(password="not-the-password")
    unknown = await console.sign_in(address="nobody@example.test")
    malformed = await console.sign_in(address="nobody")
    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    assert wrong.text == unknown.text == malformed.text
    assert "__Host-mailgate_session" not in wrong.headers.get("set-cookie", "")
    assert "not correct" in wrong.text


async def test_posts_without_csrf_are_rejected(console: Console) -> None:
    await console.client.get(SIGN_IN)
    no_token = await console.client.post(
        SIGN_IN, data={"address": console.admin, "password": console.password}
    )
    assert no_token.status_code == 403
    forged = await console.client.post(
        SIGN_IN,
        data={"address": console.admin, "password": console.password, "csrf_token": "x" * 43},
    )
    assert forged.status_code == 403
    assert "__Host-mailgate_session" not in forged.headers.get("set-cookie", "")
    await console.sign_in()
    sign_out = await console.client.post("/admin/signout", data={})
    assert sign_out.status_code == 403
    assert (await console.client.get("/admin/roster")).status_code == 200


async def test_sign_out(console: Console) -> None:
    await console.sign_in()
    token = await console.csrf_of("/admin/roster")
    response = await console.client.post("/admin/signout", data={"csrf_token": token})
    assert response.status_code == 303
    assert (await console.client.get("/admin/roster")).status_code == 303


async def test_pages_need_sign_in_and_carry_security_headers(console: Console) -> None:
    response = await console.client.get("/admin/accounts?q=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/signin?next=%2Fadmin%2Faccounts%3Fq%3Dx"
    form = await console.client.get(SIGN_IN)
    assert form.headers["content-security-policy"].startswith("default-src 'self'")
    assert form.headers["x-frame-options"] == "DENY"
    assert form.headers["referrer-policy"] == "same-origin"
    assert form.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("accept", "expected", "html_lang"),
    [
        ("zh-CN,zh;q=0.9", ["花名册", "工号", "部门", "地区", "退出登录"], "zh-Hans"),
        ("zh-SG", ["花名册"], "zh-Hans"),
        ("zh-TW,zh;q=0.9,en;q=0.5", ["員工名冊", "員工編號", "部門", "地區", "登出"], "zh-Hant"),
        ("zh-HK", ["員工名冊"], "zh-Hant"),
        ("en-GB,en;q=0.8", ["Roster", "Employee ID", "Org unit", "Region", "Sign out"], "en"),
        ("de-DE", ["Roster"], "en"),
    ],
)
async def test_language_from_accept_language(
    console: Console, accept: str, expected: list[str], html_lang: str
) -> None:
    await console.sign_in()
    page = await console.client.get("/admin/roster", headers={"Accept-Language": accept})
    assert f'<html lang="{html_lang}">' in page.text
    for text in expected:
        assert text in page.text


async def test_language_switcher_is_remembered(console: Console) -> None:
    await console.sign_in()
    switch = await console.client.get("/admin/language/zh_Hant?next=/admin/accounts")
    assert switch.status_code == 303 and switch.headers["location"] == "/admin/accounts"
    assert "mailgate_lang=zh_Hant" in switch.headers["set-cookie"]
    for path in ("/admin/accounts", "/admin/organisations", "/admin/domains"):
        page = await console.client.get(path, headers={"Accept-Language": "en"})
        assert '<html lang="zh-Hant">' in page.text, path
    assert "帳號" in page.text
    evil = await console.client.get("/admin/language/en?next=//evil.test/")
    assert evil.headers["location"] == "/admin/"


async def test_roster_shows_chinese_names_units_regions(console: Console) -> None:
    await console.sign_in()
    page = await console.client.get("/admin/roster", headers={"Accept-Language": "zh-CN"})
    assert "E10001" in page.text and "王伟" in page.text
    assert "研发中心/平台部" in page.text and "北京" in page.text
    assert format_date(date(2018, 1, 15), "medium", locale="zh_Hans") in page.text
    assert "第 1–25 条，共 50 条" in page.text


async def test_roster_search_and_paging(console: Console) -> None:
    await console.sign_in()
    client = console.client
    page = await client.get("/admin/roster?limit=10&offset=40", headers={"Accept-Language": "en"})
    assert "Showing 41–50 of 50" in page.text
    assert 'rel="prev" href="/admin/roster?limit=10&amp;offset=30"' in page.text
    assert 'rel="next"' not in page.text
    rows = re.findall(r"<code>(E\d+)</code>", page.text)
    assert rows == [f"E{10041 + i}" for i in range(10)]
    found = await client.get("/admin/roster", params={"q": "王伟"})
    assert re.findall(r"<code>(E\d+)</code>", found.text) == ["E10001"]
    latin = await client.get("/admin/roster", params={"q": "zhang"})
    assert latin.text.count("<code>E") >= 1 and "E10001" not in latin.text
    none = await client.get("/admin/roster", params={"q": "不存在的人"})
    assert "Nothing matches your search." in none.text


async def test_other_pages_search_and_page(console: Console) -> None:
    await console.sign_in()
    client = console.client
    orgs = await client.get("/admin/organisations", params={"q": "example"})
    assert "Example Corp" in orgs.text and "IT 服务台" in orgs.text
    assert "Example Corp" not in (await client.get("/admin/organisations?q=zzz")).text
    domains = await client.get("/admin/domains", params={"q": "example"})
    assert "example.test" in domains.text
    accounts = await client.get("/admin/accounts", params={"q": "admin", "state": "active"})
    assert "admin@example.test" in accounts.text and "系统管理员" in accounts.text
    empty = await client.get("/admin/accounts", params={"state": "locked"})
    assert '<td class="strong">admin@example.test</td>' in accounts.text
    assert '<td class="strong">admin@example.test</td>' not in empty.text
    bad = await client.get("/admin/roster?org=nope", headers={"Accept-Language": "zh-TW"})
    assert bad.status_code == 404 and "找不到該物件" in bad.text
    invalid = await client.get("/admin/roster?offset=-1", headers={"Accept-Language": "zh-CN"})
    assert invalid.status_code == 400 and "无法理解该请求" in invalid.text


async def test_api_with_console_session_needs_csrf_header(console: Console) -> None:
    await console.sign_in()
    token = await console.csrf_of("/admin/roster")
    listed = await console.client.get("/api/v1/organisations")
    assert listed.status_code == 200 and listed.json()[0]["slug"] == "example"
    body = {"address": "new.hire@example.test"}
    refused = await console.client.post("/api/v1/accounts", json=body)
    assert refused.status_code == 403
    created = await console.client.post(
        "/api/v1/accounts", json=body, headers={"X-CSRF-Token": token}
    )
    assert created.status_code == 201, created.text
