"""Onboarding intake through the services, on both backends: entry points, filing with the
roster check, eligibility and IT tickets, uploads checked by content, one open application per
employee ID, tracking links, reviewers' documents, and the ticket list."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.conftest import FAST_HASHER
from tests.test_services_roster import ROWS, csv_bytes

from mailgate.domain.access import Actor, Role
from mailgate.domain.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from mailgate.domain.notices import NoticeKind
from mailgate.domain.onboarding import (
    MAX_UPLOAD,
    ApplicationForm,
    ApplicationState,
    DocumentType,
    RosterCheck,
    Step,
    TicketState,
)
from mailgate.services.applications import MissingFields, Upload
from mailgate.services.container import Services
from mailgate.services.demo_data import demo_roster_csv
from mailgate.services.entrypoints import EntryUnreachable
from mailgate.services.policies import SelectorSpec
from mailgate.services.sms import FileSmsSender
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.tables import audit_events
from mailgate.storage.uow import SqlUnitOfWorkFactory

PW = "correct horse battery staple"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"1 0 obj\n<<>>\nendobj\n" * 4
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
HTML = b"<html><script>alert(1)</script></html>"
INSIDE, OUTSIDE = "10.20.30.40", "203.0.113.9"


class ManualClock:
    def __init__(self) -> None:
        self.t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t


@dataclass
class Acme:
    services: Services
    root: Actor
    clock: ManualClock
    sms: FileSmsSender
    reviewer: Actor
    desk: Actor
    boss: Actor
    beta_admin: Actor


@pytest.fixture
async def acme(database: Database, tmp_path: Path, root: Actor) -> Acme:
    clock = ManualClock()
    sms = FileSmsSender(tmp_path / "sms.jsonl")
    s = Services.build(
        SqlUnitOfWorkFactory(database),
        clock,
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        sms=sms,
        portal_url="https://mail.acme.test",
    )
    await s.organisations.create(root, "acme", "Acme 公司", helpdesk_contact="IT desk, ext. 8000")
    await s.organisations.add_domain(root, "acme", "acme.test")
    for code, name in (("BJ", "北京"), ("SH", "上海")):
        await s.organisations.add_region(root, "acme", code, name)
    await s.roster.import_csv(root, "acme", csv_bytes(*ROWS))
    await s.organisations.create(root, "beta", "Beta")
    await s.organisations.add_domain(root, "beta", "beta.test")
    for address, role, org in (
        ("reviewer@acme.test", Role.REVIEWER, "acme"),
        ("desk@acme.test", Role.HELPDESK, "acme"),
        ("admin@beta.test", Role.ORG_ADMIN, "beta"),
    ):
        await s.accounts.create(root, address, password=PW, skip_first_login=True)
        await s.accounts.grant_role(root, address, role, org)
    # 张伟 (E001) supervises 王芳 (E002) and has a mailbox; an applicant's contact mailbox.
    await s.accounts.create(
        root, "zhang.wei@acme.test", password=PW, skip_first_login=True, employee_id="E001"
    )
    await s.accounts.create(root, "home@acme.test", password=PW, skip_first_login=True)
    await s.policies.add(
        root, "acme", "interns", position=10,
        selector=SelectorSpec(employment_type="intern"), settings={"self_service": False},
    )  # fmt: skip
    await s.policies.add(
        root, "acme", "market", position=20, selector=SelectorSpec(unit="市场部"),
        settings={
            "required_fields": ["employee_id", "name", "department", "purpose"],
            "required_documents": ["work ID"],
        },
    )  # fmt: skip
    await s.entry_points.add(
        root, "acme", "apply", "portal", "acme.test", landing={"zh_Hans": "欢迎申请"}
    )
    await s.entry_points.add(
        root, "acme", "partners", "partner", "acme.test", networks=["10.0.0.0/8"],
        reach_hint={"en": "Connect to the Acme VPN first.", "zh_Hans": "请先连接公司 VPN。"},
    )  # fmt: skip
    await s.entry_points.add(root, "acme", "desk", "ticket", "acme.test")
    return Acme(
        s,
        root,
        clock,
        sms,
        await s.identity.act_as("reviewer@acme.test"),
        await s.identity.act_as("desk@acme.test"),
        await s.identity.act_as("zhang.wei@acme.test"),
        await s.identity.act_as("admin@beta.test"),
    )


def wang(**changes: object) -> ApplicationForm:
    """王芳 (E002) as the roster knows her."""
    values: dict[str, object] = {
        "employee_id": "E002",
        "name": "王芳",
        "department": "平台部",
        "purpose": "project mail",
        "supervisor_employee_id": "E001",
        "contact_email": "home@acme.test",
        "language": "en",
    }
    values.update(changes)
    return ApplicationForm(**values)  # type: ignore[arg-type]


async def _inbox(acme: Acme, address: str) -> list[email.message.EmailMessage]:
    found, _ = await acme.services.mailstore.messages(acme.root, address)
    out = []
    for item in found:
        raw = await acme.services.mailstore.read(item.blob_id)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        out.append(message)
    return out


async def _actions(database: Database) -> list[str]:
    async with database.reader.connect() as conn:
        return list((await conn.scalars(select(audit_events.c.action))).all())


# --- filing and the roster check ---------------------------------------------------------------


async def test_filing_with_a_roster_match(acme: Acme, database: Database) -> None:
    s = acme.services
    filed = await s.applications.file(
        "apply", wang(), [Upload("work ID", "badge.png", PNG)], client_ip=OUTSIDE
    )
    app = filed.application
    assert app is not None and filed.ticket is None and filed.reasons == ()
    assert app.roster_checks == (RosterCheck.MATCH,)
    assert app.state.open and app.roster_id is not None
    assert app.approval_chain == ("supervisor", "it")
    assert app.deadline == acme.clock.t + timedelta(days=14)
    assert len(filed.tracking_token) == 43
    assert filed.tracking_url == f"https://mail.acme.test/apply/track/{filed.tracking_token}"

    view = await s.applications.track(filed.tracking_token)
    assert view.application.id == app.id and view.domain == "acme.test"
    assert view.documents == (("work ID", "badge.png"),)
    assert [(d.step, d.actor) for d in view.timeline][:1] == [(Step.SUBMIT, "applicant")]

    # The applicant's contact got the tracking link; only its digest is stored.
    (notice,) = await _inbox(acme, "home@acme.test")
    assert str(app.id) in str(notice["Subject"])
    assert filed.tracking_url in notice.get_content()
    async with s.applications.uow(write=False) as uow:
        stored = await uow.applications.get(app.id)
    assert stored is not None and filed.tracking_token not in stored.tracking_digest
    assert "application.file" in await _actions(database)


@pytest.mark.parametrize(
    ("changes", "flags"),
    [
        ({"name": "Fang Wang"}, (RosterCheck.MATCH,)),  # latin name, either order
        ({"department": "研发中心/平台部"}, (RosterCheck.MATCH,)),  # the unit's full path
        ({"name": " 王 芳 "}, (RosterCheck.MATCH,)),  # spaces ignored
        ({"name": "王五"}, (RosterCheck.NAME_MISMATCH,)),
        ({"department": "市场部"}, (RosterCheck.UNIT_MISMATCH,)),
        ({"supervisor_employee_id": "E004"}, (RosterCheck.SUPERVISOR_MISMATCH,)),
        (
            {"employee_id": "E003", "name": "李娜"},  # on leave
            (RosterCheck.NOT_ACTIVE,),
        ),
        ({"employee_id": "X404"}, (RosterCheck.NOT_ON_ROSTER,)),
        (
            {"name": "王五", "department": "市场部", "supervisor_employee_id": "E005"},
            (
                RosterCheck.NAME_MISMATCH,
                RosterCheck.UNIT_MISMATCH,
                RosterCheck.SUPERVISOR_MISMATCH,
            ),
        ),
    ],
)
async def test_roster_mismatches_are_flags_not_rejections(
    acme: Acme, changes: dict[str, object], flags: tuple[RosterCheck, ...]
) -> None:
    filed = await acme.services.applications.file("apply", wang(**changes), [], client_ip=INSIDE)
    assert filed.application is not None
    assert filed.application.roster_checks == flags
    assert filed.application.state.open


async def test_not_eligible_ends_in_a_ticket_with_the_reason(
    acme: Acme, database: Database
) -> None:
    s = acme.services
    intern = ApplicationForm(
        employee_id="E004", name="欧阳子涵", purpose="x", mobile="13800138004", language="zh_Hans"
    )
    filed = await s.applications.file("apply", intern, [], client_ip=INSIDE)
    assert filed.application is None and filed.tracking_token == ""
    assert filed.ticket is not None and filed.ticket.state is TicketState.OPEN
    assert filed.refusals == (("interns", "self_service"),)
    assert "interns" in filed.reasons[0] and "interns" in filed.ticket.reason
    assert filed.ticket.details["employee_id"] == "E004"
    assert filed.ticket.details["mobile"] == "+8613800138004"
    # The person is told by SMS (no e-mail given) that IT will contact them.
    (sms,) = acme.sms.messages()
    assert sms["to"] == "+8613800138004" and f"工单 {filed.ticket.id}" in sms["text"]
    # Filing again while the ticket is open gives the same ticket, and no second notice.
    again = await s.applications.file("apply", intern, [], client_ip=INSIDE)
    assert again.ticket is not None and again.ticket.id == filed.ticket.id
    assert len(acme.sms.messages()) == 1
    tickets, total = await s.tickets.list(acme.desk, "acme")
    assert total == 1 and tickets[0].employee_id == "E004"
    assert "ticket.create" in await _actions(database)


async def test_one_open_application_per_employee_and_domain(acme: Acme) -> None:
    s = acme.services
    first = await s.applications.file("apply", wang(), [], client_ip=INSIDE)
    with pytest.raises(Conflict, match="already has an open application"):
        await s.applications.file("apply", wang(employee_id="e002"), [], client_ip=INSIDE)
    withdrawn = await s.applications.withdraw(first.tracking_token, "changed my mind")
    assert withdrawn.state is ApplicationState.WITHDRAWN
    with pytest.raises(InvalidTransition):
        await s.applications.withdraw(first.tracking_token)
    second = await s.applications.file("apply", wang(), [], client_ip=INSIDE)
    assert second.application is not None and second.application.state.open
    # The old link still shows the withdrawn application and its timeline.
    old = await s.applications.track(first.tracking_token)
    assert old.application.state is ApplicationState.WITHDRAWN
    assert old.timeline[0].step is Step.SUBMIT and old.timeline[-1].step is Step.WITHDRAW
    assert old.timeline[-1].comment == "changed my mind"
    assert {d.actor for d in old.timeline} <= {"applicant", "system"}


# --- uploads -----------------------------------------------------------------------------------


async def test_uploads_are_judged_by_content(acme: Acme) -> None:
    s = acme.services
    filed = await s.applications.file(
        "apply",
        wang(),
        [
            Upload("work ID", "../../etc/photo.pdf", PNG),  # a PNG with a lying name
            Upload("authorisation", "signed.pdf", PDF),
            Upload("", "scan", JPEG),
        ],
        client_ip=INSIDE,
    )
    assert filed.application is not None
    view = await s.applications.for_reviewer(acme.reviewer, filed.application.id)
    kinds = [(d.label, d.filename, d.content_type) for d in view.documents]
    assert kinds == [
        ("work ID", "photo.png", DocumentType.PNG),
        ("authorisation", "signed.pdf", DocumentType.PDF),
        ("document", "scan.jpg", DocumentType.JPEG),
    ]
    doc, data = await s.applications.document(
        acme.reviewer, filed.application.id, view.documents[0].id
    )
    assert data == PNG and doc.size == len(PNG)
    # The blob store's garbage collector keeps documents (they are counted references).
    await s.mailstore.collect_garbage(acme.root, grace_seconds=0)
    assert (await s.applications.document(acme.reviewer, filed.application.id, doc.id))[1] == PNG


@pytest.mark.parametrize(
    ("uploads", "message"),
    [
        ([Upload("work ID", "id.pdf", HTML)], "id.pdf: only PDF, JPEG and PNG"),
        ([Upload("work ID", "empty.png", b"")], "empty.png: the file is empty"),
        (
            [Upload("work ID", "big.pdf", b"%PDF-" + b"0" * MAX_UPLOAD)],
            "big.pdf: the file is larger",
        ),
        ([Upload(f"d{i}", f"{i}.png", PNG) for i in range(11)], "at most 10 documents"),
    ],
)
async def test_bad_uploads_are_refused(acme: Acme, uploads: list[Upload], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        await acme.services.applications.file("apply", wang(), uploads, client_ip=INSIDE)
    async with acme.services.applications.uow(write=False) as uow:
        assert await uow.applications.open_for(1, "E002") == []


async def test_required_fields_and_documents(acme: Acme) -> None:
    s = acme.services
    alice = ApplicationForm(employee_id="E005", name="Alice Chen", contact_email="home@acme.test")
    with pytest.raises(MissingFields) as caught:
        await s.applications.file("apply", alice, [], client_ip=INSIDE)
    assert caught.value.fields == ("department", "purpose")
    assert caught.value.documents == ("work ID",)
    assert "department, purpose" in caught.value.message and "work ID" in caught.value.message
    alice.department, alice.purpose = "市场部", "campaigns"
    with pytest.raises(MissingFields, match="attach work ID"):
        await s.applications.file("apply", alice, [Upload("photo", "p.png", PNG)], client_ip=INSIDE)
    filed = await s.applications.file(
        "apply", alice, [Upload("Work ID", "p.png", PNG)], client_ip=INSIDE
    )
    assert filed.application is not None

    with pytest.raises(MissingFields, match="employee_id"):
        await s.applications.file("apply", wang(employee_id=""), [], client_ip=INSIDE)
    with pytest.raises(InvalidInput, match="e-mail address or a mobile number"):
        await s.applications.file("apply", wang(contact_email=""), [], client_ip=INSIDE)
    with pytest.raises(InvalidInput, match="country code"):
        await s.applications.file("apply", wang(mobile="12345"), [], client_ip=INSIDE)
    with pytest.raises(InvalidInput, match="longer than 2000"):
        await s.applications.file("apply", wang(purpose="x" * 2001), [], client_ip=INSIDE)
    # The partner entry always needs the agreement number.
    with pytest.raises(MissingFields, match="agreement_number"):
        await s.applications.file("partners", wang(), [], client_ip=INSIDE)


async def test_free_text_is_kept_as_typed_without_control_characters(acme: Acme) -> None:
    script = '<script>alert("x")</script>'
    filed = await acme.services.applications.file(
        "apply", wang(purpose=f"{script}\x00\x1b[31m\x7f\x85\nline two"), [], client_ip=INSIDE
    )
    assert filed.application is not None
    assert filed.application.form.purpose == f"{script}[31m\nline two"


# --- entries -----------------------------------------------------------------------------------


async def test_entry_reachable_only_from_its_networks(acme: Acme) -> None:
    s = acme.services
    form = wang(agreement_number="AG-2026-7")
    with pytest.raises(EntryUnreachable) as caught:
        await s.applications.file("partners", form, [], client_ip=OUTSIDE)
    assert isinstance(caught.value, PermissionDenied)
    assert caught.value.hint["zh_Hans"] == "请先连接公司 VPN。"
    assert "Connect to the Acme VPN first." in caught.value.message
    with pytest.raises(EntryUnreachable):
        await s.entry_points.reach("partners", "::ffff:203.0.113.9", False)
    assert (await s.entry_points.reach("partners", "::ffff:10.0.0.1", False)).slug == "partners"
    filed = await s.applications.file("partners", form, [], client_ip=INSIDE)
    assert filed.application is not None
    assert filed.application.form.agreement_number == "AG-2026-7"

    # Trusted devices only: the default hint when the entry has none.
    await s.entry_points.update(acme.root, "apply", trusted_devices_only=True)
    with pytest.raises(EntryUnreachable, match="trusted company device"):
        await s.entry_points.reach("apply", INSIDE, False)
    assert (await s.entry_points.reach("apply", INSIDE, True)).slug == "apply"
    # The ticket entry is for ticket systems only; disabled and unknown entries do not exist.
    with pytest.raises(PermissionDenied, match="ticket system only"):
        await s.applications.file("desk", wang(), [], client_ip=INSIDE)
    await s.entry_points.update(acme.root, "apply", enabled=False)
    for slug in ("apply", "nope", "../etc"):
        with pytest.raises(NotFound):
            await s.applications.file(slug, wang(), [], client_ip=INSIDE, trusted_device=True)


async def test_entry_point_administration(acme: Acme, database: Database) -> None:
    s, root = acme.services, acme.root
    entries = await s.entry_points.list(acme.reviewer, "acme")
    assert [e.slug for e in entries] == ["apply", "partners", "desk"]
    assert entries[1].networks == ("10.0.0.0/8",)
    with pytest.raises(PermissionDenied):
        await s.entry_points.add(acme.reviewer, "acme", "x", "portal", "acme.test")
    with pytest.raises(NotFound):
        await s.entry_points.list(acme.beta_admin, "acme")
    with pytest.raises(NotFound):
        await s.entry_points.update(acme.beta_admin, "apply", enabled=False)
    bad = [
        (("Bad Slug", "portal", "acme.test"), {}, "slug"),
        (("x", "kiosk", "acme.test"), {}, "unknown entry kind"),
        (("x", "portal", "beta.test"), {}, "no domain beta.test"),
        (("x", "portal", "acme.test"), {"networks": ["10.0.0.0/33"]}, "not a network"),
        (("x", "portal", "acme.test"), {"landing": {"fr": "Bonjour"}}, "unknown language"),
        (("x", "portal", "acme.test"), {"region": "XX"}, "no region"),
        (("apply", "portal", "acme.test"), {}, "exists already"),
    ]
    for args, kwargs, message in bad:
        with pytest.raises((InvalidInput, NotFound, Conflict), match=message):
            await s.entry_points.add(root, "acme", *args, **kwargs)  # type: ignore[arg-type]
    sh = await s.entry_points.add(
        root, "acme", "sh-office", "portal", "acme.test", region="sh",
        networks=["192.168.1.7/24", "2001:db8::/48"], landing={"en": "Shanghai\x07 office"},
    )  # fmt: skip
    assert sh.networks == ("192.168.1.0/24", "2001:db8::/48")
    assert sh.landing == {"en": "Shanghai office"} and sh.region_id is not None
    changed = await s.entry_points.update(
        root, "sh-office", landing={"zh_Hans": "上海办公室"}, region=None, networks=[]
    )
    assert changed.landing == {"en": "Shanghai office", "zh_Hans": "上海办公室"}
    assert changed.region_id is None and changed.networks == ()
    with pytest.raises(InvalidInput, match="no setting colour"):
        await s.entry_points.update(root, "sh-office", colour="red")
    actions = await _actions(database)
    assert actions.count("entry.add") == 4 and "entry.update" in actions


# --- the applicant's link ----------------------------------------------------------------------


async def test_tracking_with_a_wrong_token(acme: Acme) -> None:
    s = acme.services
    filed = await s.applications.file("apply", wang(), [], client_ip=INSIDE)
    token = filed.tracking_token
    guessed = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (guessed, "", "x" * 43, token + "x", token[:20], "../../etc/passwd"):
        with pytest.raises(NotFound) as caught:
            await s.applications.track(bad)
        assert caught.value.message == (
            "this tracking link is not valid; use the complete link from your message"
        )
        with pytest.raises(NotFound):
            await s.applications.withdraw(bad)
    assert (await s.applications.track(f" {token}\n")).application.id == filed.application.id  # type: ignore[union-attr]


async def test_resubmit_after_a_request_for_information(acme: Acme, database: Database) -> None:
    s = acme.services
    alice = ApplicationForm(
        employee_id="E005", name="Alice Chen", department="市场部", purpose="campaigns",
        mobile="+86 139 0000 0000",
    )  # fmt: skip
    filed = await s.applications.file(
        "apply", alice, [Upload("work ID", "id.png", PNG)], client_ip=INSIDE
    )
    assert filed.application is not None
    with pytest.raises(InvalidTransition, match="cannot resubmit"):
        await s.applications.resubmit(filed.tracking_token, alice, [])
    # Alice's supervisor has no account: the application waits for IT, who asks for more.
    asked = await s.workflow.decide(
        acme.reviewer, filed.application.id, "ask_information", "attach the authorisation", {}
    )
    assert asked.state is ApplicationState.NEEDS_INFORMATION
    with pytest.raises(InvalidInput, match="cannot change"):
        await s.applications.resubmit(filed.tracking_token, ApplicationForm(
            employee_id="E001", name="x", contact_email="home@acme.test"), [])  # fmt: skip
    acme.clock.t += timedelta(days=3)
    alice.purpose = "campaigns and press"
    again = await s.applications.resubmit(
        filed.tracking_token, alice, [Upload("authorisation", "a.pdf", PDF)]
    )
    assert again.state is ApplicationState.AWAITING_REVIEW and again.waiting_for == "it"
    assert again.form.purpose == "campaigns and press"
    assert again.deadline == acme.clock.t + timedelta(days=14)
    view = await s.applications.track(filed.tracking_token)
    assert [
        d.label for d in (await s.applications.for_reviewer(acme.reviewer, again.id)).documents
    ] == [
        "work ID",
        "authorisation",
    ]
    steps = [(d.step, d.actor, d.comment) for d in view.timeline]
    assert steps[0] == (Step.SUBMIT, "applicant", "")
    assert (Step.ASK_INFORMATION, "it", "attach the authorisation") in steps
    assert steps.index((Step.RESUBMIT, "applicant", "")) > 1
    assert not any("reviewer@" in d.actor for d in view.timeline)
    assert "application.resubmit" in await _actions(database)


# --- reviewers ---------------------------------------------------------------------------------


async def test_only_reviewers_and_the_supervisor_see_an_application(acme: Acme) -> None:
    s = acme.services
    filed = await s.applications.file(
        "apply", wang(), [Upload("work ID", "id.png", PNG)], client_ip=INSIDE
    )
    assert filed.application is not None
    app_id = filed.application.id
    view = await s.applications.for_reviewer(acme.reviewer, app_id)
    assert view.roster is not None and view.roster.employee_id == "E002"
    assert view.roster_unit == "研发中心/平台部"
    assert view.resolution.decided_by["approval_chain"] == "default"
    # 张伟 is the supervisor named in the form and on the roster: he may look too.
    assert (await s.applications.for_reviewer(acme.boss, app_id)).application.id == app_id
    doc_id = view.documents[0].id
    assert (await s.applications.document(acme.boss, app_id, doc_id))[1] == PNG
    for outsider in (acme.desk, acme.beta_admin):
        with pytest.raises(NotFound):
            await s.applications.for_reviewer(outsider, app_id)
        with pytest.raises(NotFound):
            await s.applications.document(outsider, app_id, doc_id)
    with pytest.raises(NotFound):
        await s.applications.document(acme.reviewer, app_id, doc_id + 100)
    state = view.application.state.value
    found, total = await s.applications.search(acme.reviewer, "acme", state=state)
    assert total == 1 and found[0].id == app_id
    with pytest.raises(InvalidInput, match="unknown application state"):
        await s.applications.search(acme.reviewer, "acme", state="lost")
    with pytest.raises(PermissionDenied):
        await s.applications.search(acme.desk, "acme")


# --- tickets -----------------------------------------------------------------------------------


async def test_ticket_list_export_and_close(acme: Acme, database: Database) -> None:
    s = acme.services
    for emp, name in (("E004", '=HYPERLINK("http://evil")'), ("X9", "Outsider")):
        form = ApplicationForm(employee_id=emp, name=name, contact_email="home@acme.test")
        if emp == "X9":  # not on the roster and a rule that needs it
            await s.policies.add(
                acme.root, "acme", "staff only", position=1,
                selector=SelectorSpec(entry_point="partner"), require=["roster_active"],
            )  # fmt: skip
            form.agreement_number = "AG-1"
            filed = await s.applications.file("partners", form, [], client_ip=INSIDE)
            assert filed.refusals == (("staff only", "roster_active"),)
            assert "staff roster" in filed.reasons[0]
        else:
            await s.applications.file("apply", form, [], client_ip=INSIDE)
    tickets, total = await s.tickets.list(acme.desk, "acme", "open")
    assert total == 2 and [t.employee_id for t in tickets] == ["X9", "E004"]
    assert (await s.tickets.list(acme.desk, "acme", "closed", 0, 10))[1] == 0
    with pytest.raises(PermissionDenied):
        await s.tickets.list(acme.reviewer, "acme")
    with pytest.raises(NotFound):
        await s.tickets.list(acme.beta_admin, "acme")
    with pytest.raises(InvalidInput, match="unknown ticket state"):
        await s.tickets.list(acme.desk, "acme", "pending")

    exported = await s.tickets.export_csv(acme.desk, "acme")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["employee_id"] for r in rows] == ["X9", "E004"]
    assert rows[1]["name"].startswith("'=")  # a spreadsheet will not run it
    with pytest.raises(PermissionDenied):
        await s.tickets.export_csv(acme.reviewer, "acme")

    ticket = tickets[1]
    with pytest.raises(InvalidInput, match="note"):
        await s.tickets.close(acme.desk, ticket.id, "  ")
    with pytest.raises(PermissionDenied):
        await s.tickets.close(acme.reviewer, ticket.id, "done")
    with pytest.raises(NotFound):
        await s.tickets.close(acme.beta_admin, ticket.id, "done")
    with pytest.raises(NotFound):
        await s.tickets.close(acme.root, ticket.id, "done", org_slug="beta")
    closed = await s.tickets.close(acme.desk, ticket.id, "mailbox made by hand")
    assert closed.state is TicketState.CLOSED and closed.closed_at == acme.clock.t
    with pytest.raises(InvalidTransition):
        await s.tickets.close(acme.desk, ticket.id, "again")
    # With the ticket closed, the same person filing again gets a new one.
    again = await s.applications.file(
        "apply", ApplicationForm(employee_id="E004", contact_email="home@acme.test"), [],
        client_ip=INSIDE,
    )  # fmt: skip
    assert again.ticket is not None and again.ticket.id != ticket.id
    actions = await _actions(database)
    assert {"ticket.export", "ticket.close"} <= set(actions)


async def test_notices_for_applicants_in_their_language(acme: Acme) -> None:
    s = acme.services
    await s.applications.file("apply", wang(language="zh_Hant", mobile="13900000002"), [],
                              client_ip=INSIDE)  # fmt: skip
    (mail,) = await _inbox(acme, "home@acme.test")
    assert "已收到您的郵箱申請" in str(mail["Subject"])
    assert mail["From"] == "Mailgate <no-reply@acme.test>"
    (sms,) = acme.sms.messages()
    assert sms["to"] == "+8613900000002" and "https://mail.acme.test/apply/track/" in sms["text"]
    assert ("contact", NoticeKind.APPLICATION_RECEIVED) in s.notices.sent


# --- the demo ----------------------------------------------------------------------------------


async def test_demo_has_entries_and_a_default_policy_set(services: Services) -> None:
    await services.setup.seed_demo()
    roster = {r["employee_id"]: r for r in csv.DictReader(io.StringIO(demo_roster_csv()))}
    admin = await services.identity.act_as("admin@example.test")
    entries = {e.slug: e for e in await services.entry_points.list(admin, "example")}
    assert {(slug, e.kind.value) for slug, e in entries.items()} == {
        ("apply", "portal"), ("it-desk", "ticket"), ("partner", "partner"),
    }  # fmt: skip
    assert set(entries["apply"].landing) == {"zh_Hans", "zh_Hant", "en"}
    with pytest.raises(EntryUnreachable) as caught:
        await services.entry_points.reach("partner", OUTSIDE, False)
    assert "VPN" in caught.value.hint["zh_Hans"] and set(caught.value.hint) == {
        "zh_Hans", "zh_Hant", "en",
    }  # fmt: skip
    assert (await services.entry_points.reach("partner", INSIDE, False)).slug == "partner"
    names = [p.name for p in await services.policies.list(admin, "example")]
    assert names == ["interns", "partners", "contractors", "everyone"]

    intern = next(r for r in roster.values() if r["employment_type"] == "intern")
    ticket = await services.applications.file(
        "apply",
        ApplicationForm(employee_id=intern["employee_id"], mobile=intern["mobile"]),
        [],
        client_ip=OUTSIDE,
    )
    assert ticket.ticket is not None and ticket.refusals == (("interns", "self_service"),)
    staff = next(
        r for r in roster.values() if r["employment_type"] == "full_time" and r["supervisor_id"]
    )
    filed = await services.applications.file(
        "apply",
        ApplicationForm(
            employee_id=staff["employee_id"], name=staff["name_zh"],
            department=staff["org_unit"], purpose="日常工作",
            supervisor_employee_id=staff["supervisor_id"], mobile=staff["mobile"],
        ),
        [],
        client_ip=OUTSIDE,
    )  # fmt: skip
    assert filed.application is not None
    assert filed.application.roster_checks == (RosterCheck.MATCH,)
    assert filed.application.approval_chain == ("supervisor", "it")
    assert filed.application.checklist == ("employee ID and name match the roster",)
