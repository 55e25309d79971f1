"""The admin console's security pages in a real browser, in Simplified Chinese: an administrator
opens a person's account from the list, locks it down with a reason (through the confirmation
page), sees the effect, the audit entry and the refused sign-in in the login records, and
downloads them as CSV; the person's open session is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mailgate.domain.access import operator
from mailgate.services.container import Services

from .conftest import PASSWORD
from .live import CHROMIUM_ARGS, LiveServer
from .live import live_server as start_live_server

USER = "li.na@example.test"
REASON = "回复了钓鱼邮件，密码可能已泄露"
pytestmark = pytest.mark.browser


async def _seed(services: Services) -> None:
    await services.accounts.create(
        operator("cli:test"), USER, display_name="李娜", password=PASSWORD, skip_first_login=True
    )
    li = await services.identity.act_as(USER)
    await services.app_passwords.create(li, USER, "手机邮件", "imap,smtp")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with start_live_server(tmp_path, _seed) as server:
        yield server


def _sign_in(browser: Browser, url: str, address: str, password: str) -> Page:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/admin/signin")
    page.fill("input[name=address]", address)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page


def test_admin_locks_down_an_account(live_server: LiveServer, tmp_path: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            person = _sign_in(browser, live_server.url, USER, PASSWORD)
            person.wait_for_url("**/account")

            admin = _sign_in(browser, live_server.url, live_server.admin, live_server.password)
            admin.wait_for_url("**/admin/organisations")
            admin.click("nav >> text=账号")
            admin.fill("input[name=q]", "li.na")
            admin.click("button:has-text('搜索')")
            admin.locator("tbody tr", has_text=USER).locator("a.account-details").click()
            expect(admin.locator("h1")).to_have_text(USER)
            expect(admin.locator("#account-state")).to_have_text("正常")
            expect(admin.locator("#app-passwords")).to_contain_text("手机邮件")
            expect(admin.locator("#web-sessions tbody tr")).to_have_count(1)

            admin.click("#actions >> text=紧急锁定此账号")
            expect(admin.locator("h1")).to_have_text("紧急锁定此账号")
            expect(admin.locator("#confirm")).to_contain_text("撤销所有客户端专用密码和 API 令牌")
            admin.click("#confirm button[type=submit]")  # no reason: the browser keeps it
            expect(admin.locator("h1")).to_have_text("紧急锁定此账号")
            admin.fill("textarea[name=reason]", REASON)
            admin.screenshot(path=tmp_path / "lockdown-confirm.png", full_page=True)
            admin.click("#confirm button:has-text('紧急锁定')")

            expect(admin.locator("[role=status]")).to_have_text(
                "账号已紧急锁定。已结束会话：1 个。已撤销客户端专用密码：1 个。"
                "已撤销 API 令牌：0 个。"
            )
            expect(admin.locator("#account-state")).to_have_text("已锁定")
            expect(admin.locator("#required-actions")).to_contain_text("设置新密码")
            expect(admin.locator("#web-sessions")).to_contain_text("当前没有任何登录。")
            expect(admin.locator("#app-passwords")).to_contain_text("已撤销")
            audit_row = admin.locator("#audit tbody tr", has_text="已紧急锁定")
            expect(audit_row).to_contain_text(REASON)
            expect(audit_row).to_contain_text(live_server.admin)
            admin.screenshot(path=tmp_path / "lockdown-done.png", full_page=True)

            # The person's session is over, and the right password no longer lets them in.
            person.goto(f"{live_server.url}/account")
            person.wait_for_url("**/admin/signin?next=*")
            person.fill("input[name=address]", USER)
            person.fill("input[name=password]", PASSWORD)
            person.click("button[type=submit]")
            expect(person.locator("[role=alert]")).to_be_visible()

            admin.click("text=此账号的全部登录记录")
            admin.wait_for_url("**/admin/logins?account=*")
            expect(admin.locator("h1")).to_have_text("登录记录")
            refused = admin.locator("#logins tbody tr", has_text="账号已锁定")
            expect(refused).to_have_count(1)
            expect(refused).to_contain_text(USER)
            admin.select_option("select[name=result]", "failure")
            admin.click("#login-filters button[type=submit]")
            expect(admin.locator("#logins tbody tr")).to_have_count(1)
            with admin.expect_download() as download_info:
                admin.click("#csv-download")
            download = download_info.value
            assert download.suggested_filename.startswith("mailgate-logins-all-")
            text = Path(download.path()).read_text(encoding="utf-8-sig")
            lines = text.splitlines()
            assert lines[0].startswith("occurred_at,username,protocol,ip")
            assert len(lines) == 2 and USER in lines[1] and ",locked," in lines[1]

            admin.click("nav >> text=安全警报")
            expect(admin.locator("h1")).to_have_text("安全警报")
            expect(admin.locator("#alerts")).to_contain_text("没有警报。")
        finally:
            browser.close()
