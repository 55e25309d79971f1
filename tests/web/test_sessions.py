"""The portal's sign-in second step, the protected-account page, sudo mode, the sessions page
and the password page, over httpx against the real app (SQLite, a clock the tests move)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
from tests.conftest import settle_alerts
from tests.test_factors import SoftKey

from mailgate.domain.access import Actor, operator
from mailgate.domain.directory import RequiredAction
from mailgate.domain.notices import NoticeKind
from mailgate.services.authentication import AuthReason
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.services.factors import FactorConfig
from mailgate.services.identity import token_hash
from mailgate.settings import Settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import open_database
from mailgate.storage.migrate import upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.web.app import create_app
from mailgate.web.portal.sessions import device_parts

from .conftest import BASE_URL, FAST_HASHER, PASSWORD

SIGN_IN = "/admin/signin"
SECOND = "/signin/second-factor"
COOKIE = "__Host-mailgate_session"
USER = "li.na@example.test"
OTHER = "wang.fang@example.test"
NEW_PASSWORD = "舒服的 long passphrase for 2026 spring"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_HANDLE = re.compile(r'action="/account/sessions/([0-9a-f]+)/end"')


class MovableClock:
    """Real time plus an offset the test moves forward (TOTP codes follow it)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self.real = SystemClock()

    def now(self) -> datetime:
        return self.real.now() + self.offset

    def advance(self, **kw: float) -> None:
        self.offset += timedelta(**kw)


@dataclass(slots=True)
class Site:
    app: httpx.ASGITransport
    client: httpx.AsyncClient
    services: Services
    clock: MovableClock
    admin: str
    admin_password: str

    def browser(self) -> httpx.AsyncClient:
        """Another browser (its own cookies) on the same app."""
        return httpx.AsyncClient(transport=self.app, base_url=BASE_URL)

    async def csrf_of(self, path: str, client: httpx.AsyncClient | None = None) -> str:
        page = await (client or self.client).get(path)
        match = _CSRF.search(page.text)
        assert match, page.text
        return match.group(1)

    async def sign_in(
        self,
        address: str = USER,
        password: str = PASSWORD,
        client: httpx.AsyncClient | None = None,
        **headers: str,
    ) -> httpx.Response:
        c = client or self.client
        token = await self.csrf_of(SIGN_IN, c)
        return await c.post(
            SIGN_IN,
            data={"address": address, "password": password, "csrf_token": token},
            headers=headers,
        )

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, referer: str | None = None
    ) -> httpx.Response:
        token = await self.csrf_of("/account")
        headers = {"Referer": f"{BASE_URL}{referer}"} if referer else {}
        return await self.client.post(
            path, data={**(data or {}), "csrf_token": token}, headers=headers
        )

    async def account_id(self, address: str = USER) -> int:
        return (await self.services.identity.act_as(address)).account_id or 0


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
    admin, password = await services.setup.seed_demo()
    for address in (USER, OTHER):
        await services.accounts.create(
            operator("cli:test"), address, password=PASSWORD, skip_first_login=True
        )
    transport = httpx.ASGITransport(create_app(services, Settings(data_dir=tmp_path / "data")))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield Site(transport, client, services, clock, admin, password)
    await settle_alerts()
    await db.dispose()


async def enrol_totp(site: Site, address: str = USER) -> pyotp.TOTP:
    actor = await site.services.identity.act_as(address)
    enrolment = await site.services.factors.enrol_totp(actor, address, "Phone")
    totp = pyotp.TOTP(enrolment.secret)
    code = totp.at(site.clock.now() - timedelta(seconds=30))  # leaves the current step unused
    result = await site.services.factors.confirm_totp(actor, address, enrolment.factor_id, code)
    assert result.accepted
    return totp


def code_now(site: Site, totp: pyotp.TOTP) -> str:
    return totp.at(site.clock.now())


