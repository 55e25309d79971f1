"""Sign-in with a second factor, sudo mode, sessions and the password page in a real browser:
the app under uvicorn on a loopback port, Debian's Chromium driven by Playwright.

- three people with an authenticator app sign in, one per language, typing the password and
  then the code pyotp computes; the session cookie changes at the second step;
- a person whose sudo mode has run out creates an app password: the browser goes through the
  password prompt and back to the form;
- the same person ends the session of another browser and changes the password;
- a person adds a security key (Chromium's virtual authenticator) and signs in with it, which
  runs static/webauthn.js both ways. WebAuthn needs a host name, so that server is reached as
  http://localhost:PORT with the relying party configured to match.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from mailgate.domain.access import operator
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.services.factors import FactorConfig
from mailgate.settings import Settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database, open_database
from mailgate.storage.migrate import upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.web.app import create_app

from .conftest import FAST_HASHER, PASSWORD
from .live import CHROMIUM_ARGS, LiveServer, _Server
from .live import live_server as start_live_server

pytestmark = pytest.mark.browser

USER = "li.na@example.test"
NEW_PASSWORD = "a calm lake under 2026 spring rain"
COOKIE = "__Host-mailgate_session"
# (address, browser locale, second-step heading, account heading)
TOTP_PEOPLE = [
    ("zhang.wei@example.test", "zh-CN", "两步验证", "我的账号"),
    ("chen.jing@example.test", "zh-TW", "兩步驟驗證", "我的帳號"),
    ("amy.lin@example.test", "en-US", "Two-step verification", "My account"),
]


@dataclass(slots=True)
class Seeded:
    secrets: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def seeded() -> Seeded:
    return Seeded()


@pytest.fixture
def live_server(tmp_path: Path, seeded: Seeded) -> Iterator[LiveServer]:
    async def seed(services: Services) -> None:
        root = operator("cli:test")
        await services.accounts.create(root, USER, password=PASSWORD, skip_first_login=True)
        for address, *_ in TOTP_PEOPLE:
            await services.accounts.create(root, address, password=PASSWORD, skip_first_login=True)
            actor = await services.identity.act_as(address)
            enrolment = await services.factors.enrol_totp(actor, address, "Phone")
            # Confirmed with the previous step's code: the current one stays fresh for sign-in.
            code = pyotp.TOTP(enrolment.secret).at(
                services.identity.clock.now() - timedelta(seconds=30)
            )
            assert (
                await services.factors.confirm_totp(actor, address, enrolment.factor_id, code)
            ).accepted
            seeded.secrets[address] = enrolment.secret

    with start_live_server(tmp_path, seed) as server:
        yield server


def launch(playwright: object) -> Browser:
    return playwright.chromium.launch(  # type: ignore[attr-defined, no-any-return]
        executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
    )


def session_cookie(context: BrowserContext) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == COOKIE)


def sign_in(page: Page, url: str, address: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/account")
    page.fill("input[name=address]", address)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def end_sudo(tmp_path: Path) -> None:
    """Sudo mode ran out (as it does ten minutes after the last password proof)."""
    with sqlite3.connect(tmp_path / "mailgate.db") as db:
        db.execute("UPDATE web_sessions SET reauth_at = NULL")


def test_sign_in_with_password_and_authenticator_code_in_three_languages(
    live_server: LiveServer, seeded: Seeded, tmp_path: Path
) -> None:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for address, locale, second_heading, account_heading in TOTP_PEOPLE:
                context = browser.new_context(
                    locale=locale, viewport={"width": 1280, "height": 860}
                )
                page = context.new_page()
                sign_in(page, live_server.url, address)
                page.wait_for_url("**/signin/second-factor**")
                expect(page.locator("h1")).to_have_text(second_heading)
                page.screenshot(path=tmp_path / f"second-factor-{locale}.png")
                pending = session_cookie(context)
                page.goto(f"{live_server.url}/account/security")  # nothing else opens
                page.wait_for_url("**/admin/signin**")
                page.go_back()
                page.wait_for_url("**/signin/second-factor**")
                page.fill("input[name=code]", pyotp.TOTP(seeded.secrets[address]).now())
                page.click("#code-form button[type=submit]")
                page.wait_for_url("**/account")
                expect(page.locator("h1")).to_have_text(account_heading)
                assert session_cookie(context) != pending
                page.screenshot(path=tmp_path / f"signed-in-{locale}.png", full_page=True)
                context.close()
        finally:
            browser.close()


def test_sudo_prompt_sessions_and_password_change(live_server: LiveServer, tmp_path: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            laptop = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
            page = laptop.new_page()
            sign_in(page, live_server.url, USER)
            page.wait_for_url("**/account")

            # Sudo mode ran out: creating an app password asks for the password first.
            end_sudo(tmp_path)
            page.goto(f"{live_server.url}/account/app-passwords")
            page.fill("input[name=name]", "Thunderbird")
            page.click("form.card button[type=submit]")
            page.wait_for_url("**/account/sudo?next=%2Faccount%2Fapp-passwords")
            expect(page.locator("h1")).to_have_text("Confirm it is you")
            page.screenshot(path=tmp_path / "sudo.png")
            page.fill("input[name=password]", "not my password")
            page.click("#sudo-form button[type=submit]")
            expect(page.locator("[role=alert]")).to_have_text("The password is not correct.")
            page.fill("input[name=password]", PASSWORD)
            page.click("#sudo-form button[type=submit]")
            page.wait_for_url("**/account/app-passwords")
            page.fill("input[name=name]", "Thunderbird")
            page.click("form.card button[type=submit]")
            expect(page.locator("h1")).to_have_text("App password created")

            # A second browser signs in; the first one ends that session.
            phone = browser.new_context(locale="zh-CN")
            other = phone.new_page()
            sign_in(other, live_server.url, USER)
            other.wait_for_url("**/account")
            page.goto(f"{live_server.url}/account/sessions")
            rows = page.locator("#sessions tbody tr")
            expect(rows).to_have_count(2)
            page.screenshot(path=tmp_path / "sessions.png", full_page=True)
            expect(page.locator("#sessions tbody tr.current")).to_contain_text("This device")
            page.locator("#sessions tbody tr:not(.current) button").click()
            expect(page.locator("[role=status]")).to_have_text("The session was ended.")
            expect(rows).to_have_count(1)
            other.reload()
            other.wait_for_url("**/admin/signin**")
            expect(other.locator("h1")).to_have_text("登录 Mailgate")

            # The password, with the current one (sudo mode ran out again).
            end_sudo(tmp_path)
            before = session_cookie(laptop)
            page.click("nav.sidebar a[href='/account/password']")
            page.wait_for_url("**/account/password")
            page.fill("input[name=current_password]", PASSWORD)
            page.fill("input[name=new_password]", "short")
            page.fill("input[name=repeat_password]", "short")
            page.click("#password-form button[type=submit]")
            expect(page.locator("#password-problems li").first).to_be_visible()
            page.fill("input[name=current_password]", PASSWORD)
            page.fill("input[name=new_password]", NEW_PASSWORD)
            page.fill("input[name=repeat_password]", NEW_PASSWORD)
            page.click("#password-form button[type=submit]")
            expect(page.locator("[role=status]")).to_have_text(
                "Your password was changed. You were signed out everywhere else."
            )
            assert session_cookie(laptop) != before
            page.screenshot(path=tmp_path / "password-changed.png", full_page=True)

            page.click("button:has-text('Sign out')")
            page.wait_for_url("**/admin/signin")
            sign_in(page, live_server.url, USER, NEW_PASSWORD)
            page.wait_for_url("**/account")
            expect(page.locator("h1")).to_have_text("My account")
        finally:
            browser.close()


@contextmanager
def localhost_server(tmp_path: Path) -> Iterator[str]:
    """The app on http://localhost:PORT with WebAuthn's relying party set to that origin; the
    port is bound first so the origin is known before the services are built."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    origin = f"http://localhost:{sock.getsockname()[1]}"
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'webauthn.db'}"

    def services(db_pool: int) -> tuple[Services, Database]:
        db = open_database(db_url, pool_size=db_pool)
        built = Services.build(
            SqlUnitOfWorkFactory(db),
            SystemClock(),
            FAST_HASHER,
            FileBlobStore(tmp_path / "blobs"),
            factors=FactorConfig(rp_id="localhost", origins=(origin,), secret_key=b"w" * 32),
        )
        return built, db

    async def prepare() -> None:
        built, db = services(2)
        try:
            await upgrade(db)
            await built.setup.seed_demo()
            await built.accounts.create(
                operator("cli:test"), USER, password=PASSWORD, skip_first_login=True
            )
        finally:
            await db.dispose()

    asyncio.run(prepare())
    ready = threading.Event()
    holder: dict[str, _Server] = {}

    async def serve() -> None:
        built, db = services(5)
        app = create_app(built, Settings(data_dir=tmp_path / "data"))
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        server = holder["server"] = _Server(config, ready)
        try:
            await server.serve(sockets=[sock])
        finally:
            await db.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(timeout=30), "uvicorn did not start"
    try:
        yield origin
    finally:
        holder["server"].should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_add_a_security_key_and_sign_in_with_it(tmp_path: Path) -> None:
    with localhost_server(tmp_path) as origin, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(locale="en-US")
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            cdp.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "usb",
                        "hasResidentKey": False,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                        "automaticPresenceSimulation": True,
                    }
                },
            )
            sign_in(page, origin, USER)
            page.wait_for_url("**/account")
            page.goto(f"{origin}/account/security")
            page.click("a:has-text('Add security key')")
            page.wait_for_url("**/account/security/webauthn")
            page.fill("input[name=name]", "Desk key")
            page.click("button[data-webauthn=create]")
            expect(page.locator("h1")).to_have_text("The security key was added.")
            expect(page.locator("ul.recovery-codes li")).to_have_count(10)

            page.click("button:has-text('Sign out')")
            page.wait_for_url("**/admin/signin")
            sign_in(page, origin, USER)
            page.wait_for_url("**/signin/second-factor**")
            expect(page.locator("h1")).to_have_text("Two-step verification")
            page.click("button[data-webauthn=get]")
            page.wait_for_url("**/account")
            expect(page.locator("h1")).to_have_text("My account")
            page.goto(f"{origin}/account/security")
            expect(page.locator("table").first).to_contain_text("Desk key")
        finally:
            browser.close()
