"""Forwarding in a real browser (简体中文), then with real mail programs: a person asks for their
mail to go to a colleague, reads the code that reached the colleague's INBOX with imaplib, enters
it, and a message sent with smtplib through submission then reaches the colleague; without "keep
a copy" the person's own INBOX stays empty. Stopping the forwarding brings mail back home."""

from __future__ import annotations

import email
import email.policy
import imaplib
import re
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from mailgate.domain.access import operator
from mailgate.services.container import Services

from .conftest import PASSWORD
from .live import CHROMIUM_ARGS, LiveMail, LiveServer
from .live import live_server as start_live_server

pytestmark = pytest.mark.browser
USER = "li.na@example.test"
PEER = "wang.fang@example.test"
_CODE = re.compile(r"\b(\d{6})\b")


async def _people(services: Services) -> None:
    for address in (USER, PEER):
        await services.accounts.create(
            operator("cli:test"),
            address,
            password=PASSWORD,
            skip_first_login=True,
            language="zh_Hans",
        )


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with start_live_server(tmp_path, _people, mail_sinks=("home.example",)) as server:
        yield server


def _subjects(mail: LiveMail, address: str) -> list[str]:
    """The subjects of the INBOX of `address`, read with imaplib over implicit TLS."""
    with imaplib.IMAP4_SSL("127.0.0.1", mail.imaps_port, ssl_context=mail.client_tls) as imap:
        imap.login(address, PASSWORD)
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "ALL")
        subjects = []
        for number in found[0].split():
            _, parts = imap.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            raw = parts[0]
            assert isinstance(raw, tuple)
            header = email.message_from_bytes(raw[1], policy=email.policy.default)
            subjects.append(str(header["Subject"]))
        return subjects


def _send(mail: LiveMail, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = PEER, USER, subject
    message.set_content("周五的会议改到三点。")
    with smtplib.SMTP("127.0.0.1", mail.submission_port) as smtp:
        smtp.starttls(context=mail.client_tls)
        smtp.login(PEER, PASSWORD)
        smtp.send_message(message)


def test_forward_to_a_colleague_and_stop(live_server: LiveServer, tmp_path: Path) -> None:
    mail = live_server.mail
    assert mail is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            page.goto(f"{live_server.url}/account/forwarding")
            page.fill("input[name=address]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("form.stack button[type=submit]")
            page.wait_for_url("**/account/forwarding")  # just signed in: sudo mode
            expect(page.locator("h1")).to_have_text("邮件转发")

            page.fill("#set-forwarding input[name=target]", PEER)
            page.uncheck("#set-forwarding input[name=keep_copy]")
            page.click("#set-forwarding button[type=submit]")
            expect(page.locator("#verify-forwarding")).to_be_visible()
            codes = [c for s in _subjects(mail, PEER) for c in _CODE.findall(s)]
            assert len(codes) == 1, codes
            page.fill("#forwarding-code", codes[0])
            page.click("#verify-forwarding button[type=submit]")
            expect(page.locator("[role=status]")).to_have_text("您的邮件现在会被转发。")
            page.screenshot(path=tmp_path / "forwarding.png", full_page=True)

            _send(mail, "会议改期")
            assert "会议改期" in _subjects(mail, PEER)
            assert "会议改期" not in _subjects(mail, USER)  # no copy kept

            page.click("#remove-forwarding button[type=submit]")
            expect(page.locator("#set-forwarding")).to_be_visible()
            _send(mail, "会议取消")
            assert "会议取消" in _subjects(mail, USER)
            assert "会议取消" not in _subjects(mail, PEER)
        finally:
            browser.close()
