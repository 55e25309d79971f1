"""The user area /account: any active account signs in; app passwords, TOTP enrolment, the
security page, CSRF and the three languages. The admin console stays for role holders."""

from __future__ import annotations

import html
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest

from mailgate.domain.access import operator
from mailgate.services.authentication import AuthReason
from mailgate.services.container import Services
from mailgate.settings import Settings
from mailgate.web.app import create_app
from mailgate.web.portal.account import safe_qr_svg

from .conftest import BASE_URL, PASSWORD

SIGN_IN = "/admin/signin"
USER = "li.na@example.test"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_APP_PASSWORD = re.compile(r'<code class="secret" id="app-password">([^<]+)</code>')
_SECRET = re.compile(r'<code class="secret">([A-Z2-7]+)</code>')
_FACTOR = re.compile(r'name="factor_id" value="(\d+)"')


@dataclass(slots=True)
class Portal:
    client: httpx.AsyncClient
    services: Services
    admin: str
    admin_password: str

    async def csrf_of(self, path: str) -> str:
        page = await self.client.get(path)
        match = _CSRF.search(page.text)
        assert match, page.text
        return match.group(1)

    async def sign_in(self, address: str = USER, password: str = PASSWORD) -> httpx.Response:
        token = await self.csrf_of(SIGN_IN)
        return await self.client.post(
            SIGN_IN, data={"address": address, "password": password, "csrf_token": token}
        )

    async def post(
        self, path: str, data: dict[str, str | list[str]] | None = None
    ) -> httpx.Response:
        token = await self.csrf_of("/account")
        return await self.client.post(path, data={**(data or {}), "csrf_token": token})


