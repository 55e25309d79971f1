"""Request and response bodies of the JSON API, and their mapping from domain objects."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mailgate.domain.directory import (
    Account,
    AccountAction,
    AccountState,
    Alias,
    Domain,
    EmploymentType,
    Group,
    GroupSendPolicy,
    Organisation,
    OrgKind,
    RosterEntry,
    RosterStatus,
)
from mailgate.domain.onboarding import (
    MAX_DOCUMENTS,
    MAX_TEXT,
    Application,
    ApplicationForm,
    ApplicationState,
    Ticket,
    TicketState,
)
from mailgate.domain.units import parse_size
from mailgate.services.roster import ImportReport

Size = int | str


def size_of(value: Size) -> int:
    """Bytes, or a size with a unit as the CLI takes it ("2GiB")."""
    return value if isinstance(value, int) else parse_size(value)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganisationIn(Strict):
    slug: str = Field(examples=["example"])
    name: str = Field(examples=["Example Corp"])
    kind: OrgKind = OrgKind.INTERNAL
    account_pool_limit: int | None = Field(default=None, ge=0)
    default_quota: Size = Field(default="2GiB", description="bytes, or e.g. 2GiB")
    helpdesk_contact: str = ""


class OrganisationPatch(Strict):
    """Only the fields sent are changed; `account_pool_limit: null` removes the limit."""

    name: str | None = None
    account_pool_limit: int | None = Field(default=None, ge=0)
    default_quota: Size | None = None
    helpdesk_contact: str | None = None


class OrganisationOut(BaseModel):
    slug: str
    name: str
    kind: OrgKind
    account_pool_limit: int | None
    default_quota: int
    helpdesk_contact: str

    @classmethod
    def of(cls, org: Organisation) -> OrganisationOut:
        return cls(
            slug=org.slug,
            name=org.name,
            kind=org.kind,
            account_pool_limit=org.account_pool_limit,
            default_quota=org.default_quota,
            helpdesk_contact=org.helpdesk_contact,
        )


class DomainIn(Strict):
    name: str = Field(examples=["example.test", "例子.测试"])


class DomainOut(BaseModel):
    name: str = Field(description="Unicode form")
    ascii: str = Field(description="A-label (punycode) form")
    organisation: str

    @classmethod
    def of(cls, domain: Domain, org_slugs: dict[int, str]) -> DomainOut:
        return cls(
            name=domain.unicode_name,
            ascii=domain.name,
            organisation=org_slugs.get(domain.org_id, ""),
        )


class RosterEntryOut(BaseModel):
    organisation: str
    employee_id: str
    name_zh: str
    name_latin: str
    org_unit: str
    region: str
    employment_type: EmploymentType
    supervisor_id: str
    mobile: str
    status: RosterStatus
    start_date: date | None
    end_date: date | None

    @classmethod
    def of(
        cls, entry: RosterEntry, org_slug: str, unit_path: str, region_code: str
    ) -> RosterEntryOut:
        return cls(
            organisation=org_slug,
            employee_id=entry.employee_id,
            name_zh=entry.name_zh,
            name_latin=entry.name_latin,
            org_unit=unit_path,
            region=region_code,
            employment_type=entry.employment_type,
            supervisor_id=entry.supervisor_employee_id,
            mobile=entry.mobile,
            status=entry.status,
            start_date=entry.start_date,
            end_date=entry.end_date,
        )


class RosterPage(BaseModel):
    items: list[RosterEntryOut]
    total: int
    offset: int
    limit: int


class RejectedRowOut(BaseModel):
    line: int
    employee_id: str
    reason: str


class ImportReportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: list[RejectedRowOut]

    @classmethod
    def of(cls, report: ImportReport) -> ImportReportOut:
        return cls(
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=[
                RejectedRowOut(line=r.line, employee_id=r.employee_id, reason=r.reason)
                for r in report.rejected
            ],
        )


class AccountIn(Strict):
    address: str = Field(examples=["zhang.wei@example.test"])
    display_name: str = ""
    password: str | None = Field(default=None, repr=False)
    skip_first_login: bool = False
    quota: Size | None = None
    expires_on: date | None = None
    employee_id: str | None = None
    language: str = "zh_Hans"
    time_zone: str = "Asia/Shanghai"


class AccountOut(BaseModel):
    address: str
    organisation: str
    display_name: str
    state: AccountState
    quota: int
    expires_on: date | None
    language: str
    time_zone: str
    first_login_done: bool

    @classmethod
    def of(cls, account: Account, org_slugs: dict[int, str]) -> AccountOut:
        return cls(
            address=account.address,
            organisation=org_slugs.get(account.org_id, ""),
            display_name=account.display_name,
            state=account.state,
            quota=account.quota,
            expires_on=account.expires_on,
            language=account.language,
            time_zone=account.time_zone,
            first_login_done=account.first_login_done,
        )


class AccountPage(BaseModel):
    items: list[AccountOut]
    total: int
    offset: int
    limit: int


class StateChangeIn(Strict):
    action: AccountAction
    reason: str = ""
    new_expiry: date | None = Field(default=None, description="required to reactivate")


class ReasonIn(Strict):
    reason: str = Field(default="", max_length=500, description="kept in the audit log")


class LockdownIn(Strict):
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="required: kept in the audit log and told to the person",
        examples=["phishing mail answered"],
    )


class LockdownOut(BaseModel):
    account: AccountOut
    state_before: AccountState
    sessions_ended: int
    app_passwords_revoked: int
    api_tokens_revoked: int
    forwarding_removed: bool


class PasswordChangeRequiredOut(BaseModel):
    account: AccountOut
    changed: bool = Field(description="false when the account already had to choose one")


class SessionsRevokedOut(BaseModel):
    address: str
    sessions_ended: int


class AliasIn(Strict):
    address: str
    targets: list[str] = Field(min_length=1)


class AliasOut(BaseModel):
    address: str
    organisation: str
    targets: list[str]

    @classmethod
    def of(cls, alias: Alias, org_slugs: dict[int, str]) -> AliasOut:
        return cls(
            address=alias.address,
            organisation=org_slugs.get(alias.org_id, ""),
            targets=list(alias.targets),
        )


class GroupIn(Strict):
    address: str
    name: str = ""
    send_policy: GroupSendPolicy = GroupSendPolicy.ORGANISATION


class MemberIn(Strict):
    address: str


class GroupOut(BaseModel):
    address: str
    organisation: str
    name: str
    send_policy: GroupSendPolicy
    members: list[str]

    @classmethod
    def of(cls, group: Group, org_slugs: dict[int, str]) -> GroupOut:
        return cls(
            address=group.address,
            organisation=org_slugs.get(group.org_id, ""),
            name=group.name,
            send_policy=group.send_policy,
            members=list(group.members),
        )


class ErrorOut(BaseModel):
    error: str
    message: str


# --- onboarding: applications filed by a ticket system, and the IT ticket list ----------------


class DocumentIn(Strict):
    label: str = Field(
        default="",
        max_length=200,
        description="which document this is: one of the policy's required documents",
        examples=["work ID"],
    )
    filename: str = Field(max_length=255, examples=["badge.png"])
    content_base64: str = Field(
        description="the file in standard base64; PDF, JPEG or PNG (checked by content), "
        "at most 10 MiB decoded"
    )


class ApplicationIn(Strict):
    """An application a ticket system files on someone's behalf (fields as on the form)."""

    employee_id: str = Field(max_length=64, examples=["E10023"])
    name: str = Field(default="", max_length=100, examples=["王芳"])
    department: str = Field(default="", max_length=200)
    position: str = Field(default="", max_length=200)
    purpose: str = Field(default="", max_length=MAX_TEXT)
    duration_days: int | None = Field(default=None, ge=1, le=36500)
    mobile: str = Field(default="", max_length=32, examples=["+86 138 0013 8000"])
    supervisor_employee_id: str = Field(default="", max_length=64)
    contact_email: str = Field(
        default="", max_length=320, description="where the tracking link and code go"
    )
    agreement_number: str = Field(default="", max_length=64)
    sponsor: str = Field(default="", max_length=320)
    language: Literal["zh_Hans", "zh_Hant", "en"] = "zh_Hans"
    entry: str | None = Field(
        default=None, description="the ticket entry's slug; default: the organisation's one"
    )
    documents: list[DocumentIn] = Field(default_factory=list, max_length=MAX_DOCUMENTS)

    def form(self) -> ApplicationForm:
        return ApplicationForm(
            employee_id=self.employee_id,
            name=self.name,
            department=self.department,
            position=self.position,
            purpose=self.purpose,
            duration_days=self.duration_days,
            mobile=self.mobile,
            supervisor_employee_id=self.supervisor_employee_id,
            contact_email=self.contact_email,
            agreement_number=self.agreement_number,
            sponsor=self.sponsor,
            language=self.language,
        )


