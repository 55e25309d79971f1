"""Onboarding (R2–R8): an application for a mailbox, from draft to a provisioned account.

The application is a resumable state machine (Mailman's app/workflow.py is the model): every step
is a named `Step`, `ONBOARDING_TRANSITIONS` says where each step may be taken and where it leads,
and the application row keeps the state, the approval chain snapshotted from the policy at
submission and the index of the current stage, so a decision days later continues exactly where
the workflow paused. The services layer runs the steps; this module decides what is allowed.

    draft ──submit──▶ submitted ──route──▶ awaiting_supervisor ──approve──▶ awaiting_review
                         │ (auto approval)          │ reject                 │ approve (last stage)
                         ▼                          ▼                        ▼
                      approved ◀────────────── rejected              approved (provisioned)
    awaiting_* ──ask_information──▶ needs_information ──resubmit──▶ submitted
    draft / submitted / awaiting_* / needs_information ──withdraw──▶ withdrawn
    submitted / awaiting_* / needs_information ──expire──▶ expired (nobody decided in N days)

Four-eyes rules (`check_reviewer`): nobody decides on their own application; when the policy asks
for it, the person who authorised as supervisor may not also take an IT stage.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from mailgate.domain.directory import RosterEntry
from mailgate.domain.errors import InvalidInput, InvalidTransition, PermissionDenied
from mailgate.domain.policy import EntryPoint

MAX_UPLOAD = 10 * 1024 * 1024  # bytes per document
MAX_DOCUMENTS = 10
MAX_TEXT = 2000  # characters of a free-text field


class ApplicationState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    AWAITING_SUPERVISOR = "awaiting_supervisor"
    AWAITING_REVIEW = "awaiting_review"
    NEEDS_INFORMATION = "needs_information"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in _FINAL

    @property
    def open(self) -> bool:
        """Counts for "one open application per employee ID and domain"."""
        return not self.final


_FINAL = frozenset(
    {
        ApplicationState.APPROVED,
        ApplicationState.REJECTED,
        ApplicationState.WITHDRAWN,
        ApplicationState.EXPIRED,
    }
)


class Step(enum.StrEnum):
    SUBMIT = "submit"
    ROUTE_TO_SUPERVISOR = "route_to_supervisor"
    ROUTE_TO_REVIEW = "route_to_review"
    AUTO_APPROVE = "auto_approve"
    SUPERVISOR_APPROVE = "supervisor_approve"
    REVIEW_APPROVE = "review_approve"  # a stage done; more stages may follow
    FINAL_APPROVE = "final_approve"
    REJECT = "reject"
    ASK_INFORMATION = "ask_information"
    RESUBMIT = "resubmit"
    WITHDRAW = "withdraw"
    EXPIRE = "expire"


_S = ApplicationState
_WAITING = (_S.AWAITING_SUPERVISOR, _S.AWAITING_REVIEW)
ONBOARDING_TRANSITIONS: Mapping[tuple[ApplicationState, Step], ApplicationState] = {
    (_S.DRAFT, Step.SUBMIT): _S.SUBMITTED,
    (_S.SUBMITTED, Step.ROUTE_TO_SUPERVISOR): _S.AWAITING_SUPERVISOR,
    (_S.SUBMITTED, Step.ROUTE_TO_REVIEW): _S.AWAITING_REVIEW,
    (_S.SUBMITTED, Step.AUTO_APPROVE): _S.APPROVED,
    (_S.AWAITING_SUPERVISOR, Step.SUPERVISOR_APPROVE): _S.AWAITING_REVIEW,
    (_S.AWAITING_REVIEW, Step.REVIEW_APPROVE): _S.AWAITING_REVIEW,
    (_S.AWAITING_SUPERVISOR, Step.FINAL_APPROVE): _S.APPROVED,  # a chain of only "supervisor"
    (_S.AWAITING_REVIEW, Step.FINAL_APPROVE): _S.APPROVED,
    **{(s, Step.REJECT): _S.REJECTED for s in _WAITING},
    **{(s, Step.ASK_INFORMATION): _S.NEEDS_INFORMATION for s in _WAITING},
    (_S.NEEDS_INFORMATION, Step.RESUBMIT): _S.SUBMITTED,
    **{
        (s, Step.WITHDRAW): _S.WITHDRAWN
        for s in (_S.DRAFT, _S.SUBMITTED, *_WAITING, _S.NEEDS_INFORMATION)
    },
    **{(s, Step.EXPIRE): _S.EXPIRED for s in (_S.SUBMITTED, *_WAITING, _S.NEEDS_INFORMATION)},
}


def next_state(current: ApplicationState, step: Step) -> ApplicationState:
    """Where `step` leads from `current`; InvalidTransition names the allowed steps."""
    try:
        return ONBOARDING_TRANSITIONS[(current, step)]
    except KeyError:
        allowed = sorted(s.value for (c, s) in ONBOARDING_TRANSITIONS if c is current)
        hint = f"; allowed from {current.value}: {', '.join(allowed)}" if allowed else ""
        raise InvalidTransition(
            f"an application that is {current.value} cannot {step.value}{hint}"
        ) from None


class RosterCheck(enum.StrEnum):
    """What the identity check against the HR roster found (flags for the reviewer)."""

    MATCH = "match"
    NOT_ON_ROSTER = "not_on_roster"
    NAME_MISMATCH = "name_mismatch"
    UNIT_MISMATCH = "unit_mismatch"
    NOT_ACTIVE = "not_active"  # terminated or on leave
    SUPERVISOR_MISMATCH = "supervisor_mismatch"


@dataclass(slots=True)
class ApplicationForm:
    """What the applicant typed. Which fields are required comes from the policy."""

    employee_id: str = ""
    name: str = ""
    department: str = ""
    position: str = ""
    purpose: str = ""
    duration_days: int | None = None
    mobile: str = ""
    supervisor_employee_id: str = ""
    contact_email: str = ""  # where the activation code goes (or the mobile)
    agreement_number: str = ""  # partner entry
    sponsor: str = ""  # partner entry: the employee who vouches
    language: str = "zh_Hans"

    def cleaned(self) -> ApplicationForm:
        def text(value: str, limit: int = 200) -> str:
            # Every control character (C0, DEL and C1) goes, except the line break.
            value = "".join(
                ch for ch in value if ch == "\n" or unicodedata.category(ch) != "Cc"
            ).strip()
            if len(value) > limit:
                raise InvalidInput(f"a field is longer than {limit} characters")
            return value

        if self.duration_days is not None and not 1 <= self.duration_days <= 36500:
            raise InvalidInput("the wanted duration must be from 1 to 36500 days")
        return ApplicationForm(
            employee_id=text(self.employee_id, 64),
            name=text(self.name, 100),
            department=text(self.department),
            position=text(self.position),
            purpose=text(self.purpose, MAX_TEXT),
            duration_days=self.duration_days,
            mobile=text(self.mobile, 32),
            supervisor_employee_id=text(self.supervisor_employee_id, 64),
            contact_email=text(self.contact_email, 320),
            agreement_number=text(self.agreement_number, 64),
            sponsor=text(self.sponsor, 320),
            language=self.language if self.language in ("zh_Hans", "zh_Hant", "en") else "zh_Hans",
        )

    def missing(self, required: tuple[str, ...]) -> list[str]:
        """The required policy fields (domain.policy `required_fields`) left empty."""
        values = {
            "employee_id": self.employee_id,
            "name": self.name,
            "department": self.department,
            "position": self.position,
            "purpose": self.purpose,
            "duration": "" if self.duration_days is None else str(self.duration_days),
            "mobile": self.mobile,
            "supervisor": self.supervisor_employee_id,
            "agreement_number": self.agreement_number,
            "sponsor": self.sponsor,
        }
        return [f for f in required if not values.get(f, "x")]


@dataclass(slots=True)
class Application:
    id: int
    org_id: int
    domain_id: int
    entry_point: EntryPoint
    state: ApplicationState
    form: ApplicationForm
    approval_chain: tuple[str, ...] = ()  # snapshot of the policy's chain at submission
    stage: int = 0  # index into approval_chain of the stage now waiting
    roster_id: int | None = None
    roster_checks: tuple[RosterCheck, ...] = ()
    checklist: tuple[str, ...] = ()  # snapshot of the policy's checklist
    four_eyes: bool = True
    tracking_digest: str = ""
    created_at: datetime | None = None
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    deadline: datetime | None = None  # expires when undecided by then
    reminded_at: datetime | None = None
    decision_reason: str = ""
    account_id: int | None = None
    applicant_account_id: int | None = None  # when filed by a signed-in person
    filed_by: str = ""  # the ticket system or person who filed on someone's behalf

    @property
    def waiting_for(self) -> str | None:
        """The approver kind the application waits for ("supervisor", "it" ...), or None."""
        if self.state not in _WAITING or self.stage >= len(self.approval_chain):
            return None
        return self.approval_chain[self.stage]


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision or comment on an application (the timeline and the audit)."""

    application_id: int
    at: datetime
    actor: str  # address, "supervisor:E001", "system", a ticket system name
    step: Step | None  # None for a comment
    stage: str = ""
    comment: str = ""
    checklist: Mapping[str, bool] = field(default_factory=dict)
    actor_account_id: int | None = None
    id: int = 0


