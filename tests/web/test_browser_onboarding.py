"""Onboarding end to end in a real browser (headless Debian Chromium), in 简体中文: a contractor
of the demo organisation applies through the internal portal, the supervisor approves from the
link in their mailbox, the IT reviewer approves with the checklist in the console, and the
applicant activates the new mailbox at /activate with the code from the delivered message:
a password, an authenticator app (codes from pyotp), a verified backup e-mail address, the
recovery codes, then an app password. Finally `imaplib` signs in with the app password and
finds the welcome message, and `smtplib` sends a message (submission, STARTTLS + AUTH) that
arrives.

Where the messages are read:
- the supervisor's approval link: with imaplib from the supervisor's INBOX, through Mailgate's
  own IMAP server on 127.0.0.1 (implicit TLS, a trustme certificate);
- the applicant's private address (the tracking link, the activation code, the backup
  address's verification code): the app relays home.example to a small aiosmtpd sink on
  127.0.0.1 (tests/web/live.py, `mail_sinks`), and the test reads what the sink received.
Nothing waits by sleeping: the sink hands messages over through a queue, SMTP answers 250 only
once a message is stored, and Playwright waits for pages.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import re
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mailgate.domain.access import Role, operator
from mailgate.services.container import Services

from .live import CHROMIUM_ARGS, LiveMail, LiveServer, Sunk
from .live import live_server as start_live_server

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "高山流水遇知音 春天的茶 2026"
SUPERVISOR = "zhaoyong@example.test"  # 赵勇, E10002
REVIEWER = "it.review@example.test"
APPLICANT_ID = "E10018"  # 高艳, a contractor: her policy requires a second factor
HOME = "gao.yan@home.example"
BACKUP = "gaoyan.backup@home.example"
_APPROVE = re.compile(r"/approve/[A-Za-z0-9_-]{43}")
_ACTIVATION = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b")
_ADDRESS = re.compile(r"\b([a-z0-9.-]+@example\.test)\b")
_SIX = re.compile(r"\b(\d{6})\b")


async def _staff(services: Services) -> None:
    root = operator("cli:test")
    await services.accounts.create(
        root, SUPERVISOR, password=PASSWORD, skip_first_login=True, employee_id="E10002"
    )
    await services.accounts.create(root, REVIEWER, password=PASSWORD, skip_first_login=True)
    await services.accounts.grant_role(root, REVIEWER, Role.REVIEWER, "example")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with start_live_server(tmp_path, _staff, mail_sinks=("home.example",)) as server:
        yield server


def _text(raw: bytes) -> str:
    """Subject and plain-text body of a message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return f"{message['Subject']}\n{body.get_content()}"


def _sunk(mail: LiveMail, to: str, contains: str) -> str:
    def match(sunk: Sunk) -> bool:
        return to in sunk.rcpt_tos and contains in _text(sunk.data)

    return _text(mail.wait_for(match).data)


def _inbox(mail: LiveMail, user: str, password: str) -> list[str]:
    """Every message of the INBOX, read with imaplib over implicit TLS."""
    with imaplib.IMAP4_SSL("127.0.0.1", mail.imaps_port, ssl_context=mail.client_tls) as imap:
        imap.login(user, password)
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "ALL")
        texts = []
        for number in found[0].split():
            _, parts = imap.fetch(number, "(RFC822)")
            raw = parts[0]
            assert isinstance(raw, tuple)
            texts.append(_text(raw[1]))
        return texts


def _browser_page(browser: Browser) -> Page:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    return context.new_page()


