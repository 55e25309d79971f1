""" "This wasn't me" in a real browser, in Traditional Chinese: the person signs in, presses the
button on the security page, confirms, and lands on the sign-in page with the explanation; the
session is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from mailgate.domain.access import operator
from mailgate.services.container import Services

from .conftest import PASSWORD
from .live import CHROMIUM_ARGS, LiveServer
from .live import live_server as start_live_server

USER = "li.na@example.test"
pytestmark = pytest.mark.browser


async def _add_user(services: Services) -> None:
    await services.accounts.create(
        operator("cli:test"), USER, password=PASSWORD, skip_first_login=True, language="zh_Hant"
    )


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with start_live_server(tmp_path, _add_user) as server:
        yield server


def test_this_was_not_me_in_traditional_chinese(live_server: LiveServer, tmp_path: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(locale="zh-TW", viewport={"width": 1360, "height": 900})
            page = context.new_page()
            page.goto(f"{live_server.url}/account/security")
            page.fill("input[name=address]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/account/security")
            expect(page.locator("h1")).to_have_text("帳號安全")
            # Our own sign-in is listed, with its "not me" link.
            expect(page.locator("a[href*='/account/not-me?record=']").first).to_have_text("不是我")

            page.click("#not-me")
            page.wait_for_url("**/account/not-me")
            expect(page.locator("h1")).to_have_text("這不是我")
            expect(page.locator("main")).to_contain_text("結束您帳號的所有登入工作階段")
            page.screenshot(path=tmp_path / "not-me-confirm.png", full_page=True)

            page.click("#not-me-form button[type=submit]")
            page.wait_for_url("**/account/not-me/done")
            explanation = page.locator("#not-me-done")
            expect(explanation).to_contain_text("您的帳號已受到保護")
            expect(explanation).to_contain_text("請重新登入並設定新密碼")
            expect(page.locator("h1")).to_have_text("登入 Mailgate")
            expect(page.locator("input[name=password]")).to_be_visible()
            page.screenshot(path=tmp_path / "not-me-done.png", full_page=True)

            # The session ended on the server: the account pages ask to sign in again.
            page.goto(f"{live_server.url}/account/security")
            page.wait_for_url("**/admin/signin?next=*")
            expect(page.locator("input[name=address]")).to_be_visible()
        finally:
            browser.close()
