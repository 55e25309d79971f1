"""The review workflow on both backends: routing (supervisor link, review, automatic approval),
the supervisor's single-use link (forged, expired, reused, outdated), decisions in the portal
with four-eyes rules and the checklist, the needs-information loop resuming at the stage that
asked, expiry and reminders under a controllable clock, a full account pool at the final
approval, the reviewer's queue, and the notices each step sends (the supervisor's INBOX holds
the link; the applicant's contact gets the activation code)."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.conftest import FAST_HASHER
from tests.test_services_roster import csv_bytes

from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import AccountState, RequiredAction
from mailgate.domain.errors import (
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    PoolExhausted,
)
from mailgate.domain.onboarding import (
    Application,
    ApplicationForm,
    ApplicationState,
    RosterCheck,
    Step,
)
from mailgate.domain.recovery import CodePurpose, code_digest
from mailgate.services.applications import Filed
from mailgate.services.container import Services
from mailgate.services.factors import FactorConfig
from mailgate.services.policies import SelectorSpec
from mailgate.services.provisioning import normalise_activation_code
from mailgate.services.recovery import code_key
from mailgate.services.sms import FileSmsSender
from mailgate.services.workflow import LinkExpired, LinkOutdated, LinkUsed
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.tables import audit_events, one_time_codes
from mailgate.storage.uow import SqlUnitOfWorkFactory

PW = "correct horse battery staple"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = b"s" * 32
CHECK = "work ID matches the roster photo"
IP = "10.1.2.3"
_LINK = re.compile(r"/approve/([A-Za-z0-9_-]{43})")
_CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b")
ROSTER = (
    "E100,李娜,Li Na,研发中心,部门经理,,full_time,,,active,,",
    "E200,王芳,Wang Fang,信息技术部,工程师,,full_time,E100,,active,,",
    "E300,赵磊,Zhao Lei,信息技术部,工程师,,full_time,E100,,active,,",
    "E400,周杰,Zhou Jie,研发中心,经理,,full_time,,,active,,",
    "E001,张伟,Zhang Wei,研发中心,工程师,,full_time,E100,,active,,",
    "E002,欧阳子涵,Ouyang Zihan,研发中心,工程师,,full_time,E100,,active,,",
    "E003,陈静,Chen Jing,研发中心,工程师,,full_time,E999,,active,,",
    "E004,刘洋,Liu Yang,信息技术部,工程师,,full_time,E200,,active,,",
    "E005,孙丽,Sun Li,研发中心,工程师,,full_time,E400,,active,,",
)
PEOPLE = {
    "E001": "张伟",
    "E002": "欧阳子涵",
    "E003": "陈静",
    "E004": "刘洋",
    "E005": "孙丽",
    "E200": "王芳",
}


class Clock:
    """The Clock port under the test's control."""

    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


@dataclass
class World:
    s: Services
    db: Database
    clock: Clock
    sms: FileSmsSender
    root: Actor
    boss: Actor  # li.na, E100: supervisor of most applicants
    it: Actor  # wang.fang, E200: reviewer
    it2: Actor  # zhao.lei, E300: reviewer
    desk: Actor  # helpdesk: no review rights
    other: Actor  # admin of another organisation

    async def apply(self, employee_id: str, **changes: object) -> Filed:
        values: dict[str, object] = {
            "employee_id": employee_id,
            "name": PEOPLE[employee_id],
            "department": "研发中心",
            "purpose": "日常工作邮件",
            "contact_email": f"{employee_id.lower()}@home.example",
            "mobile": "13800138001",
            "language": "zh_Hans",
        }
        values.update(changes)
        form = ApplicationForm(**values)  # type: ignore[arg-type]
        return await self.s.applications.file("apply", form, [], client_ip=IP)

    async def inbox(self, address: str) -> list[str]:
        """Subject and body of every message in the INBOX, oldest first."""
        found, _ = await self.s.mailstore.messages(self.root, address)
        return [text(await self.s.mailstore.read(m.blob_id)) for m in found]

    async def queued_to(self, address: str) -> list[str]:
        items, _ = await self.s.outbound.list(self.root, limit=500)
        return [
            text(await self.s.mailstore.read(item.blob_id))
            for item in items
            if address in [r.address for r in item.recipients]
        ]

    def sms_to(self, phone: str) -> list[str]:
        return [m["text"] for m in self.sms.messages() if m["to"] == phone]

    async def link(self, address: str = "li.na@acme.test") -> str:
        """The token of the newest approval link in the mailbox."""
        found = _LINK.findall("\n".join(await self.inbox(address)))
        assert found, "no approval link in the INBOX"
        return str(found[-1])

    async def get(self, application_id: int) -> Application:
        async with self.s.workflow.uow(write=False) as uow:
            app = await uow.applications.get(application_id)
        assert app is not None
        return app

    async def timeline(self, application_id: int) -> list[tuple[Step | None, str, str]]:
        async with self.s.workflow.uow(write=False) as uow:
            found = await uow.applications.decisions(application_id)
        return [(d.step, d.actor, d.comment) for d in found]