def test_from_application_to_reading_mail(live_server: LiveServer, tmp_path: Path) -> None:
    mail = live_server.mail
    assert mail is not None
    url = live_server.url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            # 1. 高艳 applies through the internal portal.
            applicant = _browser_page(browser)
            applicant.goto(f"{url}/apply/apply")
            applicant.click("#start")
            applicant.fill("#f-employee_id", APPLICANT_ID)
            applicant.click("main form button[type=submit]")
            applicant.wait_for_selector("#application-form")
            applicant.fill("#f-name", "高艳")
            applicant.fill("#f-department", "研发中心/移动开发部")
            applicant.fill("#f-purpose", "移动开发项目的日常工作邮件")
            applicant.fill("#f-contact_email", HOME)
            applicant.select_option("#f-language", "zh_Hans")
            applicant.click("#send")
            expect(applicant.locator("#tracking-link")).to_be_visible()
            applicant.screenshot(path=tmp_path / "1-applied.png", full_page=True)
            _sunk(mail, HOME, "/apply/track/")  # the tracking link reached her address

            # 2. The supervisor finds the single-use link in their mailbox and approves.
            links = _APPROVE.findall("\n".join(_inbox(mail, SUPERVISOR, PASSWORD)))
            assert links, "no approval link in the supervisor's INBOX"
            supervisor = _browser_page(browser)
            supervisor.goto(f"{url}{links[-1]}")
            expect(supervisor.locator("#summary")).to_contain_text("高艳")
            supervisor.click("#approve")
            expect(supervisor.locator("#outcome")).to_be_visible()
            supervisor.screenshot(path=tmp_path / "2-supervisor.png", full_page=True)

            # 3. The IT reviewer ticks the checklist in the console and approves.
            reviewer = _browser_page(browser)
            reviewer.goto(f"{url}/admin/applications")
            reviewer.fill("input[name=address]", REVIEWER)
            reviewer.fill("input[name=password]", PASSWORD)
            reviewer.click("form.stack button[type=submit]")
            reviewer.wait_for_url("**/admin/applications")
            reviewer.locator("#applications a", has_text="高艳").first.click()
            reviewer.wait_for_selector("#decision-form")
            boxes = reviewer.locator("#checklist input[name=checklist]")
            assert boxes.count() >= 1
            for i in range(boxes.count()):
                boxes.nth(i).check()
            reviewer.click("#approve")
            reviewer.wait_for_url("**done=approve")
            reviewer.screenshot(path=tmp_path / "3-reviewer.png", full_page=True)

            # 4. The approval reaches 高艳's private mailbox with the activation code.
            approved = _sunk(mail, HOME, "已开通")
            (code,) = _ACTIVATION.findall(approved)
            address = _ADDRESS.findall(approved.split("\n", 1)[0])[0]
            assert address == "gaoyan@example.test"
            assert "/activate" in approved

            # 5. /activate: the code, then one page per step.
            applicant.goto(f"{url}/activate")
            expect(applicant.locator("h1")).to_have_text("激活您的邮箱")
            applicant.fill("input[name=address]", address)
            applicant.fill("input[name=code]", code.lower().replace("-", " "))
            applicant.click("#activate-form button[type=submit]")
            applicant.wait_for_url("**/activate/password")
            expect(applicant.locator("#step-counter")).to_have_text("第 1 步，共 4 步")
            expect(applicant.locator("#password-rules")).to_contain_text("至少 15 个字符")
            applicant.fill("input[name=new_password]", NEW_PASSWORD)
            applicant.fill("input[name=repeat_password]", NEW_PASSWORD)
            applicant.click("#password-form button[type=submit]")

            applicant.wait_for_url("**/activate/second-factor")
            expect(applicant.locator("#step-counter")).to_have_text("第 2 步，共 4 步")
            applicant.click("#totp-start button[type=submit]")
            expect(applicant.locator(".qr svg")).to_be_visible()
            secret = applicant.locator("#totp-secret").inner_text()
            applicant.fill("#totp-confirm input[name=code]", pyotp.TOTP(secret).now())
            applicant.screenshot(path=tmp_path / "5-totp.png", full_page=True)
            applicant.click("#totp-confirm button[type=submit]")

            applicant.wait_for_url("**/activate/recovery-contact")
            expect(applicant.locator("#step-counter")).to_have_text("第 3 步，共 4 步")
            applicant.fill("#add-contact input[name=value]", BACKUP)
            applicant.click("#add-contact button[type=submit]")
            expect(applicant.locator("#contact-notice")).to_be_visible()
            verification = _sunk(mail, BACKUP, "验证码")
            applicant.fill("#verify-form input[name=code]", _SIX.findall(verification)[-1])
            applicant.click("#verify-form button[type=submit]")

            applicant.wait_for_url("**/activate/recovery-codes")
            expect(applicant.locator("#step-counter")).to_have_text("第 4 步，共 4 步")
            applicant.click("#codes-form button[type=submit]")
            expect(applicant.locator("#recovery-codes li")).to_have_count(10)
            applicant.screenshot(path=tmp_path / "5-recovery-codes.png", full_page=True)
            applicant.check("#finish-form input[name=saved]")
            applicant.click("#finish-form button[type=submit]")

            # 6. Welcome: the mail settings and the app password step.
            applicant.wait_for_url("**/activate/done")
            expect(applicant.locator("h1")).to_have_text("您的邮箱已就绪")
            expect(applicant.locator("#mail-settings")).to_contain_text("收件服务器（IMAP）")
            applicant.screenshot(path=tmp_path / "6-welcome.png", full_page=True)
            applicant.click("#app-passwords-link")
            applicant.wait_for_url("**/account/app-passwords")
            applicant.fill("input[name=name]", "Thunderbird")
            applicant.click("form.card button[type=submit]")
            app_password = applicant.locator("#app-password").inner_text()
            assert len(app_password.replace("-", "")) == 20
        finally:
            browser.close()

    # 7. Mail programs: the main password is refused, the app password reads the welcome ...
    with imaplib.IMAP4_SSL("127.0.0.1", mail.imaps_port, ssl_context=mail.client_tls) as imap:
        plain = f"\0{address}\0{NEW_PASSWORD}".encode()  # UTF-8: AUTHENTICATE, not LOGIN
        with pytest.raises(imaplib.IMAP4.error, match="app password"):
            imap.authenticate("PLAIN", lambda _: plain)
    welcome = [m for m in _inbox(mail, address, app_password) if m.startswith("欢迎使用您的邮箱")]
    assert len(welcome) == 1 and f"用户名：{address}" in welcome[0]
    assert "客户端专用密码" in welcome[0]

    # ... and sends a message that arrives.
    message = EmailMessage()
    message["From"] = f"高艳 <{address}>"
    message["To"] = f"赵勇 <{SUPERVISOR}>, {address}"
    message["Subject"] = "新邮箱的第一封信"
    message.set_content("赵经理您好：\n\n我的公司邮箱已经开通。\n\n高艳")
    with smtplib.SMTP("127.0.0.1", mail.submission_port, timeout=20) as smtp:
        smtp.starttls(context=mail.client_tls)
        smtp.login(address, app_password)
        assert smtp.send_message(message) == {}
    mine = [m for m in _inbox(mail, address, app_password) if m.startswith("新邮箱的第一封信")]
    theirs = [m for m in _inbox(mail, SUPERVISOR, PASSWORD) if m.startswith("新邮箱的第一封信")]
    assert len(mine) == len(theirs) == 1 and "我的公司邮箱已经开通" in theirs[0]