class ApplicationOut(BaseModel):
    id: int
    organisation: str
    state: ApplicationState
    waiting_for: str | None = Field(description="the approver the application waits for")
    entry_point: str
    employee_id: str
    name: str
    roster_checks: list[str] = Field(description="what the roster check found, for reviewers")
    submitted_at: datetime | None
    deadline: datetime | None
    decided_at: datetime | None
    decision_reason: str
    filed_by: str

    @classmethod
    def of(cls, application: Application, org_slug: str) -> ApplicationOut:
        return cls(
            id=application.id,
            organisation=org_slug,
            state=application.state,
            waiting_for=application.waiting_for,
            entry_point=application.entry_point.value,
            employee_id=application.form.employee_id,
            name=application.form.name,
            roster_checks=[c.value for c in application.roster_checks],
            submitted_at=application.submitted_at,
            deadline=application.deadline,
            decided_at=application.decided_at,
            decision_reason=application.decision_reason,
            filed_by=application.filed_by,
        )


class TicketOut(BaseModel):
    id: int
    organisation: str
    state: TicketState
    employee_id: str
    name: str
    reason: str = Field(description="why self-service was refused, in plain words")
    details: dict[str, str] = Field(description="what the person filed")
    created_at: datetime
    closed_at: datetime | None
    note: str

    @classmethod
    def of(cls, ticket: Ticket, org_slug: str) -> TicketOut:
        return cls(
            id=ticket.id,
            organisation=org_slug,
            state=ticket.state,
            employee_id=ticket.employee_id,
            name=ticket.name,
            reason=ticket.reason,
            details=dict(ticket.details),
            created_at=ticket.created_at,
            closed_at=ticket.closed_at,
            note=ticket.note,
        )


class FiledOut(BaseModel):
    """Either an application (with the applicant's tracking link, shown only here) or, for a
    person who may not apply by themselves, the IT ticket opened instead."""

    outcome: Literal["application", "ticket"]
    application: ApplicationOut | None = None
    tracking_url: str | None = Field(
        default=None, description="the applicant's tracking link; shown once, pass it on"
    )
    ticket: TicketOut | None = None
    reasons: list[str] = Field(default_factory=list, description="why self-service was refused")


class TicketPage(BaseModel):
    items: list[TicketOut]
    total: int
    offset: int
    limit: int


class TicketCloseIn(Strict):
    note: str = Field(min_length=1, max_length=2000, examples=["mailbox created by hand"])
