"""Onboarding in a real browser, in 简体中文: a person applies through the demo's internal
portal with an upload, sees the tracking link once and follows it; their supervisor approves
from the link delivered to their mailbox; the IT reviewer approves with the checklist in the
console. (Activation is the next step, tested with /activate.) A script in the purpose field
never runs on the reviewer's page: any dialog fails the test."""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import io
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, expect, sync_playwright

from mailgate.domain.access import operator
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.services.demo_data import demo_roster_csv
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import open_database
from mailgate.storage.uow import SqlUnitOfWorkFactory

from .conftest import FAST_HASHER, PASSWORD
from .live import CHROMIUM_ARGS, LiveServer
from .live import live_server as start_live_server

pytestmark = pytest.mark.browser
SUPERVISOR = "supervisor@example.test"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PAYLOAD = '日常工作 <script>alert("xss")</script><img src=x onerror=alert(2)>'


def _person(index: int) -> dict[str, str]:
    rows = list(csv.DictReader(io.StringIO(demo_roster_csv())))
    return rows[index]


APPLICANT = _person(10)  # a full-time employee with a supervisor on the roster
assert APPLICANT["employment_type"] == "full_time" and APPLICANT["supervisor_id"]


async def _add_supervisor(services: Services) -> None:
    await services.accounts.create(
        operator("cli:test"),
        SUPERVISOR,
        password=PASSWORD,
        skip_first_login=True,
        employee_id=APPLICANT["supervisor_id"],
    )


async def _inbox(tmp_path: Path, address: str) -> str:
    """Every message in the mailbox, from the live server's database (read-only)."""
    db = open_database(f"sqlite+aiosqlite:///{tmp_path / 'mailgate.db'}", pool_size=1)
    try:
        services = Services.build(
            SqlUnitOfWorkFactory(db), SystemClock(), FAST_HASHER, FileBlobStore(tmp_path / "blobs")
        )
        root = operator("cli:test")
        found, _ = await services.mailstore.messages(root, address)
        texts = []
        for item in found:
            raw = await services.mailstore.read(item.blob_id)
            message = email.message_from_bytes(raw, policy=email.policy.default)
            body = message.get_body(("plain",))
            texts.append(body.get_content() if body else "")
        return "\n".join(texts)
    finally:
        await db.dispose()


def _read_inbox(tmp_path: Path, address: str) -> str:
    """`_inbox` from the test thread, whose own event loop belongs to Playwright."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _inbox(tmp_path, address)).result(timeout=60)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with start_live_server(tmp_path, _add_supervisor) as server:
        yield server


def test_apply_supervisor_and_reviewer_in_chinese(live_server: LiveServer, tmp_path: Path) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
            page = context.new_page()
            page.on("dialog", on_dialog)

            # --- the applicant ------------------------------------------------------------
            page.goto(f"{live_server.url}/apply/apply")
            expect(page.locator("h1")).to_have_text("申请企业邮箱")
            expect(page.locator("#landing-text")).to_contain_text("Example Corp 的正式员工")
            page.click("#start")
            page.fill("#f-employee_id", APPLICANT["employee_id"])
            page.click("button[type=submit]")
            expect(page.locator("#employee-id")).to_have_text(APPLICANT["employee_id"])
            page.fill("#f-name", APPLICANT["name_zh"])
            page.fill("#f-department", APPLICANT["org_unit"])
            page.fill("#f-purpose", PAYLOAD)
            page.fill("#f-contact_email", "applicant@home.example")
            page.set_input_files(
                "#f-doc-other",
                files=[{"name": "工牌.pdf", "mimeType": "application/pdf", "buffer": PDF}],
            )
            page.click("#send")
            expect(page.locator("h1")).to_have_text("您的申请已提交")
            expect(page.locator("#state")).to_contain_text("等待直属上级确认")
            tracking = page.locator("#tracking-link").get_attribute("href")
            assert tracking and "/apply/track/" in tracking
            page.screenshot(path=tmp_path / "apply-submitted.png", full_page=True)

            page.goto(tracking)
            expect(page.locator("h1")).to_have_text("您的申请")
            expect(page.locator("#state")).to_have_text("等待直属上级确认")
            expect(page.locator("#timeline")).to_contain_text("已提交")

            # --- the supervisor, from the link in their mailbox ---------------------------
            mail = _read_inbox(tmp_path, SUPERVISOR)
            links = re.findall(r"/approve/[A-Za-z0-9_-]{43}", mail)
            assert links, "the supervisor got no approval link"
            supervisor = context.new_page()
            supervisor.on("dialog", on_dialog)
            supervisor.goto(f"{live_server.url}{links[-1]}")
            expect(supervisor.locator("h1")).to_have_text("确认企业邮箱申请")
            expect(supervisor.locator("#summary")).to_contain_text(APPLICANT["name_zh"])
            expect(supervisor.locator("#summary")).to_contain_text("<script>")
            supervisor.click("#approve")
            expect(supervisor.locator("h1")).to_have_text("谢谢，您的决定已记录")
            supervisor.close()

            page.reload()
            expect(page.locator("#state")).to_have_text("等待审核")

            # --- the IT reviewer in the console -------------------------------------------
            reviewer = context.new_page()
            reviewer.on("dialog", on_dialog)
            reviewer.goto(f"{live_server.url}/admin/signin")
            reviewer.fill("input[name=address]", live_server.admin)
            reviewer.fill("input[name=password]", live_server.password)
            reviewer.click("button[type=submit]")
            reviewer.wait_for_url("**/admin/**")
            reviewer.goto(f"{live_server.url}/admin/applications")
            expect(reviewer.locator("#review-badge")).to_have_text("1")
            reviewer.locator("#applications a", has_text=APPLICANT["name_zh"]).click()
            expect(reviewer.locator("#purpose")).to_have_text(PAYLOAD)
            expect(reviewer.locator("#documents")).to_contain_text("工牌.pdf")
            reviewer.click("#approve")  # the checklist is not ticked yet
            expect(reviewer.locator("#decision-error")).to_contain_text("勾选检查清单")
            for box in reviewer.locator("#checklist input[type=checkbox]").all():
                box.check()
            reviewer.click("#approve")
            expect(reviewer.locator("[role=status]")).to_have_text("您的批准已记录。")
            expect(reviewer.locator("#state")).to_have_text("已批准")
            reviewer.screenshot(path=tmp_path / "review-approved.png", full_page=True)

            page.reload()
            expect(page.locator("#state")).to_have_text("已批准")
            assert dialogs == [], f"a script ran: {dialogs}"
        finally:
            browser.close()