def wrong_code(site: Site, totp: pyotp.TOTP) -> str:
    now = site.clock.now()
    near = {totp.at(now + timedelta(seconds=30 * step)) for step in range(-21, 22)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in near)


def set_cookie(response: httpx.Response, name: str = COOKIE) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(name + "=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def cookie_value(response: httpx.Response) -> str:
    return set_cookie(response).split(";")[0].split("=", 1)[1]


def host_cookie_attributes(header: str) -> None:
    attributes = {a.strip() for a in header.split(";")}
    assert {"HttpOnly", "Path=/", "SameSite=lax", "Secure"} <= attributes
    assert not any(a.lower().startswith("domain") for a in attributes)


async def second_step(
    site: Site, code: str, client: httpx.AsyncClient | None = None, **headers: str
) -> httpx.Response:
    c = client or site.client
    token = await site.csrf_of(SECOND, c)
    return await c.post(
        SECOND, data={"code": code, "method": "code", "csrf_token": token}, headers=headers
    )


async def row_exists(site: Site, token: str) -> bool:
    async with site.services.identity.uow(write=False) as uow:
        return await uow.web_sessions.find(token_hash(token)) is not None


async def stale_sudo(site: Site) -> None:
    """Let sudo mode run out (the session itself stays alive)."""
    site.clock.advance(minutes=11)


# --- the second step at sign-in --------------------------------------------------------------


async def test_second_factor_sign_in_rotates_the_session_id(site: Site) -> None:
    totp = await enrol_totp(site)
    signed = await site.sign_in()
    assert signed.status_code == 303
    assert signed.headers["location"] == f"{SECOND}?next="
    host_cookie_attributes(set_cookie(signed))
    pending = cookie_value(signed)
    # The pending session opens nothing but the second step.
    for path in ("/account", "/account/security", "/admin/roster"):
        refused = await site.client.get(path)
        assert refused.status_code == 303 and refused.headers["location"].startswith(SIGN_IN)
    assert (await site.client.get("/api/v1/organisations")).status_code == 401

    page = await site.client.get(SECOND)
    assert page.status_code == 200 and "Two-step verification" in page.text
    assert USER in page.text and 'autocomplete="one-time-code"' in page.text
    no_csrf = await site.client.post(SECOND, data={"code": code_now(site, totp)})
    assert no_csrf.status_code == 403

    wrong = await second_step(site, wrong_code(site, totp))
    assert wrong.status_code == 401
    assert "The code is not correct." in wrong.text and "Attempts left: 4" in wrong.text
    skewed = await second_step(site, totp.at(site.clock.now() + timedelta(minutes=5)))
    assert "clock seems to be about 5 min ahead" in html.unescape(skewed.text)

    done = await second_step(site, code_now(site, totp))
    assert done.status_code == 303 and done.headers["location"] == "/account"
    header = set_cookie(done)
    host_cookie_attributes(header)
    full = cookie_value(done)
    assert full != pending
    assert not await row_exists(site, pending)
    assert (await site.client.get("/account")).status_code == 200
    security = await site.client.get("/account/security")
    assert "Wrong second-factor code" in security.text
    assert "Two-step verification passed" in security.text


async def test_pending_cookie_cannot_be_replayed_after_success(site: Site) -> None:
    totp = await enrol_totp(site)
    pending = cookie_value(await site.sign_in())
    await second_step(site, code_now(site, totp))
    async with site.browser() as thief:
        thief.cookies.set(COOKIE, pending)
        again = await thief.get(SECOND)
        assert again.status_code == 303
        assert again.headers["location"] == f"{SIGN_IN}?again=expired"
        assert (await thief.get("/account")).status_code == 303


async def test_five_wrong_codes_start_over(site: Site) -> None:
    totp = await enrol_totp(site)
    pending = cookie_value(await site.sign_in())
    for _ in range(4):
        assert (await second_step(site, wrong_code(site, totp))).status_code == 401
    last = await second_step(site, wrong_code(site, totp))
    assert last.status_code == 303
    assert last.headers["location"] == f"{SIGN_IN}?again=attempts"
    assert "Max-Age=0" in set_cookie(last) or "expires=" in set_cookie(last).lower()
    assert not await row_exists(site, pending)
    page = await site.client.get(last.headers["location"])
    assert "Too many wrong codes. Sign in again with your password." in page.text
    # The right code is no use now; the password starts a new attempt.
    site.client.cookies.set(COOKIE, pending)
    late = await site.client.post(SECOND, data={"code": code_now(site, totp), "csrf_token": "x"})
    assert late.status_code == 303 and "again=expired" in late.headers["location"]


async def test_pending_sign_in_expires_after_five_minutes(site: Site) -> None:
    totp = await enrol_totp(site)
    await site.sign_in()
    token = await site.csrf_of(SECOND)
    site.clock.advance(minutes=5, seconds=5)
    late = await site.client.post(SECOND, data={"code": code_now(site, totp), "csrf_token": token})
    assert late.status_code == 303 and late.headers["location"] == f"{SIGN_IN}?again=expired"
    page = await site.client.get(late.headers["location"])
    assert "The sign-in was not finished in time." in page.text


async def test_recovery_code_at_sign_in_and_next_is_kept(site: Site) -> None:
    await enrol_totp(site)
    actor = await site.services.identity.act_as(USER)
    codes = await site.services.factors.generate_recovery_codes(actor, USER)
    token = await site.csrf_of(SIGN_IN)
    signed = await site.client.post(
        SIGN_IN,
        data={
            "address": USER,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/account/app-passwords",
        },
    )
    assert signed.headers["location"] == f"{SECOND}?next=%2Faccount%2Fapp-passwords"
    page = await site.client.get(signed.headers["location"])
    assert "Enter one of your recovery codes instead." in page.text
    assert 'name="next" value="/account/app-passwords"' in page.text
    csrf = _CSRF.search(page.text)
    assert csrf
    done = await site.client.post(
        SECOND,
        data={
            "code": codes[3].upper(),
            "csrf_token": csrf.group(1),
            "next": "/account/app-passwords",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/account/app-passwords"


@pytest.mark.parametrize(
    ("accept", "heading", "refusal"),
    [
        ("zh-CN", "两步验证", "验证码不正确。请检查应用后重试。"),
        ("zh-TW", "兩步驟驗證", "驗證碼不正確。請檢查應用程式後重試。"),
        ("en", "Two-step verification", "The code is not correct. Check the app and try again."),
    ],
)
async def test_second_step_in_three_languages(
    site: Site, accept: str, heading: str, refusal: str
) -> None:
    totp = await enrol_totp(site)
    headers = {"Accept-Language": accept}
    await site.sign_in(**headers)
    page = await site.client.get(SECOND, headers=headers)
    assert f"<h1>{heading}</h1>" in page.text
    wrong = await second_step(site, wrong_code(site, totp), **headers)
    assert refusal in wrong.text


async def test_security_key_at_sign_in(site: Site) -> None:
    key = SoftKey("testserver", BASE_URL)
    actor = await site.services.identity.act_as(USER)
    options = await site.services.factors.webauthn_register_begin(actor, USER)
    await site.services.factors.webauthn_register_finish(actor, USER, key.register(options))
    await site.sign_in()
    page = await site.client.get(SECOND)
    assert 'data-webauthn="get"' in page.text and "/static/webauthn.js" in page.text
    assert 'name="code"' not in page.text  # no authenticator app, no recovery codes yet
    assert (await site.client.get("/static/webauthn.js")).status_code == 200
    csrf = _CSRF.search(page.text)
    assert csrf
    refused = await site.client.post(f"{SECOND}/webauthn")
    assert refused.status_code == 403
    challenge = await site.client.post(
        f"{SECOND}/webauthn", headers={"X-CSRF-Token": csrf.group(1)}
    )
    assert challenge.status_code == 200 and challenge.json()["rpId"] == "testserver"
    done = await site.client.post(
        SECOND,
        data={
            "method": "webauthn",
            "credential": key.assert_(challenge.text),
            "csrf_token": csrf.group(1),
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/account"


async def test_protected_account_needs_reset_or_it_desk(site: Site) -> None:
    async with site.services.identity.uow() as uow:
        await uow.account_security.set_requires_second_factor_on_web(
            await site.account_id(), True, site.clock.now()
        )
        await uow.commit()
    wrong = await site.sign_in(password="not the password at all")
    assert wrong.status_code == 401 and "This account is protected" not in wrong.text
    refused = await site.sign_in()
    assert refused.status_code == 403
    assert "This account is protected" in refused.text
    assert 'href="/reset"' in refused.text
    assert "it-help@example.test" in refused.text  # the organisation's IT desk
    assert not any(
        v.startswith(f"{COOKIE}=") and "Max-Age=0" not in v
        for v in refused.headers.get_list("set-cookie")
    )
    assert (await site.client.get("/account")).status_code == 303
    chinese = await site.sign_in(**{"Accept-Language": "zh-CN"})
    assert "此账号已受保护" in chinese.text and "重置密码" in chinese.text


# --- sudo mode ------------------------------------------------------------------------------


async def test_sudo_prompt_before_creating_an_app_password(site: Site) -> None:
    await site.sign_in()
    await stale_sudo(site)
    form = {"name": "Phone", "scopes": "imap"}
    asked = await site.post("/account/app-passwords", form, referer="/account/app-passwords")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/account/sudo?next=%2Faccount%2Fapp-passwords"
    assert await site.services.app_passwords.list(operator("t"), USER) == []
    # Without a (same-origin) Referer the prompt returns to /account.
    bare = await site.post("/account/app-passwords", form)
    assert bare.headers["location"] == "/account/sudo?next=%2Faccount"
    token = await site.csrf_of("/account")
    foreign = await site.client.post(
        "/account/app-passwords",
        data={**form, "csrf_token": token},
        headers={"Referer": "https://evil.example/account/app-passwords"},
    )
    assert foreign.headers["location"] == "/account/sudo?next=%2Faccount"

    prompt = await site.client.get(asked.headers["location"])
    assert prompt.status_code == 200 and "Confirm it is you" in prompt.text
    assert 'name="code"' not in prompt.text  # no second factor enrolled
    bad = await site.post("/account/sudo", {"password": "wrong", "next": "/account/app-passwords"})
    assert bad.status_code == 401 and "The password is not correct." in bad.text
    ok = await site.post("/account/sudo", {"password": PASSWORD, "next": "/account/app-passwords"})
    assert ok.status_code == 303 and ok.headers["location"] == "/account/app-passwords"
    created = await site.post("/account/app-passwords", form)
    assert created.status_code == 200 and 'id="app-password"' in created.text
    assert ("account", NoticeKind.APP_PASSWORD_CREATED) in site.services.notices.sent
    records, _ = await site.services.logins.search_logins(operator("t"), None, protocol="web")
    assert [r.reason for r in records[:2]] == ["ok", "bad_password"]  # recorded like sign-ins


async def test_every_credential_change_asks_for_sudo(site: Site) -> None:
    await site.services.accounts.create(
        operator("cli:test"), "zhao.lei@example.test", password=PASSWORD, skip_first_login=True
    )
    await site.sign_in("zhao.lei@example.test")
    await stale_sudo(site)
    for path in (
        "/account/security/totp",
        "/account/security/factors/1/remove",
        "/account/security/recovery-codes",
        "/account/security/webauthn",
        "/account/app-passwords",
        "/account/app-passwords/1/revoke",
        "/account/app-passwords/revoke-all",
    ):
        asked = await site.post(path, {"name": "x", "scopes": "imap"}, referer="/account/security")
        assert asked.status_code == 303, path
        assert asked.headers["location"] == "/account/sudo?next=%2Faccount%2Fsecurity", path
    page = await site.client.get("/account/security/webauthn")
    assert page.headers["location"] == "/account/sudo?next=%2Faccount%2Fsecurity%2Fwebauthn"
    token = await site.csrf_of("/account")
    options = await site.client.post(
        "/account/security/webauthn/options", headers={"X-CSRF-Token": token}
    )
    assert options.status_code == 403
    # A `next` that leaves the site is not followed.
    back = await site.post("/account/sudo", {"password": PASSWORD, "next": "https://evil.x/"})
    assert back.status_code == 303 and back.headers["location"] == "/account"
    away = await site.client.get("/account/sudo?next=//evil.example/x")
    assert away.status_code == 303 and away.headers["location"] == "/account"


async def test_sudo_with_a_second_factor_and_registering_a_key(site: Site) -> None:
    totp = await enrol_totp(site)
    await site.sign_in()
    await second_step(site, code_now(site, totp))
    await stale_sudo(site)
    prompt = await site.client.get("/account/sudo?next=/account/security/webauthn")
    assert 'name="code"' in prompt.text
    password_only = await site.post(
        "/account/sudo", {"password": PASSWORD, "next": "/account/security/webauthn"}
    )
    assert password_only.status_code == 401
    assert "Also confirm with your second factor." in password_only.text
    wrong = await site.post(
        "/account/sudo",
        {"password": PASSWORD, "code": wrong_code(site, totp), "next": "/account/security"},
    )
    assert wrong.status_code == 401 and "The code is not correct." in wrong.text
    ok = await site.post(
        "/account/sudo",
        {
            "password": PASSWORD,
            "code": code_now(site, totp),
            "next": "/account/security/webauthn",
        },
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/account/security/webauthn"

    page = await site.client.get("/account/security/webauthn")
    assert page.status_code == 200 and 'data-webauthn="create"' in page.text
    csrf = _CSRF.search(page.text)
    assert csrf
    options = await site.client.post(
        "/account/security/webauthn/options", headers={"X-CSRF-Token": csrf.group(1)}
    )
    assert options.status_code == 200
    key = SoftKey("testserver", BASE_URL)
    bad = await site.post("/account/security/webauthn", {"name": "Key", "credential": "{}"})
    assert bad.status_code == 422 and "could not be added" in bad.text
    added = await site.post(
        "/account/security/webauthn",
        {"name": "YubiKey 5", "credential": key.register(options.text)},
    )
    assert added.status_code == 200  # first recovery codes come with it
    assert len(re.findall(r"<li><code>([^<]+)</code></li>", added.text)) == 10
    security = await site.client.get("/account/security")
    assert "YubiKey 5" in security.text and "Security key" in security.text
    assert site.services.notices.sent[-1] == ("account", NoticeKind.SECOND_FACTOR_ADDED)

    renewed = await site.post("/account/security/recovery-codes")
    assert renewed.status_code == 200 and "New recovery codes" in renewed.text
    assert "Your previous recovery codes no longer work." in renewed.text
    assert site.services.notices.sent[-1] == ("account", NoticeKind.RECOVERY_CODES_REGENERATED)

    key_id = next(
        f.id
        for f in (await site.services.factors.list_factors(operator("t"), USER)).factors
        if f.name == "YubiKey 5"
    )
    removed = await site.post(f"/account/security/factors/{key_id}/remove")
    assert removed.status_code == 303
    assert site.services.notices.sent[-1] == ("account", NoticeKind.SECOND_FACTOR_REMOVED)


# --- sessions and devices -------------------------------------------------------------------


async def test_sessions_page_lists_and_ends_sessions(site: Site) -> None:
    chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari"
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Safari/604.1"
    signed = await site.sign_in(**{"User-Agent": chrome})
    mine = cookie_value(signed)
    async with site.browser() as phone:
        await site.sign_in(client=phone, **{"User-Agent": iphone})
        phone_cookie = phone.cookies[COOKIE]
        page = await site.client.get("/account/sessions")
        assert page.status_code == 200
        assert "Chrome on Windows" in page.text and "Safari on iOS" in page.text
        assert page.text.count("This device") == 1
        assert mine not in page.text and phone_cookie not in page.text
        handles = _HANDLE.findall(page.text)
        assert len(handles) == 2
        rows = await site.services.identity.list_sessions(
            await site.services.identity.session(mine, "") or pytest.fail("no session")
        )
        other = next(r.handle for r in rows if not r.current)

        no_csrf = await site.client.post(f"/account/sessions/{other}/end")
        assert no_csrf.status_code == 403
        ended = await site.post(f"/account/sessions/{other}/end")
        assert ended.status_code == 303 and ended.headers["location"] == "/account/sessions?ended=1"
        assert "The session was ended." in (await site.client.get(ended.headers["location"])).text
        out = await phone.get("/account")
        assert out.status_code == 303 and out.headers["location"].startswith(SIGN_IN)
        assert not await row_exists(site, phone_cookie)

    # Someone else's handle, or no handle at all, ends nothing.
    async with site.browser() as theirs:
        await site.sign_in(OTHER, client=theirs)
        their_rows = await site.services.identity.list_sessions(
            await site.services.identity.session(theirs.cookies[COOKIE], "")
            or pytest.fail("no session")
        )
        refused = await site.post(f"/account/sessions/{their_rows[0].handle}/end")
        assert refused.status_code == 404
        assert (await theirs.get("/account")).status_code == 200
        assert (await site.post("/account/sessions/not-a-handle/end")).status_code == 404

    async with site.browser() as laptop, site.browser() as tablet:
        await site.sign_in(client=laptop)
        await site.sign_in(client=tablet)
        others = await site.post("/account/sessions/end-others")
        assert others.headers["location"] == "/account/sessions?ended=others"
        assert (await laptop.get("/account")).status_code == 303
        assert (await tablet.get("/account")).status_code == 303
    me = _HANDLE.findall((await site.client.get("/account/sessions")).text)
    assert len(me) == 1
    bye = await site.post(f"/account/sessions/{me[0]}/end")
    assert bye.status_code == 303 and bye.headers["location"] == SIGN_IN
    assert not await row_exists(site, mine)


async def test_sessions_page_in_chinese_and_expired_rows_vanish(site: Site) -> None:
    async with site.browser() as old:
        await site.sign_in(client=old)
        site.clock.advance(minutes=25)
        await site.sign_in()
        site.clock.advance(minutes=10)  # `old` idle for 35 minutes, this one for 10
        page = await site.client.get("/account/sessions", headers={"Accept-Language": "zh-TW"})
        assert "工作階段與裝置" in page.text and "本裝置" in page.text
        assert len(_HANDLE.findall(page.text)) == 1
        assert not await row_exists(site, old.cookies[COOKIE])


def test_device_summary_recognises_common_browsers() -> None:
    assert device_parts("Mozilla/5.0 (Windows NT 10.0) Chrome/131 Safari/537 Edg/131") == (
        "Edge",
        "Windows",
    )
    assert device_parts("Mozilla/5.0 (Linux; Android 14) Chrome/131 Mobile Safari") == (
        "Chrome",
        "Android",
    )
    assert device_parts("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Version/17 Safari") == (
        "Safari",
        "macOS",
    )
    assert device_parts("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0") == (
        "Firefox",
        "Linux",
    )
    assert device_parts("Mozilla/5.0 (iPhone) MicroMessenger/8.0") == ("WeChat", "iOS")
    assert device_parts("") == ("", "")


# --- password change ------------------------------------------------------------------------


async def test_password_change_with_the_current_password(site: Site) -> None:
    signed = await site.sign_in()
    before = cookie_value(signed)
    await stale_sudo(site)
    async with site.browser() as phone:
        await site.sign_in(client=phone)
        form = await site.client.get("/account/password")
        assert 'name="current_password"' in form.text
        missing = await site.post(
            "/account/password", {"new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
        )
        assert missing.status_code == 422 and "Enter your current password." in missing.text
        differ = await site.post(
            "/account/password",
            {
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "repeat_password": NEW_PASSWORD + "x",
            },
        )
        assert (
            differ.status_code == 422 and "The two new passwords are not the same." in differ.text
        )
        wrong = await site.post(
            "/account/password",
            {
                "current_password": "not it",
                "new_password": NEW_PASSWORD,
                "repeat_password": NEW_PASSWORD,
            },
        )
        assert wrong.status_code == 422 and "Your current password is not correct." in wrong.text

        token = await site.csrf_of("/account")
        short = await site.client.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "new_password": "woaini1314woaini",
                "repeat_password": "woaini1314woaini",
                "csrf_token": token,
            },
            headers={"Accept-Language": "zh-CN"},
        )
        assert short.status_code == 422
        problems = re.findall(r"<li>([^<]+)</li>", short.text.split('id="password-problems"')[1])
        assert problems and all(re.search(r"[\u4e00-\u9fff]", p) for p in problems)

        changed = await site.post(
            "/account/password",
            {
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "repeat_password": NEW_PASSWORD,
            },
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/account/password?changed=1"
        host_cookie_attributes(set_cookie(changed))
        after = cookie_value(changed)
        assert after != before and not await row_exists(site, before)
        notice = await site.client.get(changed.headers["location"])
        assert "Your password was changed. You were signed out everywhere else." in notice.text
        assert (await phone.get("/account")).status_code == 303  # the other session ended
    async with site.browser() as fresh:
        assert (await site.sign_in(client=fresh)).status_code == 401
        assert (await site.sign_in(password=NEW_PASSWORD, client=fresh)).status_code == 303


async def test_password_change_in_sudo_mode_needs_no_current_password(site: Site) -> None:
    await site.sign_in()
    form = await site.client.get("/account/password")
    assert 'name="current_password"' not in form.text
    assert "You confirmed your password a moment ago" in form.text
    changed = await site.post(
        "/account/password", {"new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
    )
    assert changed.status_code == 303
    decision = await site.services.authentication.authenticate(USER, NEW_PASSWORD, "imap", "::1")
    assert decision.allowed
    nav = await site.client.get("/account")
    assert 'href="/account/password"' in nav.text and 'href="/account/sessions"' in nav.text


# --- sessions end on the server ---------------------------------------------------------------


async def test_sign_out_and_idle_expiry_end_the_session_on_the_server(site: Site) -> None:
    token = cookie_value(await site.sign_in())
    csrf = await site.csrf_of("/account")
    out = await site.client.post("/admin/signout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert not await row_exists(site, token)
    async with site.browser() as replay:
        replay.cookies.set(COOKIE, token)
        assert (await replay.get("/account")).status_code == 303

    idle = cookie_value(await site.sign_in())
    site.clock.advance(minutes=31)
    async with site.browser() as replay:
        replay.cookies.set(COOKIE, idle)
        gone = await replay.get("/account")
        assert gone.status_code == 303 and gone.headers["location"].startswith(SIGN_IN)
    assert not await row_exists(site, idle)


async def test_signing_in_again_drops_an_unfinished_sign_in(site: Site) -> None:
    await enrol_totp(site)
    first = cookie_value(await site.sign_in())
    second = cookie_value(await site.sign_in())
    assert first != second
    assert not await row_exists(site, first) and await row_exists(site, second)


# --- the API refuses accounts that owe first-login steps --------------------------------------


async def test_api_token_of_an_account_owing_first_login_steps_is_refused(site: Site) -> None:
    actor: Actor = await site.services.identity.act_as(site.admin)
    token = await site.services.identity.create_api_token(actor, site.admin, "ci")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await site.client.get("/api/v1/organisations", headers=headers)).status_code == 200
    async with site.services.identity.uow() as uow:
        account = await uow.accounts.get(actor.account_id or 0)
        assert account is not None
        account.required_actions = [RequiredAction.SET_PASSWORD]
        account.skipped_first_login = False
        await uow.accounts.update(account)
        await uow.commit()
    refused = await site.client.get("/api/v1/organisations", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "authentication_failed"


# --- a demanded new password ("password_update" restricted session) -------------------------
# After the old password (and the second factor) the person can only choose a new one; mail and
# the API refuse until then.

REQUIRED = "/account/password/required"


async def _force(site: Site) -> None:
    changed = await site.services.account_admin.force_password_change(
        operator("cli:test"), USER, "suspicious sign-ins"
    )
    assert changed


async def test_forced_password_change_allows_only_the_new_password_page(site: Site) -> None:
    await _force(site)
    refused = await site.services.authentication.authenticate(USER, PASSWORD, "imap", "::1")
    assert not refused.allowed and refused.reason is AuthReason.PASSWORD_UPDATE_REQUIRED
    wrong = await site.services.authentication.authenticate(USER, "nope", "imap", "::1")
    assert wrong.reason is AuthReason.BAD_CREDENTIALS  # only the right password learns more

    signed = await site.sign_in()
    assert signed.status_code == 303 and signed.headers["location"] == REQUIRED
    for path in ("/account", "/account/security", "/account/app-passwords"):
        other = await site.client.get(path)
        assert other.status_code == 303 and other.headers["location"].startswith("/admin/signin")
    page = await site.client.get(REQUIRED)
    assert page.status_code == 200 and USER in page.text

    token = await site.csrf_of(REQUIRED)
    short = await site.client.post(
        REQUIRED,
        data={"new_password": "too short", "repeat_password": "too short", "csrf_token": token},
    )
    assert short.status_code == 422 and "15" in short.text
    no_csrf = await site.client.post(
        REQUIRED, data={"new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD}
    )
    assert no_csrf.status_code == 403
    restricted_cookie = cookie_value(signed)
    done = await site.client.post(
        REQUIRED,
        data={"new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD, "csrf_token": token},
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/account")
    assert cookie_value(done) != restricted_cookie  # a new session id for the full session
    assert (await site.client.get("/account")).status_code == 200
    ok = await site.services.authentication.authenticate(USER, NEW_PASSWORD, "imap", "::1")
    assert ok.allowed
    old = await site.services.authentication.authenticate(USER, PASSWORD, "imap", "::1")
    assert not old.allowed
    # The errand is done: the page sends a full session away.
    assert (await site.client.get(REQUIRED)).status_code == 303


async def test_second_factor_comes_before_the_new_password(site: Site) -> None:
    totp = await enrol_totp(site)
    await _force(site)
    signed = await site.sign_in()
    assert signed.headers["location"].startswith(SECOND)
    assert (await site.client.get(REQUIRED)).status_code == 303  # not before the factor
    passed = await second_step(site, code_now(site, totp))
    assert passed.status_code == 303 and passed.headers["location"] == REQUIRED
    assert (await site.client.get(REQUIRED)).status_code == 200


async def test_an_api_token_stops_working_while_a_new_password_is_owed(site: Site) -> None:
    actor = await site.services.identity.act_as(USER)
    token = await site.services.identity.create_api_token(actor, USER, "script")
    headers = {"Authorization": f"Bearer {token}"}
    path = "/api/v1/organisations"
    assert (await site.client.get(path, headers=headers)).status_code == 200
    await _force(site)
    assert (await site.client.get(path, headers=headers)).status_code == 401
