"""Recovery contacts and the self-service reset in a real browser, in all three languages: add a
phone, verify it with the code from the SMS file, sign out, "Forgot your password?", reset with
the code the phone got, choose a new password and sign in with it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from mailgate.domain.access import operator
from mailgate.services.container import Services
from mailgate.services.sms import FileSmsSender

from .conftest import PASSWORD
from .live import CHROMIUM_ARGS, LiveServer
from .live import live_server as start_live_server

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a river of tea leaves in autumn"
PHONE = "+8613800138000"
_CODE = re.compile(r"\b(\d{6})\b")

# language -> (browser locale, the words the pages should show)
LANGUAGES = {
    "en": (
        "en-US",
        {
            "recovery": "Recovery contacts",
            "sent": "A 6-digit code is on its way. Enter it below to verify the contact.",
            "verified": "The recovery contact is verified.",
            "forgot": "Forgot your password?",
            "check": "Check your recovery contacts",
            "choose": "Choose a new password",
            "changed": "Password changed",
        },
    ),
    "zh_Hans": (
        "zh-CN",
        {
            "recovery": "备用联系方式",
            "sent": "6 位数字验证码已发送，请在下方输入以验证此联系方式。",
            "verified": "备用联系方式已验证。",
            "forgot": "忘记密码？",
            "check": "请查看您的备用联系方式",
            "choose": "设置新密码",
            "changed": "密码已修改",
        },
    ),
    "zh_Hant": (
        "zh-TW",
        {
            "recovery": "備用聯絡方式",
            "sent": "6 位數字驗證碼已傳送，請在下方輸入以驗證此聯絡方式。",
            "verified": "備用聯絡方式已驗證。",
            "forgot": "忘記密碼？",
            "check": "請查看您的備用聯絡方式",
            "choose": "設定新密碼",
            "changed": "密碼已變更",
        },
    ),
}


def _user(language: str) -> str:
    return f"li.na.{language.lower().replace('_', '')}@example.test"


async def _add_users(services: Services) -> None:
    for language in LANGUAGES:
        await services.accounts.create(
            operator("cli:test"),
            _user(language),
            password=PASSWORD,
            skip_first_login=True,
            language=language,
        )


@pytest.fixture
def sms(tmp_path: Path) -> FileSmsSender:
    return FileSmsSender(tmp_path / "sms.jsonl")


@pytest.fixture
def live_server(tmp_path: Path, sms: FileSmsSender) -> Iterator[LiveServer]:
    with start_live_server(tmp_path, _add_users, sms=sms) as server:
        yield server


def _latest_code(sms: FileSmsSender, expected_count: int) -> str:
    codes = [c[0] for m in sms.messages() if m["to"] == PHONE and (c := _CODE.findall(m["text"]))]
    assert len(codes) == expected_count, sms.messages()
    return codes[-1]


def _sign_in(page: Page, address: str, password: str) -> None:
    page.fill("input[name=address]", address)
    page.fill("input[name=password]", password)
    page.click("form.stack button[type=submit]")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_add_verify_then_reset_the_password(
    live_server: LiveServer, sms: FileSmsSender, tmp_path: Path, language: str
) -> None:
    locale, words = LANGUAGES[language]
    user = _user(language)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(locale=locale, viewport={"width": 1360, "height": 900})
            page = context.new_page()
            page.goto(f"{live_server.url}/account/recovery")
            _sign_in(page, user, PASSWORD)
            page.wait_for_url("**/account/recovery")
            expect(page.locator("h1")).to_have_text(words["recovery"])
            expect(page.locator("nav.sidebar a[aria-current=page]")).to_have_text(words["recovery"])

            # A phone contact, verified with the code from the SMS file.
            page.select_option("#add-contact select[name=kind]", "phone")
            page.fill("#add-contact input[name=value]", "138 0013 8000")
            page.click("#add-contact button[type=submit]")
            expect(page.locator("[role=status]")).to_have_text(words["sent"])
            row = page.locator(f'tr[data-contact="{PHONE}"]')
            row.locator("input[name=code]").fill(_latest_code(sms, 1))
            row.locator("form.verify-form button[type=submit]").click()
            expect(page.locator("[role=status]")).to_have_text(words["verified"])
            expect(row.locator(".badge-active")).to_be_visible()
            expect(row.locator("input[name=code]")).to_have_count(0)
            page.screenshot(path=tmp_path / f"recovery-{language}.png", full_page=True)

            # Signed out, the password forgotten: reset it with the code the phone gets.
            page.click("form[action='/admin/signout'] button")
            page.wait_for_url("**/admin/signin")
            page.click(f"text={words['forgot']}")
            page.wait_for_url("**/reset")
            page.fill("input[name=address]", user)
            page.click("form.stack button[type=submit]")
            expect(page.locator("h1")).to_have_text(words["check"])
            page.fill("input[name=code]", _latest_code(sms, 2))
            page.click("form.stack button[type=submit]")
            page.wait_for_url("**/reset/continue")
            expect(page.locator("h1")).to_have_text(words["choose"])
            page.fill("input[name=new_password]", NEW_PASSWORD)
            page.fill("input[name=repeat_password]", NEW_PASSWORD)
            page.click("form.stack button[type=submit]")
            page.wait_for_url("**/reset/done")
            expect(page.locator("h1")).to_have_text(words["changed"])
            page.screenshot(path=tmp_path / f"reset-done-{language}.png", full_page=True)

            # The old password is gone, the new one works.
            page.click("a.btn-primary")
            page.wait_for_url("**/admin/signin")
            _sign_in(page, user, PASSWORD)
            expect(page.locator("[role=alert]")).to_be_visible()
            _sign_in(page, user, NEW_PASSWORD)
            page.wait_for_url("**/account")
            expect(page.locator(".who-name")).to_have_text(user)
        finally:
            browser.close()