def text(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return f"{message['Subject']}\n{body.get_content()}"


@pytest.fixture
async def w(database: Database, tmp_path: Path, root: Actor) -> World:
    clock = Clock()
    sms = FileSmsSender(tmp_path / "sms.jsonl")
    s = Services.build(
        SqlUnitOfWorkFactory(database),
        clock,
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        factors=FactorConfig(secret_key=SECRET),
        sms=sms,
        portal_url="https://mail.acme.test",
    )
    await s.organisations.create(root, "acme", "Acme 公司")
    await s.organisations.add_domain(root, "acme", "acme.test")
    await s.roster.import_csv(root, "acme", csv_bytes(*ROSTER))
    for address, employee_id in (
        ("li.na@acme.test", "E100"),
        ("wang.fang@acme.test", "E200"),
        ("zhao.lei@acme.test", "E300"),
    ):
        await s.accounts.create(
            root, address, password=PW, skip_first_login=True, employee_id=employee_id
        )
    for address in ("wang.fang@acme.test", "zhao.lei@acme.test"):
        await s.accounts.grant_role(root, address, Role.REVIEWER, "acme")
    await s.accounts.create(root, "desk@acme.test", password=PW, skip_first_login=True)
    await s.accounts.grant_role(root, "desk@acme.test", Role.HELPDESK, "acme")
    await s.organisations.create(root, "beta", "Beta")
    await s.organisations.add_domain(root, "beta", "beta.test")
    await s.accounts.create(root, "admin@beta.test", password=PW, skip_first_login=True)
    await s.accounts.grant_role(root, "admin@beta.test", Role.ORG_ADMIN, "beta")
    await s.policies.add(
        root, "acme", "everyone", position=100,
        settings={"approval_chain": ["supervisor", "it"], "checklist": [CHECK],
                  "decision_days": 14, "reminder_hours": 48},
    )  # fmt: skip
    await s.entry_points.add(root, "acme", "apply", "portal", "acme.test")
    act = s.identity.act_as
    return World(
        s,
        database,
        clock,
        sms,
        root,
        await act("li.na@acme.test"),
        await act("wang.fang@acme.test"),
        await act("zhao.lei@acme.test"),
        await act("desk@acme.test"),
        await act("admin@beta.test"),
    )


async def filed(w: World, employee_id: str = "E001", **changes: object) -> Application:
    result = await w.apply(employee_id, **changes)
    assert result.application is not None
    return await w.get(result.application.id)


# --- the whole way ------------------------------------------------------------------------------


async def test_supervisor_link_then_it_review_provisions_the_account(w: World) -> None:
    app = await filed(w)
    assert app.state is ApplicationState.AWAITING_SUPERVISOR
    assert (app.waiting_for, app.stage, app.roster_checks) == (
        "supervisor",
        0,
        (RosterCheck.MATCH,),
    )
    request = (await w.inbox("li.na@acme.test"))[-1]
    assert "请审批 张伟（E001）的邮箱申请" in request and "日常工作邮件" in request
    token = await w.link()

    # the link's page does not spend it
    for _ in range(2):
        assert (await w.s.workflow.supervisor_view(token)).id == app.id
    after = await w.s.workflow.supervisor_decide(token, True, "同意", IP)
    assert (after.state, after.waiting_for, after.stage) == (
        ApplicationState.AWAITING_REVIEW,
        "it",
        1,
    )
    with pytest.raises(LinkUsed):
        await w.s.workflow.supervisor_decide(token, True, "", IP)
    with pytest.raises(LinkUsed):
        await w.s.workflow.supervisor_view(token)
    for reviewer in ("wang.fang@acme.test", "zhao.lei@acme.test"):
        mail = (await w.inbox(reviewer))[-1]
        assert "等待您审核" in mail and f"/admin/applications/{app.id}" in mail
        assert "与员工名册一致" in mail

    # IT: the checklist must be ticked, the ticks are kept
    with pytest.raises(InvalidInput, match="tick every checklist item"):
        await w.s.workflow.decide(w.it, app.id, "approve", "", {})
    with pytest.raises(InvalidInput, match="not on this application's checklist"):
        await w.s.workflow.decide(w.it, app.id, "approve", "", {CHECK: True, "made up": True})
    done = await w.s.workflow.decide(w.it, app.id, "approve", "看过工牌", {CHECK: True})
    assert done.state is ApplicationState.APPROVED and done.account_id is not None
    timeline = await w.timeline(app.id)
    assert [step for step, _, _ in timeline] == [
        Step.SUBMIT,
        Step.ROUTE_TO_SUPERVISOR,
        Step.SUPERVISOR_APPROVE,
        Step.FINAL_APPROVE,
    ]
    assert timeline[2][1] == "supervisor:E100" and timeline[3][1] == "wang.fang@acme.test"
    async with w.s.workflow.uow(write=False) as uow:
        decisions = await uow.applications.decisions(app.id)
        account = await uow.accounts.get(done.account_id)
    assert decisions[-1].checklist == {CHECK: True}
    assert decisions[2].actor_account_id is not None  # the supervisor's account

    # the account waits for its first login; the applicant's contact has the code
    assert account is not None
    assert (account.address, account.state) == (
        "zhangwei@acme.test",
        AccountState.PENDING_ACTIVATION,
    )
    assert account.required_actions == [
        RequiredAction.SET_PASSWORD,
        RequiredAction.VERIFY_RECOVERY_CONTACT,
    ]
    (approved,) = [m for m in await w.queued_to("e001@home.example") if "已开通" in m]
    assert "zhangwei@acme.test" in approved and "https://mail.acme.test/activate" in approved
    code = _CODE.findall(approved)[0]
    assert any(code in t for t in w.sms_to("+8613800138001"))
    canonical = normalise_activation_code(code)
    assert canonical is not None
    async with w.db.reader.connect() as conn:
        rows = (await conn.execute(select(one_time_codes))).mappings().all()
        audit = " ".join(
            str(dict(r)) for r in (await conn.execute(select(audit_events))).mappings()
        )
    (row,) = [r for r in rows if r["purpose"] == CodePurpose.ACTIVATION.value]
    assert row["digest"] == code_digest(
        code_key(SECRET), CodePurpose.ACTIVATION, account.id, canonical
    )
    assert row["expires_at"] == T0 + timedelta(hours=72)
    assert canonical not in audit and code not in audit
    for action in ("application.route_to_supervisor", "application.supervisor_approve",
                   "application.final_approve", "account.provision"):  # fmt: skip
        assert action in audit

    # nothing more can be decided
    with pytest.raises(InvalidTransition):
        await w.s.workflow.decide(w.it2, app.id, "reject", "too late", {})
    with pytest.raises(InvalidTransition):
        await w.s.workflow.route(app.id)


async def test_supervisor_link_forged_expired_and_outdated(w: World) -> None:
    app = await filed(w)
    token = await w.link()
    for forged in ("", "x" * 43, token[:-1] + ("A" if token[-1] != "A" else "B"), "y" * 500):
        with pytest.raises(NotFound, match="not valid"):
            await w.s.workflow.supervisor_view(forged)
        with pytest.raises(NotFound):
            await w.s.workflow.supervisor_decide(forged, True, "", IP)
    w.clock.advance(days=14, seconds=1)
    with pytest.raises(LinkExpired):
        await w.s.workflow.supervisor_view(token)
    with pytest.raises(LinkExpired):
        await w.s.workflow.supervisor_decide(token, True, "", IP)
    assert (await w.get(app.id)).state is ApplicationState.AWAITING_SUPERVISOR

    # a fresh application: the supervisor decides in the portal, the link is then outdated
    w.clock.advance(days=1)
    await w.s.workflow.expire_overdue()
    second = await filed(w)
    token = await w.link()
    await w.s.workflow.decide(w.boss, second.id, "approve", "", {})
    with pytest.raises(LinkOutdated, match="no longer waits"):
        await w.s.workflow.supervisor_decide(token, True, "", IP)


async def test_supervisor_rejects_with_a_reason_and_the_applicant_is_told(w: World) -> None:
    await filed(w, "E002", language="en")
    token = await w.link()
    with pytest.raises(InvalidInput, match="reason"):
        await w.s.workflow.supervisor_decide(token, False, "  ", IP)
    # the failed attempt did not spend the link
    rejected = await w.s.workflow.supervisor_decide(token, False, "不是本部门员工", IP)
    assert rejected.state is ApplicationState.REJECTED
    assert rejected.decision_reason == "不是本部门员工" and rejected.decided_at == T0
    (mail,) = [m for m in await w.queued_to("e002@home.example") if "not approved" in m]
    assert "Reason: 不是本部门员工" in mail
    assert any("不是本部门员工" in t for t in w.sms_to("+8613800138001"))


# --- who may decide -----------------------------------------------------------------------------


async def test_permissions_on_each_stage(w: World) -> None:
    app = await filed(w)
    # the supervisor stage: only the supervisor, in the portal too
    with pytest.raises(PermissionDenied, match="supervisor"):
        await w.s.workflow.decide(w.it, app.id, "approve", "", {CHECK: True})
    for stranger in (w.desk, w.other):
        with pytest.raises(NotFound):
            await w.s.workflow.decide(stranger, app.id, "approve", "", {})
    with pytest.raises(NotFound):
        await w.s.workflow.decide(w.it, 999_999, "approve", "", {})
    with pytest.raises(InvalidInput, match="unknown decision"):
        await w.s.workflow.decide(w.boss, app.id, "maybe", "", {})
    await w.s.workflow.decide(w.boss, app.id, "approve", "", {})
    # the IT stage: reviewers, not the supervisor who has no review role
    with pytest.raises(PermissionDenied):
        await w.s.workflow.decide(w.boss, app.id, "approve", "", {CHECK: True})
    with pytest.raises(NotFound):
        await w.s.workflow.decide(w.desk, app.id, "reject", "no", {})
    with pytest.raises(InvalidTransition):
        await w.s.workflow.route(app.id)


async def test_four_eyes_the_supervisor_may_not_also_review(w: World) -> None:
    app = await filed(w, "E004", department="信息技术部")  # 刘洋: supervisor E200 = 王芳 (IT)
    assert app.waiting_for == "supervisor"
    assert [a.id for a in (await w.s.workflow.queue(w.it, None, None, "", 0, 50))[0]] == [app.id]
    await w.s.workflow.decide(w.it, app.id, "approve", "", {})
    assert (await w.get(app.id)).waiting_for == "it"
    with pytest.raises(PermissionDenied, match="supervisor who authorised"):
        await w.s.workflow.decide(w.it, app.id, "approve", "", {CHECK: True})
    assert (await w.s.workflow.queue(w.it, None, None, "", 0, 50)) == ([], 0)
    assert [a.id for a in (await w.s.workflow.queue(w.it2, None, "it", "", 0, 50))[0]] == [app.id]
    done = await w.s.workflow.decide(w.it2, app.id, "approve", "", {CHECK: True})
    assert done.state is ApplicationState.APPROVED


async def test_nobody_decides_on_their_own_application(w: World) -> None:
    await w.s.policies.add(
        w.root, "acme", "it staff", position=10, selector=SelectorSpec(unit="信息技术部"),
        settings={"approval_chain": ["it"]},
    )  # fmt: skip
    app = await filed(w, "E200", department="信息技术部")  # 王芳 applies (a second mailbox)
    assert (app.state, app.waiting_for) == (ApplicationState.AWAITING_REVIEW, "it")
    with pytest.raises(PermissionDenied, match="own application"):
        await w.s.workflow.decide(w.it, app.id, "approve", "", {CHECK: True})
    assert (await w.s.workflow.queue(w.it, "acme", None, "", 0, 50)) == ([], 0)
    assert (await w.s.workflow.decide(w.it2, app.id, "approve", "", {CHECK: True})).account_id


# --- routing ------------------------------------------------------------------------------------


async def test_a_supervisor_without_a_mailbox_is_skipped_and_the_timeline_says_why(
    w: World,
) -> None:
    not_on_roster = await filed(w, "E003")
    assert (not_on_roster.state, not_on_roster.stage) == (ApplicationState.AWAITING_REVIEW, 1)
    no_mailbox = await filed(w, "E005")
    assert no_mailbox.waiting_for == "it"
    comments = [c for _, _, c in await w.timeline(not_on_roster.id)]
    assert "supervisor stage skipped: the supervisor E999 is not on the roster" in comments
    comments = [c for _, _, c in await w.timeline(no_mailbox.id)]
    assert "supervisor stage skipped: the supervisor E400 has no active mailbox here" in comments
    assert await w.inbox("li.na@acme.test") == []


async def test_a_chain_of_only_the_supervisor_gets_an_it_stage_when_skipped(w: World) -> None:
    await w.s.policies.change(
        w.root, "acme", "everyone", settings={"approval_chain": ["supervisor"]}
    )
    app = await filed(w, "E003")
    assert (app.approval_chain, app.waiting_for) == (("supervisor", "it"), "it")
    # and a supervisor-only chain ends with the supervisor's approval
    direct = await filed(w, "E001")
    done = await w.s.workflow.supervisor_decide(await w.link(), True, "", IP)
    assert done.id == direct.id and done.state is ApplicationState.APPROVED


async def test_automatic_approval_on_a_clean_roster_match(w: World) -> None:
    await w.s.policies.change(
        w.root, "acme", "everyone", settings={"auto_approve_on_roster_match": True}
    )
    app = await filed(w)
    assert app.state is ApplicationState.APPROVED and app.account_id is not None
    assert [s for s, _, _ in await w.timeline(app.id)] == [Step.SUBMIT, Step.AUTO_APPROVE]
    assert await w.inbox("li.na@acme.test") == []
    # a mismatch is for a person to look at
    flagged = await filed(w, "E002", name="欧阳紫涵")
    assert flagged.roster_checks == (RosterCheck.NAME_MISMATCH,)
    assert flagged.state is ApplicationState.AWAITING_SUPERVISOR


async def test_pool_exhausted_at_the_final_approval(w: World) -> None:
    app = await filed(w)
    await w.s.workflow.decide(w.boss, app.id, "approve", "", {})
    used = len((await w.s.accounts.search(w.root, org_slug="acme"))[0])
    await w.s.organisations.update(w.root, "acme", account_pool_limit=used)
    with pytest.raises(PoolExhausted, match="pool is exhausted"):
        await w.s.workflow.decide(w.it, app.id, "approve", "", {CHECK: True})
    still = await w.get(app.id)
    assert (still.state, still.waiting_for, still.account_id) == (
        ApplicationState.AWAITING_REVIEW,
        "it",
        None,
    )
    assert any("approval failed" in c and "pool" in c for _, _, c in await w.timeline(app.id))
    assert (await w.s.accounts.search(w.root, org_slug="acme"))[1] == used
    await w.s.organisations.update(w.root, "acme", account_pool_limit=used + 1)
    assert (await w.s.workflow.decide(w.it, app.id, "approve", "", {CHECK: True})).account_id

    # automatic approval with a full pool falls back to people
    await w.s.policies.change(
        w.root, "acme", "everyone", settings={"auto_approve_on_roster_match": True}
    )
    waiting = await filed(w, "E002")
    assert waiting.state is ApplicationState.AWAITING_SUPERVISOR
    assert any("automatic approval failed" in c for _, _, c in await w.timeline(waiting.id))


# --- the needs-information loop -----------------------------------------------------------------


async def test_needs_information_resumes_at_the_stage_that_asked(w: World) -> None:
    result = await w.apply("E001")
    assert result.application is not None
    app_id, token = result.application.id, result.tracking_token
    await w.s.workflow.decide(w.boss, app_id, "approve", "", {})
    with pytest.raises(InvalidInput, match="question"):
        await w.s.workflow.decide(w.it, app_id, "ask_information", "", {})
    asked = await w.s.workflow.decide(w.it, app_id, "ask_information", "请上传工牌照片", {})
    assert (asked.state, asked.stage) == (ApplicationState.NEEDS_INFORMATION, 1)
    (question,) = [m for m in await w.queued_to("e001@home.example") if "补充信息" in m]
    assert "请上传工牌照片" in question
    with pytest.raises(InvalidTransition):
        await w.s.workflow.decide(w.it, app_id, "approve", "", {CHECK: True})
    links_before = len(await w.inbox("li.na@acme.test"))

    form = ApplicationForm(
        employee_id="E001", name="张伟", department="研发中心", purpose="日常工作邮件，已补充",
        contact_email="e001@home.example", mobile="13800138001",
    )  # fmt: skip
    again = await w.s.applications.resubmit(token, form, [])
    assert (again.state, again.waiting_for, again.stage) == (
        ApplicationState.AWAITING_REVIEW,
        "it",
        1,
    )
    assert len(await w.inbox("li.na@acme.test")) == links_before  # no new supervisor link
    steps = [s for s, _, _ in await w.timeline(app_id)]
    assert steps[-3:] == [Step.ASK_INFORMATION, Step.RESUBMIT, Step.ROUTE_TO_REVIEW]

    # asked at the supervisor stage: back to the supervisor, with a new link
    second = await w.apply("E002")
    assert second.application is not None
    await w.s.workflow.decide(w.boss, second.application.id, "ask_information", "用途是什么？", {})
    form = ApplicationForm(
        employee_id="E002", name="欧阳子涵", department="研发中心", purpose="项目沟通",
        contact_email="e002@home.example",
    )  # fmt: skip
    back = await w.s.applications.resubmit(second.tracking_token, form, [])
    assert (back.state, back.stage) == (ApplicationState.AWAITING_SUPERVISOR, 0)
    assert (await w.s.workflow.supervisor_view(await w.link())).id == back.id


# --- time ---------------------------------------------------------------------------------------


async def test_expiry_auto_denies_and_tells_the_applicant_and_approvers(w: World) -> None:
    app = await filed(w)
    later = await filed(w, "E002")
    assert await w.s.workflow.expire_overdue() == 0
    w.clock.advance(days=14, seconds=1)
    # the second one is one minute younger: still within its time
    async with w.s.workflow.uow() as uow:
        young = await uow.applications.get(later.id)
        assert young is not None
        young.deadline = w.clock.now() + timedelta(minutes=1)
        await uow.applications.update(young)
        await uow.commit()
    assert await w.s.workflow.expire_overdue() == 1
    expired = await w.get(app.id)
    assert (expired.state, expired.decided_at) == (ApplicationState.EXPIRED, w.clock.now())
    assert [s for s, _, _ in await w.timeline(app.id)][-1] is Step.EXPIRE
    assert any("已过期" in m for m in await w.queued_to("e001@home.example"))
    assert any("已过期" in m and "张伟" in m for m in await w.inbox("li.na@acme.test"))
    assert await w.s.workflow.expire_overdue() == 0
    with pytest.raises(InvalidTransition):
        await w.s.workflow.decide(w.boss, app.id, "approve", "", {})
    w.clock.advance(minutes=2)
    assert await w.s.workflow.expire_overdue() == 1
    assert (await w.get(later.id)).state is ApplicationState.EXPIRED


async def test_reminders_once_per_period(w: World) -> None:
    app = await filed(w)
    first = await w.link()
    w.clock.advance(hours=47)
    assert await w.s.workflow.send_reminders() == 0
    w.clock.advance(hours=2)
    assert await w.s.workflow.send_reminders() == 1
    reminder = (await w.inbox("li.na@acme.test"))[-1]
    assert "提醒" in reminder and "48 小时" in reminder
    second = await w.link()
    assert second != first
    assert await w.s.workflow.send_reminders() == 0  # once per period
    w.clock.advance(hours=47)
    assert await w.s.workflow.send_reminders() == 0
    w.clock.advance(hours=2)
    assert await w.s.workflow.send_reminders() == 1
    # the reminder's link works; the application moves to IT, whose reviewers are reminded later
    await w.s.workflow.supervisor_decide(second, True, "", IP)
    with pytest.raises(LinkOutdated):
        await w.s.workflow.supervisor_decide(first, True, "", IP)
    before = len(await w.inbox("wang.fang@acme.test"))
    w.clock.advance(hours=49)
    assert await w.s.workflow.send_reminders() == 1
    mails = await w.inbox("wang.fang@acme.test")
    assert len(mails) == before + 1 and "等待IT审批" in mails[-1]
    assert (await w.get(app.id)).reminded_at == w.clock.now()


async def test_routing_retries_applications_left_submitted(w: World) -> None:
    app = await filed(w)
    async with w.s.workflow.uow() as uow:  # as if routing had failed after filing
        stuck = await uow.applications.get(app.id)
        assert stuck is not None
        stuck.state, stuck.stage = ApplicationState.SUBMITTED, 0
        await uow.applications.update(stuck)
        await uow.commit()
    assert await w.s.workflow.route_stranded() == 0  # too young: filing may still route it
    w.clock.advance(minutes=6)
    assert await w.s.workflow.sweep() == (0, 0, 1)
    assert (await w.get(app.id)).state is ApplicationState.AWAITING_SUPERVISOR


# --- the reviewer's queue -----------------------------------------------------------------------


async def test_queue_filters_and_scope(w: World) -> None:
    first = await filed(w, "E003")  # straight to IT
    w.clock.advance(minutes=1)
    second = await filed(w, "E005")  # straight to IT
    w.clock.advance(minutes=1)
    third = await filed(w, "E001")  # waits for li.na
    queue = w.s.workflow.queue
    assert [a.id for a in (await queue(w.it, None, None, "", 0, 50))[0]] == [first.id, second.id]
    page, total = await queue(w.it, "acme", "it", "", 1, 1)
    assert ([a.id for a in page], total) == ([second.id], 2)
    assert [a.id for a in (await queue(w.it, None, None, "孙丽", 0, 50))[0]] == [second.id]
    assert [a.id for a in (await queue(w.it, None, None, "e003", 0, 50))[0]] == [first.id]
    assert (await queue(w.it, None, "supervisor", "", 0, 50)) == ([], 0)
    assert [a.id for a in (await queue(w.boss, None, None, "", 0, 50))[0]] == [third.id]
    assert [a.id for a in (await queue(w.boss, "acme", "supervisor", "", 0, 50))[0]] == [third.id]
    assert (await queue(w.desk, None, None, "", 0, 50)) == ([], 0)
    assert (await queue(w.other, None, None, "", 0, 50)) == ([], 0)
    with pytest.raises(NotFound):
        await queue(w.other, "acme", None, "", 0, 50)
    with pytest.raises(InvalidInput, match="unknown stage"):
        await queue(w.it, None, "boss", "", 0, 50)
    with pytest.raises(InvalidInput):
        await queue(w.it, None, None, "", -1, 50)
    with pytest.raises(InvalidInput):
        await queue(w.it, None, None, "", 0, 0)
    platform = [a.id for a in (await queue(w.root, None, None, "", 0, 50))[0]]
    assert platform == [first.id, second.id]