def supervisor_id_of(application: Application, entry: RosterEntry | None) -> str:
    """The supervisor's employee ID: the roster's for the applicant, else the one typed."""
    if entry is not None and entry.supervisor_employee_id:
        return entry.supervisor_employee_id
    return application.form.supervisor_employee_id


def check_reviewer(
    application: Application, reviewer_account_id: int | None, reviewer_employee_id: str,
    decisions: list[Decision],
) -> None:  # fmt: skip
    """Four-eyes rules: PermissionDenied when this person may not decide this stage."""
    if reviewer_account_id is not None and reviewer_account_id == application.applicant_account_id:
        raise PermissionDenied("nobody may decide on their own application")
    if reviewer_employee_id and reviewer_employee_id == application.form.employee_id:
        raise PermissionDenied("nobody may decide on their own application")
    if application.four_eyes and application.waiting_for != "supervisor":
        supervisors = {
            d.actor_account_id
            for d in decisions
            if d.step is Step.SUPERVISOR_APPROVE and d.actor_account_id is not None
        }
        if reviewer_account_id is not None and reviewer_account_id in supervisors:
            raise PermissionDenied(
                "the supervisor who authorised this application may not also review it"
            )


# --- uploads -----------------------------------------------------------------------------------


class DocumentType(enum.StrEnum):
    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"