@pytest.fixture
async def portal(sqlite_services: Services, tmp_path: Path) -> AsyncIterator[Portal]:
    admin, password = await sqlite_services.setup.seed_demo()
    await sqlite_services.accounts.create(
        operator("cli:test"), USER, password=PASSWORD, skip_first_login=True
    )
    app = create_app(sqlite_services, Settings(data_dir=tmp_path / "data"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        yield Portal(c, sqlite_services, admin, password)


async def imap(services: Services, password: str) -> AuthReason:
    decision = await services.authentication.authenticate(USER, password, "imap", "192.0.2.7")
    return decision.reason


async def test_user_without_roles_signs_in_to_account_not_admin(portal: Portal) -> None:
    signed_in = await portal.sign_in()
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/account"
    page = await portal.client.get("/account")
    assert page.status_code == 200
    assert USER in page.text and 'href="/account/app-passwords"' in page.text
    assert 'href="/admin/"' not in page.text  # no console link for non-admins
    for path in ("/admin/roster", "/admin/accounts", "/admin/organisations", "/admin/domains"):
        refused = await portal.client.get(path)
        assert refused.status_code == 403, path
        assert "You do not have permission to do this." in refused.text
    assert (await portal.client.get("/api/v1/organisations")).status_code in (200, 403)
    home = await portal.client.get("/admin/")
    assert home.status_code == 303 and home.headers["location"] == "/account"


async def test_next_into_the_console_is_ignored_for_non_admins(portal: Portal) -> None:
    token = await portal.csrf_of(SIGN_IN)
    response = await portal.client.post(
        SIGN_IN,
        data={
            "address": USER,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/admin/roster",
        },
    )
    assert response.headers["location"] == "/account"


async def test_admin_lands_in_console_and_also_has_account(portal: Portal) -> None:
    signed_in = await portal.sign_in(portal.admin, portal.admin_password)
    assert signed_in.headers["location"] == "/admin/"
    assert (await portal.client.get("/admin/roster")).status_code == 200
    page = await portal.client.get("/account")
    assert page.status_code == 200 and portal.admin in page.text
    assert 'href="/admin/"' in page.text


async def test_account_pages_need_sign_in(portal: Portal) -> None:
    for path in ("/account", "/account/security", "/account/app-passwords"):
        response = await portal.client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith(f"{SIGN_IN}?next=%2Faccount")


async def test_wrong_password_still_refused(portal: Portal) -> None:
    response = await portal.sign_in(password="not the password at all")
    assert response.status_code == 401


async def test_app_password_shown_once_listed_revoked(portal: Portal) -> None:
    await portal.sign_in()
    created = await portal.post(
        "/account/app-passwords", {"name": "Phone", "scopes": ["imap", "smtp"]}
    )
    assert created.status_code == 200, created.text
    match = _APP_PASSWORD.search(created.text)
    assert match
    secret = match.group(1)
    listed = await portal.client.get("/account/app-passwords")
    assert "Phone" in listed.text and "IMAP" in listed.text
    assert secret not in listed.text
    assert secret.replace("-", "") not in listed.text.replace("-", "")
    assert await imap(portal.services, secret) is AuthReason.OK
    pop = await portal.services.authentication.authenticate(USER, secret, "pop3", "192.0.2.7")
    assert not pop.allowed  # out of scope
    again = await portal.client.get("/account/app-passwords")
    assert "192.0.2.7" in again.text  # last used IP

    [row] = await portal.services.app_passwords.list(operator("t"), USER)
    revoked = await portal.post(f"/account/app-passwords/{row.id}/revoke")
    assert revoked.status_code == 303
    after = await portal.client.get(revoked.headers["location"])
    assert "The app password was revoked." in after.text
    assert "Phone</td>" not in after.text
    assert await imap(portal.services, secret) is not AuthReason.OK


async def test_revoke_all_and_form_errors(portal: Portal) -> None:
    await portal.sign_in()
    for name in ("Laptop", "Tablet"):
        ok = await portal.post("/account/app-passwords", {"name": name, "scopes": ["pop3"]})
        assert ok.status_code == 200
    duplicate = await portal.post("/account/app-passwords", {"name": "laptop", "scopes": ["pop3"]})
    assert duplicate.status_code == 422 and "Revoke one first." in duplicate.text
    no_scope = await portal.post("/account/app-passwords", {"name": "Watch"})
    assert no_scope.status_code == 422 and "Choose at least one" in no_scope.text
    past = await portal.post(
        "/account/app-passwords",
        {"name": "Old", "scopes": ["imap"], "expires_on": "2001-01-01"},
    )
    assert past.status_code == 422 and "in the past" in past.text
    dated = await portal.post(
        "/account/app-passwords",
        {"name": "Loaner", "scopes": ["imap"], "expires_on": "2099-12-31"},
    )
    assert dated.status_code == 200
    listed = await portal.client.get("/account/app-passwords")
    assert "2099" in listed.text
    gone = await portal.post("/account/app-passwords/revoke-all")
    assert gone.status_code == 303
    empty = await portal.client.get(gone.headers["location"])
    assert "All app passwords were revoked." in empty.text
    assert await portal.services.app_passwords.list(operator("t"), USER) == []


async def test_totp_enrolment_via_pages(portal: Portal) -> None:
    await portal.sign_in()
    security = await portal.client.get("/account/security")
    assert "No second factor yet." in security.text
    assert "Web" in security.text and "Signed in" in security.text  # our own sign-in
    started = await portal.post("/account/security/totp")
    assert started.status_code == 200
    assert "<svg" in started.text and "<script" not in started.text
    secret_match, factor_match = _SECRET.search(started.text), _FACTOR.search(started.text)
    assert secret_match and factor_match
    totp, factor_id = pyotp.TOTP(secret_match.group(1)), factor_match.group(1)

    skewed = await portal.post(
        "/account/security/totp/confirm",
        {"factor_id": factor_id, "code": totp.at(time.time() + 300)},
    )
    assert skewed.status_code == 422
    assert "clock seems to be about 5 min ahead" in html.unescape(skewed.text)
    # A code valid at no step within ten minutes either side: plainly wrong, not skewed.
    near = {totp.at(time.time() + 30 * step) for step in range(-21, 22)}
    bad = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in near)
    wrong = await portal.post(
        "/account/security/totp/confirm", {"factor_id": factor_id, "code": bad}
    )
    assert wrong.status_code == 422 and "not correct" in wrong.text

    confirmed = await portal.post(
        "/account/security/totp/confirm", {"factor_id": factor_id, "code": totp.now()}
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = re.findall(r"<li><code>([^<]+)</code></li>", confirmed.text)
    assert len(codes) == 10
    security = await portal.client.get("/account/security")
    assert "Authenticator app" in security.text and "Recovery codes left: 10" in security.text
    assert codes[0] not in security.text

    # With a second factor, mail clients need an app password.
    assert await imap(portal.services, PASSWORD) is AuthReason.APP_PASSWORD_REQUIRED
    created = await portal.post("/account/app-passwords", {"name": "Mail", "scopes": ["imap"]})
    match = _APP_PASSWORD.search(created.text)
    assert match
    assert await imap(portal.services, match.group(1)) is AuthReason.OK

    overview = await portal.services.factors.list_factors(operator("t"), USER)
    [factor] = overview.factors
    removed = await portal.post(f"/account/security/factors/{factor.id}/remove")
    assert removed.status_code == 303
    page = await portal.client.get(removed.headers["location"])
    assert "The second factor was removed." in page.text
    assert await imap(portal.services, PASSWORD) is AuthReason.OK


async def test_posts_without_csrf_are_refused(portal: Portal) -> None:
    await portal.sign_in()
    for path, data in (
        ("/account/app-passwords", {"name": "Phone", "scopes": "imap"}),
        ("/account/app-passwords/revoke-all", {}),
        ("/account/security/totp", {}),
        ("/account/security/totp/confirm", {"factor_id": "1", "code": "123456"}),
        ("/account/security/factors/1/remove", {}),
    ):
        missing = await portal.client.post(path, data=data)
        assert missing.status_code == 403, path
        forged = await portal.client.post(path, data={**data, "csrf_token": "x" * 43})
        assert forged.status_code == 403, path
    assert await portal.services.app_passwords.list(operator("t"), USER) == []


@pytest.mark.parametrize(
    ("accept", "expected", "html_lang"),
    [
        (
            "zh-CN",
            ["我的账号", "账号安全", "客户端专用密码", "最近登录", "添加身份验证器应用"],
            "zh-Hans",
        ),
        (
            "zh-TW",
            ["我的帳號", "帳號安全", "用戶端專用密碼", "最近登入", "新增驗證器應用程式"],
            "zh-Hant",
        ),
        (
            "en",
            ["My account", "Security", "App passwords", "Recent sign-ins", "Add authenticator app"],
            "en",
        ),
    ],
)
async def test_pages_in_three_languages(
    portal: Portal, accept: str, expected: list[str], html_lang: str
) -> None:
    await portal.sign_in()
    headers = {"Accept-Language": accept}
    text = ""
    for path in ("/account", "/account/security", "/account/app-passwords"):
        page = await portal.client.get(path, headers=headers)
        assert page.status_code == 200
        assert f'<html lang="{html_lang}">' in page.text
        text += page.text
    for word in expected:
        assert word in text, word


def test_qr_sanitiser_accepts_segno_and_refuses_anything_else() -> None:
    import segno

    svg = segno.make("otpauth://totp/x?secret=AAAA", error="m").svg_inline(scale=4)
    assert safe_qr_svg(svg) is not None
    assert safe_qr_svg("<svg><script>alert(1)</script></svg>") is None
    assert safe_qr_svg('<svg onload="alert(1)"></svg>') is None
    assert safe_qr_svg('<svg><a href="javascript:x"></a></svg>') is None
    assert safe_qr_svg("<svg>text</svg>") is None
