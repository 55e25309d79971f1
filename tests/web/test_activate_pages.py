"""The /activate pages over httpx's ASGI transport, on both backends: the code form (CSRF, the
same refusal for every bad code), each step page only at its step with "step n of m", the
password rules next to the field, TOTP, the backup contact with its code, the recovery codes
with their confirmation, the welcome page with the mail settings, "continue later" and a
resumed sign-in that lands on the next step."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from mailgate.domain.access import Actor
from mailgate.domain.directory import AccountState
from mailgate.domain.onboarding import ApplicationForm
from mailgate.services.container import Services
from mailgate.web.session import CSRF_FIELD, PRE_SESSION_CSRF_COOKIE, SESSION_COOKIE

from .conftest import BASE_URL

NEW_PW = "a river of tea leaves in autumn"
ADDRESS = "zhangwei@acme.test"
HOME = "e001@home.example"
BACKUP = "zhang.wei@backup.example"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b")
_SIX = re.compile(r"\b(\d{6})\b")
_SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
_FACTOR = re.compile(r'name="factor_id" value="(\d+)"')
ROSTER = (
    "employee_id,name_zh,name_latin,org_unit,position,region,employment_type,supervisor_id,"
    "mobile,status,start_date,end_date\n"
    "E001,张伟,Zhang Wei,研发中心,工程师,,full_time,,,active,,\n"
    "E002,王芳,Wang Fang,研发中心,工程师,,full_time,,,active,,\n"
)


@dataclass
class Page:
    client: httpx.AsyncClient
    services: Services
    root: Actor

    def csrf(self, response: httpx.Response) -> str:
        found = _CSRF.findall(response.text)
        assert found, response.text
        return str(found[-1])

    async def queued(self, address: str) -> list[str]:
        items, _ = await self.services.outbound.list(self.root, limit=500)
        out = []
        for item in items:
            if address in [r.address for r in item.recipients]:
                raw = await self.services.mailstore.read(item.blob_id)
                message = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(message, email.message.EmailMessage)
                body = message.get_body(("plain",))
                assert body is not None
                out.append(f"{message['Subject']}\n{body.get_content()}")
        return out

    async def code_for(self, employee_id: str = "E001") -> str:
        """The activation code the applicant's e-mail got."""
        mails = [
            m for m in await self.queued(f"{employee_id.lower()}@home.example") if "ready" in m
        ]
        return str(_CODE.findall(mails[-1])[0])

    async def post(self, url: str, data: dict[str, str], csrf: str) -> httpx.Response:
        return await self.client.post(url, data={**data, CSRF_FIELD: csrf})


async def provision(services: Services, root: Actor, employee_id: str, second_factor: bool) -> None:
    await services.policies.change(
        root, "acme", "everyone", settings={"second_factor_required": second_factor}
    )
    form = ApplicationForm(
        employee_id=employee_id,
        name={"E001": "张伟", "E002": "王芳"}[employee_id],
        department="研发中心",
        purpose="工作邮件",
        contact_email=f"{employee_id.lower()}@home.example",
        language="en",
    )
    filed = await services.applications.file("apply", form, [], client_ip="10.0.0.1")
    assert filed.application is not None


@pytest.fixture
async def page(services: Services, root: Actor, app: FastAPI) -> AsyncIterator[Page]:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    await services.roster.import_csv(root, "acme", ROSTER.encode())
    await services.policies.add(
        root, "acme", "everyone", position=100,
        settings={"auto_approve_on_roster_match": True, "approval_chain": ["it"]},
    )  # fmt: skip
    await services.entry_points.add(root, "acme", "apply", "portal", "acme.test")
    headers = {"accept-language": "en"}
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as c:
        yield Page(c, services, root)
    await services.alerts.drain()  # "new device" notices of the sign-ins, before the database


async def start(p: Page, code: str, address: str = ADDRESS) -> httpx.Response:
    form = await p.client.get("/activate")
    assert form.status_code == 200 and "Activate your mailbox" in form.text
    assert p.client.cookies.get(PRE_SESSION_CSRF_COOKIE)
    return await p.post("/activate", {"address": address, "code": code}, p.csrf(form))


