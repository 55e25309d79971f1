"""The user area in a real browser: a person without admin roles signs in, lands on /account
and creates an app password for a mail client, seen once, then listed without it."""

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
        operator("cli:test"), USER, password=PASSWORD, skip_first_login=True
    )


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with start_live_server(tmp_path, _add_user) as server:
        yield server


def test_user_creates_an_app_password(live_server: LiveServer, tmp_path: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(locale="en-US", viewport={"width": 1360, "height": 900})
            page = context.new_page()
            page.goto(f"{live_server.url}/account/app-passwords")
            page.fill("input[name=address]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/account/app-passwords")
            expect(page.locator("h1")).to_have_text("App passwords")

            page.fill("input[name=name]", "Thunderbird on laptop")
            page.check("input[name=scopes][value=pop3]")
            page.uncheck("input[name=scopes][value=smtp]")
            page.click("form.card button[type=submit]")
            expect(page.locator("h1")).to_have_text("App password created")
            secret = page.locator("#app-password").inner_text()
            assert len(secret.replace("-", "")) == 20
            page.screenshot(path=tmp_path / "app-password-created.png", full_page=True)

            page.click("text=Done")
            page.wait_for_url("**/account/app-passwords")
            row = page.locator("tbody tr", has_text="Thunderbird on laptop")
            expect(row).to_contain_text("IMAP")
            expect(row).to_contain_text("POP3")
            expect(row).not_to_contain_text("SMTP")
            assert secret not in page.content()

            page.click("a.lang:has-text('简体中文')")
            expect(page.locator("h1")).to_have_text("客户端专用密码")
            row.locator("button:has-text('撤销')").click()
            expect(page.locator("[role=status]")).to_have_text("客户端专用密码已撤销。")
            expect(page.locator("tbody")).not_to_contain_text("Thunderbird on laptop")

            page.goto(f"{live_server.url}/admin/roster")
            expect(page.locator("[role=alert]")).to_be_visible()
        finally:
            browser.close()