_EXTENSIONS = {DocumentType.PDF: ".pdf", DocumentType.JPEG: ".jpg", DocumentType.PNG: ".png"}


def sniff_document(data: bytes) -> DocumentType:
    """The document's real type from its content (never its name); InvalidInput otherwise."""
    if not data:
        raise InvalidInput("the file is empty")
    if len(data) > MAX_UPLOAD:
        raise InvalidInput(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
    if data.startswith(b"%PDF-"):
        return DocumentType.PDF
    if data.startswith(b"\xff\xd8\xff"):
        return DocumentType.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return DocumentType.PNG
    raise InvalidInput("only PDF, JPEG and PNG files are accepted (checked by their content)")


def safe_filename(name: str, kind: DocumentType) -> str:
    """A download name that cannot smuggle paths or headers: the stem's safe characters plus
    the extension of the *sniffed* type."""
    stem = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].rsplit(".", 1)[0]
    stem = "".join(ch for ch in stem if ch.isalnum() or ch in "-_ ")[:80].strip() or "document"
    return stem + _EXTENSIONS[kind]


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    application_id: int
    blob_id: str
    filename: str
    content_type: DocumentType
    size: int
    label: str  # which required document this is ("work ID", "signed authorisation" ...)
    uploaded_at: datetime


# --- tokens ------------------------------------------------------------------------------------


def new_tracking_token() -> str:
    """The applicant's unguessable tracking link token (256 bits)."""
    return secrets.token_urlsafe(32)


def tracking_digest(token: str) -> str:
    return hashlib.sha256(b"tracking\0" + token.encode()).hexdigest()


# --- tickets -----------------------------------------------------------------------------------


class TicketState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(slots=True)
class Ticket:
    """An IT ticket in Mailgate's list: a person who cannot use self-service is routed here."""

    id: int
    org_id: int
    employee_id: str
    name: str
    reason: str  # the policy explanation: which rule refused and why
    details: Mapping[str, str]
    state: TicketState
    created_at: datetime
    application_id: int | None = None
    closed_at: datetime | None = None
    note: str = ""