async def test_the_whole_first_login_in_the_pages(page: Page) -> None:
    p = page
    await provision(p.services, p.root, "E001", second_factor=True)
    code = await p.code_for()

    form = await p.client.get("/activate")
    refused = await p.client.post("/activate", data={"address": ADDRESS, "code": code})
    assert refused.status_code == 403  # no CSRF token
    wrong = await p.post("/activate", {"address": ADDRESS, "code": "ABCD-EFGH-JKMN"}, p.csrf(form))
    unknown = await p.post("/activate", {"address": "nobody@acme.test", "code": code}, p.csrf(form))
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "The address or the activation code is not correct" in response.text
    assert wrong.text.count("activate-error") == unknown.text.count("activate-error") == 1

    started = await start(p, code)
    assert started.status_code == 303 and started.headers["location"] == "/activate/continue"
    assert p.client.cookies.get(SESSION_COOKIE)
    step = await p.client.get("/activate/continue")
    assert step.headers["location"] == "/activate/password"
    # a later step's page sends the browser back to where it stands
    for later in (
        "/activate/second-factor",
        "/activate/recovery-contact",
        "/activate/recovery-codes",
    ):
        assert (await p.client.get(later)).headers["location"] == "/activate/continue"
    # and so do ordinary account pages: the activation session is not a sign-in
    assert (await p.client.get("/account")).status_code == 303

    password = await p.client.get("/activate/password")
    assert password.status_code == 200
    assert "Step 1 of 4" in password.text and 'aria-current="step"' in password.text
    assert "At least 15 characters" in password.text
    assert "Not your name, its pinyin, your employee ID or your mail address." in password.text
    csrf = p.csrf(password)
    assert (
        await p.client.post("/activate/password", data={"new_password": NEW_PW})
    ).status_code == 403
    differs = await p.post(
        "/activate/password", {"new_password": NEW_PW, "repeat_password": NEW_PW + "!"}, csrf
    )
    assert differs.status_code == 422 and "The two new passwords are not the same." in differs.text
    weak = await p.post(
        "/activate/password", {"new_password": "zhangwei", "repeat_password": "zhangwei"}, csrf
    )
    assert weak.status_code == 422 and 'id="password-problems"' in weak.text
    done = await p.post(
        "/activate/password", {"new_password": NEW_PW, "repeat_password": NEW_PW}, csrf
    )
    assert done.headers["location"] == "/activate/continue"

    factor = await p.client.get("/activate/second-factor")
    assert "Step 2 of 4" in factor.text and 'id="totp-start"' in factor.text
    assert 'data-webauthn="create"' in factor.text  # the default policy offers both
    enrol = await p.post("/activate/second-factor/totp", {}, p.csrf(factor))
    assert enrol.status_code == 200 and "<svg" in enrol.text
    secret, factor_id = _SECRET.findall(enrol.text)[0], _FACTOR.findall(enrol.text)[0]
    totp = pyotp.TOTP(secret)
    bad = await p.post(
        "/activate/second-factor/totp/confirm",
        {"factor_id": factor_id, "code": "000000" if totp.now() != "000000" else "111111"},
        p.csrf(enrol),
    )
    assert bad.status_code == 422 and "The code is not correct" in bad.text
    assert secret not in bad.text  # the key is shown once
    ok = await p.post(
        "/activate/second-factor/totp/confirm",
        {"factor_id": factor_id, "code": totp.now()},
        p.csrf(enrol),
    )
    assert ok.headers["location"] == "/activate/continue"

    contact = await p.client.get("/activate/recovery-contact")
    assert "Step 3 of 4" in contact.text and 'name="kind" value="email"' in contact.text
    own = await p.post(
        "/activate/recovery-contact", {"kind": "email", "value": ADDRESS}, p.csrf(contact)
    )
    assert own.status_code == 422 and "another mailbox" in own.text
    added = await p.post(
        "/activate/recovery-contact", {"kind": "email", "value": BACKUP}, p.csrf(contact)
    )
    assert added.status_code == 303 and "sent=1" in added.headers["location"]
    waiting = await p.client.get(added.headers["location"])
    assert "A 6-digit code is on its way." in waiting.text and BACKUP in waiting.text
    verify = re.findall(r'action="(/activate/recovery-contact/\d+/verify)"', waiting.text)[0]
    wrong_code = await p.post(verify, {"code": "12345"}, p.csrf(waiting))
    assert wrong_code.status_code == 422 and "Enter the 6 digits of the code." in wrong_code.text
    (mail,) = await p.queued(BACKUP)
    verified = await p.post(verify, {"code": _SIX.findall(mail)[-1]}, p.csrf(waiting))
    assert verified.headers["location"] == "/activate/continue"

    intro = await p.client.get("/activate/recovery-codes")
    assert "Step 4 of 4" in intro.text and 'id="codes-form"' in intro.text
    unsaved = await p.post("/activate/finish", {}, p.csrf(intro))
    assert unsaved.status_code == 422 and 'id="codes-error"' in unsaved.text
    shown = await p.post("/activate/recovery-codes", {}, p.csrf(intro))
    codes = re.findall(r"<li><code>([^<]+)</code></li>", shown.text)
    assert len(codes) == 10 and 'name="saved" value="yes"' in shown.text
    restricted_cookie = p.client.cookies.get(SESSION_COOKIE)
    finished = await p.post("/activate/finish", {"saved": "yes"}, p.csrf(shown))
    assert finished.headers["location"] == "/activate/done"
    assert p.client.cookies.get(SESSION_COOKIE) != restricted_cookie  # a new session id

    welcome = await p.client.get("/activate/done")
    assert welcome.status_code == 200 and "Your mailbox is ready" in welcome.text
    assert 'href="/account/app-passwords"' in welcome.text
    assert 'data-protocol="imap"' in welcome.text and '<td class="num">2993</td>' in welcome.text
    account = await p.services.accounts.get(p.root, ADDRESS)
    assert account.state is AccountState.ACTIVE
    # the full session reaches the account pages; /activate/continue has nothing left to do
    assert (await p.client.get("/account")).status_code == 200
    assert (await p.client.get("/activate/continue")).headers["location"] == "/account"
    # and the welcome page is for signed-in people only
    p.client.cookies.clear()
    assert (await p.client.get("/activate/done")).status_code == 303


