"""The console in a real browser: the app under uvicorn on an ephemeral loopback port, Debian's
Chromium driven by Playwright. Sign in with the demo's admin password, open the roster, switch
between the three languages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from .live import CHROMIUM_ARGS, LiveServer
from .live import live_server as start_live_server

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with start_live_server(tmp_path) as server:
        yield server


def test_sign_in_and_read_the_roster_in_three_languages(
    live_server: LiveServer, tmp_path: Path
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(locale="en-US", viewport={"width": 1360, "height": 900})
            page = context.new_page()
            page.goto(f"{live_server.url}/admin/roster")
            expect(page.locator("h1")).to_have_text("Sign in to Mailgate")
            page.screenshot(path=tmp_path / "signin.png")
            page.fill("input[name=address]", live_server.admin)
            page.fill("input[name=password]", live_server.password)
            page.click("button[type=submit]")
            page.wait_for_url("**/admin/roster")
            cookies = {c["name"]: c for c in context.cookies()}
            session = cookies["__Host-mailgate_session"]
            assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
            expect(page.locator("h1")).to_have_text("Roster")

            page.click("a.lang:has-text('简体中文')")
            expect(page.locator("h1")).to_have_text("花名册")
            expect(page.locator("table")).to_contain_text("王伟")
            expect(page.locator("table")).to_contain_text("研发中心/平台部")
            expect(page.locator("table")).to_contain_text("北京")
            expect(page.locator("thead")).to_contain_text("工号")
            page.screenshot(path=tmp_path / "roster-zh_Hans.png", full_page=True)

            page.click("a.lang:has-text('繁體中文')")
            expect(page.locator("h1")).to_have_text("員工名冊")
            expect(page.locator("thead")).to_contain_text("員工編號")
            expect(page.locator("nav.sidebar")).to_contain_text("帳號")

            page.fill("input[name=q]", "王伟")
            page.click("form.toolbar button[type=submit]")
            expect(page.locator("tbody tr")).to_have_count(1)
            expect(page.locator("tbody")).to_contain_text("E10001")
            page.screenshot(path=tmp_path / "roster-zh_Hant.png", full_page=True)

            page.click("a.lang:has-text('English')")
            expect(page.locator("h1")).to_have_text("Roster")
            page.goto(f"{live_server.url}/admin/accounts")
            expect(page.locator("h1")).to_have_text("Accounts")

            page.click("a.lang:has-text('繁體中文')")
            other = context.new_page()
            other.goto(f"{live_server.url}/admin/organisations")
            expect(other.locator("h1")).to_have_text("組織")
        finally:
            browser.close()
