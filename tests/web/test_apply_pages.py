"""The onboarding pages over httpx: the public landing page, form and result pages of an entry,
the applicant's tracking page, the supervisor's link, the reviewers' queue and detail pages in
the console and the console's policy, entry and ticket pages. Every applicant text is shown
escaped; uploads are refused by content and size with nothing stored."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from mailgate.domain.access import Actor, Role
from mailgate.services.container import Services
from mailgate.services.policies import SelectorSpec
from mailgate.settings import Settings
from mailgate.web.app import create_app
from mailgate.web.i18n import LANG_COOKIE

from .conftest import BASE_URL, PASSWORD, build_world

SIGN_IN = "/admin/signin"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
CHECK = "Work ID matches the roster photo"
ROSTER = (  # 王芳 is 张伟's supervisor
    "employee_id,name_zh,name_latin,org_unit,employment_type,supervisor_id\n"
    "A001,张伟,Zhang Wei,研发中心/平台部,full_time,A002\n"
    "A002,王芳,Wang Fang,市场部,part_time,\n"
)
LANDING = {
    "zh_Hans": "欢迎申请企业邮箱：请准备工牌照片。",
    "zh_Hant": "歡迎申請企業郵箱：請準備工牌照片。",
    "en": "Welcome: have a photo of your work ID ready.",
}
REACH = {
    "zh_Hans": "请先连接公司 VPN 再打开此页面。",
    "zh_Hant": "請先連線公司 VPN 再開啟此頁面。",
    "en": "Connect to the company VPN first.",
}


@dataclass(slots=True)
class Site:
    client: httpx.AsyncClient
    services: Services
    root: Actor
    app: object

    async def csrf_of(self, path: str) -> str:
        page = await self.client.get(path)
        match = _CSRF.search(page.text)
        assert match, (path, page.status_code, page.text[:500])
        return match.group(1)

    async def sign_in(self, address: str) -> None:
        self.client.cookies.clear()
        token = await self.csrf_of(SIGN_IN)
        response = await self.client.post(
            SIGN_IN, data={"address": address, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 303, response.text

    async def details_page(self, slug: str, employee_id: str) -> tuple[str, httpx.Response]:
        token = await self.csrf_of(f"/apply/{slug}/form")
        page = await self.client.post(
            f"/apply/{slug}/form", data={"employee_id": employee_id, "csrf_token": token}
        )
        return token, page

    async def apply(
        self,
        slug: str = "portal",
        employee_id: str = "A001",
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        **fields: Any,
    ) -> httpx.Response:
        token, page = await self.details_page(slug, employee_id)
        assert page.status_code == 200, page.text
        data = {
            "csrf_token": token,
            "employee_id": employee_id,
            "name": "张伟",
            "department": "研发中心/平台部",
            "purpose": "日常工作邮件",
            "contact_email": "zhang.wei@home.example",
            "supervisor": "A002",
            "language": "zh_Hans",
            **fields,
        }
        if files is None:
            files = [("doc.0", ("work-id.pdf", PDF, "application/pdf"))]
        return await self.client.post(f"/apply/{slug}/submit", data=data, files=files)


async def _seed(services: Services, root: Actor) -> None:
    await build_world(services, root)
    await services.roster.import_csv(root, "alpha", ROSTER.encode())
    entries = services.entry_points
    await entries.add(root, "alpha", "portal", "portal", "a.test", landing=LANDING)
    await entries.add(
        root, "alpha", "vpn", "portal", "a.test", networks=["10.8.0.0/16"], reach_hint=REACH
    )
    await services.policies.add(
        root,
        "alpha",
        "everyone",
        position=10,
        settings={
            "required_fields": ["employee_id", "name", "purpose"],
            "required_documents": ["Work ID card"],
            "checklist": ["Work ID matches the roster photo"],
        },
    )
    for address, org in (("reviewer@a.test", "alpha"), ("rev@b.test", "beta")):
        await services.accounts.create(root, address, password=PASSWORD, skip_first_login=True)
        await services.accounts.grant_role(root, address, Role.REVIEWER, org)
    await services.accounts.create(
        root, "wang.fang@a.test", password=PASSWORD, skip_first_login=True, employee_id="A002"
    )


@pytest.fixture
async def site(sqlite_services: Services, root: Actor, tmp_path: Path) -> AsyncIterator[Site]:
    await _seed(sqlite_services, root)
    app = create_app(sqlite_services, Settings(data_dir=tmp_path / "data"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        yield Site(c, sqlite_services, root, app)


# --- landing and reach -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("zh_Hans", [LANDING["zh_Hans"], "申请企业邮箱", "需要准备", "Work ID card", "开始申请"]),
        ("zh_Hant", [LANDING["zh_Hant"], "申請企業郵箱", "需要準備", "Work ID card", "開始申請"]),
        ("en", [LANDING["en"], "Apply for a company mailbox", "What to prepare", "Work ID card"]),
    ],
)
async def test_landing_page_in_three_languages(site: Site, locale: str, words: list[str]) -> None:
    site.client.cookies.set(LANG_COOKIE, locale)
    page = await site.client.get("/apply/portal")
    assert page.status_code == 200
    for word in words:
        assert word in page.text, word
    assert 'href="/apply/portal/form"' in page.text


async def test_reach_page_from_outside_the_networks(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "zh_Hans")
    for path in ("/apply/vpn", "/apply/vpn/form"):
        page = await site.client.get(path)
        assert page.status_code == 403
        assert REACH["zh_Hans"] in page.text
        assert 'name="employee_id"' not in page.text


async def test_reach_from_inside_the_networks(site: Site) -> None:
    transport = httpx.ASGITransport(site.app, client=("10.8.3.4", 5555))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as inside:
        page = await inside.get("/apply/vpn/form")
        assert page.status_code == 200
        assert 'name="employee_id"' in page.text


async def test_unknown_entry(site: Site) -> None:
    assert (await site.client.get("/apply/nope")).status_code == 404
    assert (await site.client.get("/apply/nope/form")).status_code == 404


# --- the form ----------------------------------------------------------------------------------


async def test_second_step_asks_what_the_policy_requires(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "en")
    _token, page = await site.details_page("portal", "A001")
    assert page.status_code == 200
    assert 'name="doc.0"' in page.text and "Work ID card" in page.text
    assert 'name="name"' in page.text and 'name="purpose"' in page.text
    assert 'enctype="multipart/form-data"' in page.text


async def test_bad_employee_id_is_shown_at_the_field(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "zh_Hans")
    _token, page = await site.details_page("portal", "A 001;<x>")
    assert page.status_code == 422
    assert 'id="error-employee_id"' in page.text
    assert "&lt;x&gt;" in page.text and "<x>" not in page.text


async def test_csrf_is_refused(site: Site) -> None:
    page = await site.client.post(
        "/apply/portal/form", data={"employee_id": "A001", "csrf_token": "x" * 43}
    )
    assert page.status_code == 403
    token, _page = await site.details_page("portal", "A001")
    site.client.cookies.clear()
    response = await site.client.post(
        "/apply/portal/submit",
        data={"csrf_token": token, "employee_id": "A001", "name": "x", "purpose": "y"},
        files=[("doc.0", ("id.pdf", PDF, "application/pdf"))],
    )
    assert response.status_code == 403
    found, total = await site.services.applications.search(site.root, "alpha")
    assert total == 0 and not found


async def test_submitted_page_shows_the_tracking_link_once(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "en")
    page = await site.apply()
    assert page.status_code == 200, page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    link = re.search(r'id="tracking-link" href="([^"]+)"', page.text)
    assert link and link.group(1).startswith(f"{BASE_URL}/apply/track/")
    found, total = await site.services.applications.search(site.root, "alpha")
    assert total == 1 and found[0].form.employee_id == "A001"
    tracked = await site.client.get(link.group(1).removeprefix(BASE_URL))
    assert tracked.status_code == 200
    assert tracked.headers["referrer-policy"] == "no-referrer"
    assert "tracking-link" not in tracked.text


async def test_duplicate_open_application(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "en")
    assert (await site.apply()).status_code == 200
    again = await site.apply()
    assert again.status_code == 409
    assert "already have an open application" in again.text


async def test_missing_fields_and_documents_are_named(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "en")
    page = await site.apply(files=[], name="", purpose="")
    assert page.status_code == 422
    assert 'id="error-name"' in page.text and 'id="error-purpose"' in page.text
    # the name typed is kept; the required document is asked for by the service
    page = await site.apply(files=[], name="Zhang Wei")
    assert page.status_code == 422
    assert 'value="Zhang Wei"' in page.text
    assert "Work ID card" in page.text and 'id="error-documents"' in page.text
    assert (await site.services.applications.search(site.root, "alpha"))[1] == 0


@pytest.mark.parametrize(
    ("locale", "content", "message"),
    [
        ("en", b"", "The file is empty."),
        ("zh_Hans", b"", "文件是空的。"),
        ("en", b"MZ\x90\x00 not a pdf", "Only PDF, JPEG and PNG files are accepted"),
        ("zh_Hant", b"MZ\x90\x00 not a pdf", "只接受 PDF、JPEG 和 PNG 檔案"),
        ("en", b"%PDF-" + b"0" * (10 * 1024 * 1024), "The file is larger than 10 MiB."),
    ],
)
async def test_bad_uploads_are_refused_and_nothing_stored(
    site: Site, tmp_path: Path, locale: str, content: bytes, message: str
) -> None:
    site.client.cookies.set(LANG_COOKIE, locale)
    page = await site.apply(files=[("doc.0", ("work-id.pdf", content, "application/pdf"))])
    assert page.status_code == 422
    assert message in page.text
    assert 'id="error-doc-0"' in page.text
    assert (await site.services.applications.search(site.root, "alpha"))[1] == 0
    blobs = tmp_path / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))


async def test_body_over_the_limit_is_cut_off(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "en")
    token, _page = await site.details_page("portal", "A001")
    big = b"%PDF-" + b"0" * (31 * 1024 * 1024)
    page = await site.client.post(
        "/apply/portal/submit",
        data={"csrf_token": token, "employee_id": "A001"},
        files=[("doc.0", ("a.pdf", big, "application/pdf"))],
    )
    assert page.status_code == 413
    assert "too large" in page.text


async def test_ineligible_person_gets_a_ticket(site: Site) -> None:
    await site.services.policies.add(
        site.root,
        "alpha",
        "market closed",
        position=1,
        selector=SelectorSpec(unit="市场部"),
        settings={"self_service": False},
    )
    site.client.cookies.set(LANG_COOKIE, "zh_Hans")
    page = await site.apply(employee_id="A002", name="王芳", department="市场部", supervisor="")
    assert page.status_code == 200, page.text
    assert "market closed" in page.text
    tickets, total = await site.services.tickets.list(site.root, "alpha")
    assert total == 1 and tickets[0].employee_id == "A002"


# --- tracking ----------------------------------------------------------------------------------


async def _tracking_path(site: Site, **fields: Any) -> str:
    page = await site.apply(**fields)
    assert page.status_code == 200, page.text
    link = re.search(r'id="tracking-link" href="([^"]+)"', page.text)
    assert link
    return link.group(1).removeprefix(BASE_URL)


async def _inbox(site: Site, address: str) -> str:
    found, _ = await site.services.mailstore.messages(site.root, address)
    texts = []
    for item in found:
        message = email.message_from_bytes(
            await site.services.mailstore.read(item.blob_id), policy=email.policy.default
        )
        body = message.get_body(("plain",))
        texts.append(str(message["subject"]) + "\n" + (body.get_content() if body else ""))
    return "\n".join(texts)


async def _supervisor_token(site: Site) -> str:
    found = re.findall(r"/approve/([A-Za-z0-9_-]{43})", await _inbox(site, "wang.fang@a.test"))
    assert found, "no approval link in the supervisor's INBOX"
    return str(found[-1])


async def test_tracking_page_shows_state_and_timeline(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "zh_Hans")
    path = await _tracking_path(site)
    page = await site.client.get(path)
    assert page.status_code == 200
    assert "等待直属上级确认" in page.text
    assert 'id="timeline"' in page.text and "已提交" in page.text
    # the same page under /track/
    token = path.rsplit("/", 1)[1]
    assert (await site.client.get(f"/track/{token}")).status_code == 200


async def test_guessed_tokens_get_one_constant_404(site: Site) -> None:
    await _tracking_path(site)
    bodies = set()
    for guess in ("x" * 43, "A" * 43, "short", "a" * 200, "%3Cscript%3E"):
        for base in ("/apply/track", "/track"):
            page = await site.client.get(f"{base}/{guess}")
            assert page.status_code == 404
            assert page.headers["referrer-policy"] == "no-referrer"
            assert "set-cookie" not in page.headers
            bodies.add(page.text)
    assert len(bodies) == 1
    page = await site.client.get(f"/apply/track/{'x' * 43}/withdraw")
    assert page.status_code == 404 and page.text in bodies


async def test_withdraw_with_confirmation(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "en")
    path = await _tracking_path(site)
    confirm = await site.client.get(f"{path}/withdraw")
    assert confirm.status_code == 200 and "Withdraw the application?" in confirm.text
    token = _CSRF.search(confirm.text)
    assert token
    done = await site.client.post(
        f"{path}/withdraw", data={"csrf_token": token.group(1), "reason": "not needed"}
    )
    assert done.status_code == 303
    page = await site.client.get(done.headers["location"])
    assert "Your application was withdrawn." in page.text
    assert 'id="state">Withdrawn' in page.text
    assert 'id="withdraw"' not in page.text


async def test_needs_information_and_resubmit(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "en")
    application_id, path = await _at_review(site)
    reviewer = await site.services.identity.act_as("reviewer@a.test")
    await site.services.workflow.decide(
        reviewer, application_id, "ask_information", f"Which team? {SCRIPT}", {}
    )
    page = await site.client.get(path)
    assert 'id="question">Which team? &lt;script&gt;alert(1)&lt;/script&gt;' in page.text
    assert 'id="resubmit-form"' in page.text
    token = _CSRF.search(page.text)
    assert token
    answer = await site.client.post(
        f"{path}/resubmit",
        data={
            "csrf_token": token.group(1),
            "name": "张伟",
            "purpose": "平台部的日常工作",
            "contact_email": "zhang.wei@home.example",
            "language": "zh_Hans",
        },
        files=[("doc.other", ("team.png", PNG, "image/png"))],
    )
    assert answer.status_code == 303, answer.text
    page = await site.client.get(answer.headers["location"])
    assert "Your answer was sent." in page.text
    assert 'id="state">Waiting for review' in page.text
    view = await site.services.applications.for_reviewer(reviewer, application_id)
    assert view.application.form.purpose == "平台部的日常工作"
    assert len(view.documents) == 2


# --- the supervisor's link ---------------------------------------------------------------------


async def test_supervisor_link_is_single_use(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "en")
    await _tracking_path(site, purpose=SCRIPT)
    token = await _supervisor_token(site)
    page = await site.client.get(f"/approve/{token}")
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and SCRIPT not in page.text
    again = await site.client.get(f"/approve/{token}")  # GET does not use the link up
    csrf = _CSRF.search(again.text)
    assert csrf
    done = await site.client.post(
        f"/approve/{token}", data={"csrf_token": csrf.group(1), "decision": "approve"}
    )
    assert done.status_code == 200 and "You approved the application." in done.text
    used = await site.client.get(f"/approve/{token}")
    assert used.status_code == 410 and "already used" in used.text
    replay = await site.client.post(
        f"/approve/{token}", data={"csrf_token": csrf.group(1), "decision": "reject"}
    )
    assert replay.status_code == 410
    found, _ = await site.services.applications.search(site.root, "alpha")
    assert found[0].waiting_for == "it"


async def test_supervisor_rejects_only_with_a_reason(site: Site) -> None:
    site.client.cookies.set(LANG_COOKIE, "zh_Hans")
    await _tracking_path(site)
    token = await _supervisor_token(site)
    csrf = await site.csrf_of(f"/approve/{token}")
    refused = await site.client.post(
        f"/approve/{token}", data={"csrf_token": csrf, "decision": "reject"}
    )
    assert refused.status_code == 422 and "请填写拒绝原因" in refused.text
    done = await site.client.post(
        f"/approve/{token}",
        data={"csrf_token": csrf, "decision": "reject", "comment": "不需要"},
    )
    assert done.status_code == 200
    found, _ = await site.services.applications.search(site.root, "alpha")
    assert found[0].state.value == "rejected" and found[0].decision_reason == "不需要"


async def test_supervisor_link_guessed_or_without_csrf(site: Site) -> None:
    await _tracking_path(site)
    token = await _supervisor_token(site)
    assert (await site.client.get(f"/approve/{'x' * 43}")).status_code == 404
    refused = await site.client.post(f"/approve/{token}", data={"decision": "approve"})
    assert refused.status_code == 403
    found, _ = await site.services.applications.search(site.root, "alpha")
    assert found[0].waiting_for == "supervisor"


# --- reviewers ---------------------------------------------------------------------------------

FREE_TEXT = ("name", "department", "position", "purpose", "agreement_number", "sponsor")


async def _at_review(site: Site, **fields: Any) -> tuple[int, str]:
    """An application of A001 waiting for the IT stage (the supervisor approved by link):
    its id and its tracking path."""
    path = await _tracking_path(site, **fields)
    token = await _supervisor_token(site)
    csrf = await site.csrf_of(f"/approve/{token}")
    done = await site.client.post(
        f"/approve/{token}", data={"csrf_token": csrf, "decision": "approve"}
    )
    assert done.status_code == 200, done.text
    found, _ = await site.services.applications.search(site.root, "alpha")
    assert found[0].waiting_for == "it"
    return found[0].id, path


async def test_reviewer_queue_badge_and_detail(site: Site) -> None:
    application_id, _path = await _at_review(site)
    await site.sign_in("reviewer@a.test")
    site.client.cookies.set(LANG_COOKIE, "zh_Hans")
    queue = await site.client.get("/admin/applications")
    assert queue.status_code == 200
    assert f'data-application="{application_id}"' in queue.text
    assert re.search(r'id="review-badge"[^>]*>1<', queue.text)
    other = await site.client.get("/admin/roster")
    assert re.search(r'id="review-badge"[^>]*>1<', other.text)
    detail = await site.client.get(f"/admin/applications/{application_id}")
    assert detail.status_code == 200
    for word in ("花名册核对", "Work ID matches the roster photo", "策略的决定依据", "everyone"):
        assert word in detail.text, word
    assert 'class="mismatch"' not in detail.text  # 张伟 of 研发中心/平台部, supervisor A002
    by_stage = await site.client.get("/admin/applications?stage=supervisor")
    assert f'data-application="{application_id}"' not in by_stage.text
    by_state = await site.client.get("/admin/applications?org=alpha&state=awaiting_review&q=A001")
    assert f'data-application="{application_id}"' in by_state.text


async def test_roster_mismatches_are_highlighted(site: Site) -> None:
    application_id, _path = await _at_review(site, name="李四", department="市场部")
    await site.sign_in("reviewer@a.test")
    detail = await site.client.get(f"/admin/applications/{application_id}")
    assert detail.text.count('class="mismatch"') == 2


async def test_reviewer_approves_with_the_checklist(site: Site) -> None:
    application_id, _path = await _at_review(site)
    await site.sign_in("reviewer@a.test")
    site.client.cookies.set(LANG_COOKIE, "en")
    page = f"/admin/applications/{application_id}"
    csrf = await site.csrf_of(page)
    unticked = await site.client.post(
        f"{page}/decide", data={"csrf_token": csrf, "decision": "approve"}
    )
    assert unticked.status_code == 422
    assert "Tick every item of the checklist" in unticked.text
    bad_csrf = await site.client.post(
        f"{page}/decide",
        data={"csrf_token": "x", "decision": "approve", "checklist": CHECK},
    )
    assert bad_csrf.status_code == 403
    done = await site.client.post(
        f"{page}/decide", data={"csrf_token": csrf, "decision": "approve", "checklist": CHECK}
    )
    assert done.status_code == 303
    after = await site.client.get(done.headers["location"])
    assert "Your approval was recorded." in after.text
    assert 'id="state">Approved' in after.text
    assert 'id="decision-form"' not in after.text
    found, _ = await site.services.applications.search(site.root, "alpha")
    assert found[0].state.value == "approved" and found[0].account_id is not None


async def test_reviewer_rejects_and_asks_only_with_a_comment(site: Site) -> None:
    application_id, _path = await _at_review(site)
    await site.sign_in("reviewer@a.test")
    site.client.cookies.set(LANG_COOKIE, "zh_Hant")
    page = f"/admin/applications/{application_id}"
    csrf = await site.csrf_of(page)
    for decision, message in (
        ("reject", "請填寫拒絕原因"),
        ("ask_information", "請填寫要問申請人的問題"),
    ):
        refused = await site.client.post(
            f"{page}/decide", data={"csrf_token": csrf, "decision": decision}
        )
        assert refused.status_code == 422 and message in refused.text
    asked = await site.client.post(
        f"{page}/decide",
        data={"csrf_token": csrf, "decision": "ask_information", "comment": "哪個團隊？"},
    )
    assert asked.status_code == 303


async def test_reviewer_pages_are_scoped(site: Site) -> None:
    application_id, _path = await _at_review(site)
    await site.sign_in("rev@b.test")
    assert (await site.client.get(f"/admin/applications/{application_id}")).status_code == 404
    assert (
        f'data-application="{application_id}"'
        not in (await site.client.get("/admin/applications")).text
    )
    assert (
        await site.client.get(f"/admin/applications/{application_id}/documents/1")
    ).status_code == 404
    await site.sign_in("desk@a.test")
    assert (await site.client.get(f"/admin/applications/{application_id}")).status_code == 403
    assert (await site.client.get("/admin/applications")).status_code == 403
    await site.sign_in("user@a.test")  # no role at all: no console
    assert (await site.client.get(f"/admin/applications/{application_id}")).status_code == 403
    site.client.cookies.clear()
    anonymous = await site.client.get(f"/admin/applications/{application_id}")
    assert anonymous.status_code == 303 and "/admin/signin" in anonymous.headers["location"]


async def test_document_download_headers(site: Site) -> None:
    application_id, _path = await _at_review(
        site, files=[("doc.0", ("工牌 <x>.pdf", PDF, "text/html"))]
    )
    await site.sign_in("reviewer@a.test")
    detail = await site.client.get(f"/admin/applications/{application_id}")
    href = re.search(rf'href="(/admin/applications/{application_id}/documents/\d+)"', detail.text)
    assert href
    response = await site.client.get(href.group(1))
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "<" not in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"


async def test_script_payloads_are_rendered_inert(site: Site) -> None:
    fields = {name: SCRIPT if i % 2 else IMG for i, name in enumerate(FREE_TEXT)}
    application_id, _path = await _at_review(site, **fields)
    await site.sign_in("reviewer@a.test")
    detail = await site.client.get(f"/admin/applications/{application_id}")
    assert SCRIPT not in detail.text and "<img src=x" not in detail.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in detail.text
    queue = await site.client.get("/admin/applications")
    assert SCRIPT not in queue.text and "<img src=x" not in queue.text


# --- the console's configuration pages ---------------------------------------------------------


async def _post_form(site: Site, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    csrf = await site.csrf_of(page)
    return await site.client.post(action, data={"csrf_token": csrf, **data})


async def test_policies_add_edit_move_toggle_remove(site: Site) -> None:
    await site.sign_in("admin@a.test")
    site.client.cookies.set(LANG_COOKIE, "en")
    listing = await site.client.get("/admin/policies?org=alpha")
    assert listing.status_code == 200 and 'data-policy="everyone"' in listing.text
    new = "/admin/policies/new?org=alpha"
    bad = await _post_form(
        site,
        new,
        new,
        {"name": "", "position": "x", "set.quota": "1", "v.quota": "lots"},
    )
    assert bad.status_code == 422
    assert 'id="error-name"' in bad.text and 'id="error-position"' in bad.text
    assert 'id="error-quota"' in bad.text and 'value="lots"' in bad.text
    unknown_job = await _post_form(
        site, new, new, {"name": "cooks", "position": "5", "job": "厨师"}
    )
    assert unknown_job.status_code == 422 and 'id="error-selector"' in unknown_job.text
    added = await _post_form(
        site,
        new,
        new,
        {
            "name": f"interns {SCRIPT}",
            "position": "5",
            "unit": "研发中心",
            "employment_type": "intern",
            "require": "roster_active",
            "set.quota": "1",
            "v.quota": "1GiB",
            "set.approval_chain": "1",
            "v.approval_chain": "supervisor, it, security",
            "set.second_factor_required": "1",
            "v.second_factor_required": "true",
        },
    )
    assert added.status_code == 303, added.text
    policies = {p.name: p for p in await site.services.policies.list(site.root, "alpha")}
    intern = policies[f"interns {SCRIPT}"]
    assert intern.settings["quota"] == 1024**3
    assert intern.settings["approval_chain"] == ("supervisor", "it", "security")
    listing = await site.client.get("/admin/policies?org=alpha")
    assert SCRIPT not in listing.text and "研发中心" in listing.text
    name = intern.name
    edit = f"/admin/policies/edit?{urlencode({'org': 'alpha', 'name': name})}"
    page = await site.client.get(edit)
    assert 'value="1GiB"' in page.text
    changed = await _post_form(
        site,
        edit,
        edit,
        {"name": "interns", "position": "7", "enabled": "1", "set.quota": "1", "v.quota": "3GiB"},
    )
    assert changed.status_code == 303, changed.text
    intern = (await site.services.policies.list(site.root, "alpha"))[0]
    assert intern.name == "interns" and intern.position == 7
    assert dict(intern.settings) == {"quota": 3 * 1024**3}
    q = urlencode({"org": "alpha", "name": "interns"})
    moved = await _post_form(
        site, "/admin/policies?org=alpha", f"/admin/policies/move?{q}", {"position": "50"}
    )
    assert moved.status_code == 303
    off = await _post_form(
        site, "/admin/policies?org=alpha", f"/admin/policies/state?{q}", {"enabled": "0"}
    )
    assert off.status_code == 303
    intern = {p.name: p for p in await site.services.policies.list(site.root, "alpha")}["interns"]
    assert intern.position == 50 and not intern.enabled
    confirm = await site.client.get(f"/admin/policies/remove?{q}")
    assert confirm.status_code == 200 and "Remove the policy" in confirm.text
    removed = await _post_form(
        site, f"/admin/policies/remove?{q}", f"/admin/policies/remove?{q}", {}
    )
    assert removed.status_code == 303
    assert [p.name for p in await site.services.policies.list(site.root, "alpha")] == ["everyone"]


async def test_policy_pages_refuse_without_csrf_and_for_other_orgs(site: Site) -> None:
    await site.sign_in("admin@a.test")
    q = urlencode({"org": "alpha", "name": "everyone"})
    refused = await site.client.post(f"/admin/policies/state?{q}", data={"enabled": "0"})
    assert refused.status_code == 403
    assert (await site.services.policies.list(site.root, "alpha"))[0].enabled
    assert (await site.client.get("/admin/policies?org=beta")).status_code == 404
    assert (await site.client.get("/admin/policies/new?org=beta")).status_code == 404
    await site.sign_in("reviewer@a.test")  # may read, not change
    listing = await site.client.get("/admin/policies?org=alpha")
    assert listing.status_code == 200 and "/admin/policies/edit" not in listing.text
    assert (await site.client.get("/admin/policies/new?org=alpha")).status_code == 403


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("zh_Hans", ["允许自助申请", "内置默认值", "everyone", "审核检查清单"]),
        ("zh_Hant", ["允許自助申請", "內建預設值", "everyone", "審核檢查清單"]),
        ("en", ["Self-service application allowed", "Built-in default", "everyone"]),
    ],
)
async def test_explain_page(site: Site, locale: str, words: list[str]) -> None:
    await site.sign_in("admin@a.test")
    site.client.cookies.set(LANG_COOKIE, locale)
    page = await site.client.get("/admin/policies/explain?org=alpha&employee_id=A001")
    assert page.status_code == 200
    for word in words:
        assert word in page.text, word
    assert 'data-setting="checklist"' in page.text
    missing = await site.client.get("/admin/policies/explain?org=alpha&employee_id=Z999")
    assert missing.status_code == 404


async def test_entries_add_and_edit(site: Site) -> None:
    await site.sign_in("admin@a.test")
    site.client.cookies.set(LANG_COOKIE, "en")
    new = "/admin/entries/new?org=alpha"
    bad = await _post_form(
        site,
        new,
        new,
        {"slug": "-bad-", "kind": "portal", "domain": "a.test", "networks": "10.0.0.0/8\nnope"},
    )
    assert bad.status_code == 422
    assert 'id="error-slug"' in bad.text and "nope is not a network" in bad.text
    taken = await _post_form(
        site, new, new, {"slug": "portal", "kind": "portal", "domain": "a.test"}
    )
    assert taken.status_code == 422 and "taken by another entry" in taken.text
    added = await _post_form(
        site,
        new,
        new,
        {
            "slug": "partners",
            "kind": "partner",
            "domain": "a.test",
            "networks": "192.0.2.0/24",
            "landing.en": f"Partners {SCRIPT}",
            "reach_hint.zh_Hans": "请使用合作伙伴 VPN。",
        },
    )
    assert added.status_code == 303, added.text
    listing = await site.client.get("/admin/entries?org=alpha")
    assert 'data-entry="partners"' in listing.text and "192.0.2.0/24" in listing.text
    edit = await site.client.get("/admin/entries/partners")
    assert "&lt;script&gt;" in edit.text and SCRIPT not in edit.text
    saved = await _post_form(
        site,
        "/admin/entries/partners",
        "/admin/entries/partners",
        {"kind": "partner", "domain": "a.test", "networks": "", "landing.en": "Welcome"},
    )
    assert saved.status_code == 303
    entry, _domain, _region = await site.services.entry_points.get(site.root, "partners")
    assert not entry.enabled and entry.networks == () and entry.landing["en"] == "Welcome"
    assert (await site.client.get("/apply/partners")).status_code == 404  # disabled
    await site.sign_in("rev@b.test")
    assert (await site.client.get("/admin/entries/partners")).status_code == 404


async def test_tickets_list_close_and_export(site: Site) -> None:
    await site.services.policies.change(
        site.root, "alpha", "everyone", settings={"self_service": False}
    )
    site.client.cookies.set(LANG_COOKIE, "en")
    assert (await site.apply(name=f"张伟 {SCRIPT}")).status_code == 200
    tickets, _ = await site.services.tickets.list(site.root, "alpha")
    ticket_id = tickets[0].id
    await site.sign_in("desk@a.test")
    listing = await site.client.get("/admin/tickets?org=alpha")
    assert listing.status_code == 200 and f'data-ticket="{ticket_id}"' in listing.text
    assert SCRIPT not in listing.text
    page = f"/admin/tickets/{ticket_id}"
    empty = await _post_form(site, page, f"{page}/close", {"note": " "})
    assert empty.status_code == 422 and "Say in a note" in empty.text
    closed = await _post_form(site, page, f"{page}/close", {"note": "called, account made"})
    assert closed.status_code == 303
    assert "The ticket was closed." in (await site.client.get(closed.headers["location"])).text
    export = await site.client.get("/admin/tickets/export.csv?org=alpha")
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    assert "called, account made" in export.text
    await site.sign_in("reviewer@a.test")
    assert (await site.client.get("/admin/tickets")).status_code == 403
    assert (await site.client.get(page)).status_code == 403


async def test_apply_track_and_approve_on_both_databases(
    services: Services, root: Actor, tmp_path: Path
) -> None:
    """The public path once on SQLite and once on PostgreSQL (the other tests use SQLite)."""
    await _seed(services, root)
    app = create_app(services, Settings(data_dir=tmp_path / "data"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        site = Site(c, services, root, app)
        site.client.cookies.set(LANG_COOKIE, "en")
        fields = {name: SCRIPT if i % 2 else IMG for i, name in enumerate(FREE_TEXT)}
        path = await _tracking_path(site, **fields)
        tracked = await site.client.get(path)
        assert 'id="state">Waiting for the supervisor' in tracked.text
        assert SCRIPT not in tracked.text and "<img src=x" not in tracked.text
        token = await _supervisor_token(site)
        page = await site.client.get(f"/approve/{token}")
        assert SCRIPT not in page.text and "<img src=x" not in page.text
        csrf = _CSRF.search(page.text)
        assert csrf
        done = await site.client.post(
            f"/approve/{token}", data={"csrf_token": csrf.group(1), "decision": "approve"}
        )
        assert done.status_code == 200
        assert 'id="state">Waiting for review' in (await site.client.get(path)).text


async def test_service_desk_entry_has_no_public_form(site: Site) -> None:
    await site.services.entry_points.add(site.root, "alpha", "desk", "ticket", "a.test")
    site.client.cookies.set(LANG_COOKIE, "en")
    landing = await site.client.get("/apply/desk")
    assert landing.status_code == 200 and 'id="start"' not in landing.text
    form = await site.client.get("/apply/desk/form")
    assert form.status_code == 403 and "This entry is for the IT service desk" in form.text