async def test_continue_later_then_sign_in_lands_on_the_next_step(page: Page) -> None:
    p = page
    await provision(p.services, p.root, "E001", second_factor=False)
    await start(p, await p.code_for())
    password = await p.client.get("/activate/password")
    assert "Step 1 of 2" in password.text
    await p.post(
        "/activate/password", {"new_password": NEW_PW, "repeat_password": NEW_PW}, p.csrf(password)
    )
    contact = await p.client.get("/activate/recovery-contact")
    assert "Step 2 of 2" in contact.text and "Continue later" in contact.text
    later = await p.post("/activate/later", {}, p.csrf(contact))
    assert later.headers["location"] == "/admin/signin"
    gone = await p.client.get("/activate/recovery-contact")
    assert gone.headers["location"] == "/activate?again=expired"
    again = await p.client.get(gone.headers["location"])
    assert "Your activation session has ended." in again.text

    # the code was used: signing in with the new password resumes at the next step
    sign_in = await p.client.get("/admin/signin")
    resumed = await p.post(
        "/admin/signin", {"address": ADDRESS, "password": NEW_PW}, p.csrf(sign_in)
    )
    assert resumed.headers["location"] == "/activate/continue"
    step = await p.client.get("/activate/continue")
    assert step.headers["location"] == "/activate/recovery-contact"
    contact = await p.client.get("/activate/recovery-contact")
    added = await p.post(
        "/activate/recovery-contact", {"kind": "email", "value": BACKUP}, p.csrf(contact)
    )
    waiting = await p.client.get(added.headers["location"])
    verify = re.findall(r'action="(/activate/recovery-contact/\d+/verify)"', waiting.text)[0]
    (mail,) = await p.queued(BACKUP)
    verified = await p.post(verify, {"code": _SIX.findall(mail)[-1]}, p.csrf(waiting))
    assert verified.headers["location"] == "/activate/continue"
    # no second factor: no recovery codes either, the last step leads straight to the welcome
    finished = await p.client.get("/activate/continue")
    assert finished.headers["location"] == "/activate/done"
    welcome = await p.client.get("/activate/done")
    assert "the password you just chose" in welcome.text and "app-password-step" not in welcome.text


async def test_the_pages_speak_chinese(page: Page) -> None:
    p = page
    await provision(p.services, p.root, "E002", second_factor=False)
    p.client.headers["accept-language"] = "zh-CN"
    form = await p.client.get("/activate")
    assert "激活您的邮箱" in form.text and "激活码" in form.text
    await p.post(
        "/activate",
        {"address": "wangfang@acme.test", "code": await p.code_for("E002")},
        p.csrf(form),
    )
    password = await p.client.get("/activate/password")
    assert "第 1 步，共 2 步" in password.text and "至少 15 个字符" in password.text
    p.client.headers["accept-language"] = "zh-TW"
    password = await p.client.get("/activate/password")
    assert "第 1 步，共 2 步" in password.text and "設定密碼" in password.text


async def test_guessing_codes_is_throttled_like_signing_in(page: Page) -> None:
    p = page
    await provision(p.services, p.root, "E001", second_factor=False)
    form = await p.client.get("/activate")
    csrf = p.csrf(form)
    free = p.services.authentication.limiter.policy.ip_free_failures
    for _ in range(free):
        refused = await p.post("/activate", {"address": ADDRESS, "code": "ABCD EFGH JKMN"}, csrf)
        assert refused.status_code == 401
    waiting = await p.post("/activate", {"address": ADDRESS, "code": await p.code_for()}, csrf)
    assert waiting.status_code == 429
    assert "Too many failed attempts from your network. Wait 1 min, then try again." in waiting.text
