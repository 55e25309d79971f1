"""Applications for a mailbox (R5, R6): filing, tracking, resubmitting, withdrawing; reviewers'
view of one application and its documents.

Filing an application, in order:

1. The entry must exist, be enabled and be reachable from the visitor's network or device
   (`EntryUnreachable` carries where it can be reached). The ticket entry takes applications
   only from a ticket system (`file_on_behalf`, with the API token of a service account).
2. The form is cleaned (control characters removed, lengths bounded); the employee ID and a
   contact (e-mail and/or mobile, where the activation code will go) are always needed.
3. The identity check against the HR roster runs at once (`check_roster`): mismatching name,
   unit, supervisor or an inactive roster status are flags for the reviewer, never a rejection.
4. The policy is resolved for the roster entry and the entry point. A person who may not apply
   by themselves gets an IT ticket with the reason in plain words instead of a dead end.
5. Required fields and documents are checked (`MissingFields` names them); uploads are checked
   by content (PDF/JPEG/PNG), size and number, then stored in the blob store before the
   metadata commit (like mail bodies) and counted as references so the store's garbage
   collector keeps them.
6. One open application per employee ID and domain (under the organisation's row lock);
   the application is stored SUBMITTED with the policy's approval chain, checklist and
   four-eyes rule snapshotted, a deadline, and only the digest of its 256-bit tracking token.
   All of it is audited in the same transaction.
7. After the commit the review workflow routes it (services.workflow) and the applicant gets
   the tracking link on their stated contact (APPLICATION_RECEIVED).

The applicant's tracking link is the only key to their application: `track`, `resubmit` and
`withdraw` answer NotFound with one constant message for any token that does not match.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Organisation, RosterEntry, RosterStatus
from mailgate.domain.entrypoints import EntryPointConfig
from mailgate.domain.errors import (
    Conflict,
    InvalidInput,
    MailgateError,
    NotFound,
    PermissionDenied,
)
from mailgate.domain.names import Address
from mailgate.domain.notices import NoticeKind
from mailgate.domain.onboarding import (
    MAX_DOCUMENTS,
    Application,
    ApplicationForm,
    ApplicationState,
    Decision,
    Document,
    DocumentType,
    RosterCheck,
    Step,
    Ticket,
    new_tracking_token,
    next_state,
    safe_filename,
    sniff_document,
    supervisor_id_of,
    tracking_digest,
)
from mailgate.domain.policy import EntryPoint, Resolution, resolve
from mailgate.domain.ports import BlobStore, Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.recovery import normalise_phone
from mailgate.services.audit import record
from mailgate.services.entrypoints import check_reach, public_entry, without_controls
from mailgate.services.notice_texts import refusal_text
from mailgate.services.notices import NoticeService
from mailgate.services.organisations import org_by_slug
from mailgate.services.policies import subject_for
from mailgate.services.tickets import open_ticket_in

log = logging.getLogger(__name__)
TRACK_PATH = "/apply/track/"  # {portal}/apply/track/<token>: the applicant's page
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
_EMPLOYEE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NOT_FOUND = "this tracking link is not valid; use the complete link from your message"
# Comments the applicant sees on their timeline: what is addressed to them, and their own.
_TO_APPLICANT = frozenset(
    {Step.SUBMIT, Step.RESUBMIT, Step.WITHDRAW, Step.ASK_INFORMATION, Step.REJECT, Step.EXPIRE}
)
_APPLICANT_STEPS = frozenset({Step.SUBMIT, Step.RESUBMIT, Step.WITHDRAW})
_SYSTEM_STEPS = frozenset(
    {Step.ROUTE_TO_SUPERVISOR, Step.ROUTE_TO_REVIEW, Step.AUTO_APPROVE, Step.EXPIRE}
)


class Router(Protocol):
    """What filing needs from the review workflow (services.workflow.ReviewWorkflow)."""

    async def route(self, application_id: int) -> Application: ...


class MissingFields(InvalidInput):
    """Required fields or documents were not given; `fields` and `documents` name them."""

    code = "missing_fields"

    def __init__(self, fields: Sequence[str], documents: Sequence[str]) -> None:
        self.fields = tuple(fields)
        self.documents = tuple(documents)
        parts = []
        if self.fields:
            parts.append("fill in " + ", ".join(self.fields))
        if self.documents:
            parts.append("attach " + ", ".join(self.documents))
        super().__init__("please " + " and ".join(parts))


@dataclass(frozen=True, slots=True)
class Upload:
    label: str  # which document this is: one of the policy's required_documents, or free
    filename: str  # as the browser or ticket system named it; never trusted
    data: bytes


@dataclass(frozen=True, slots=True)
class Filed:
    application: Application | None  # None when routed to a ticket
    tracking_token: str  # "" when routed to a ticket; shown once
    ticket: Ticket | None
    reasons: tuple[str, ...]  # why self-service was refused, in plain words
    refusals: tuple[tuple[str, str], ...] = ()  # (policy, "self_service" or a condition)
    tracking_url: str = ""


@dataclass(frozen=True, slots=True)
class TrackingView:
    """What the applicant sees: no reviewer identities, no internal comments."""

    application: Application
    timeline: tuple[Decision, ...]  # actor is "applicant", "supervisor", a stage or "system"
    documents: tuple[tuple[str, str], ...]  # (label, filename)
    organisation: str
    domain: str


@dataclass(frozen=True, slots=True)
class ReviewView:
    application: Application
    decisions: tuple[Decision, ...]
    documents: tuple[Document, ...]
    roster: RosterEntry | None
    roster_unit: str  # the roster entry's org-unit path
    resolution: Resolution
    organisation: str
    domain: str


def _norm(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "·・.")


def _name_matches(typed: str, entry: RosterEntry) -> bool:
    wanted = _norm(typed)
    if wanted in {_norm(entry.name_zh), _norm(entry.name_latin)} - {""}:
        return True
    words = sorted(unicodedata.normalize("NFKC", typed).casefold().split())
    return bool(entry.name_latin) and words == sorted(entry.name_latin.casefold().split())


def check_roster(
    form: ApplicationForm, entry: RosterEntry | None, unit_path: str
) -> tuple[RosterCheck, ...]:
    """Flags for the reviewer from comparing the form with the roster (MATCH when none)."""
    if entry is None:
        return (RosterCheck.NOT_ON_ROSTER,)
    flags: list[RosterCheck] = []
    if form.name and not _name_matches(form.name, entry):
        flags.append(RosterCheck.NAME_MISMATCH)
    if form.department:
        typed = _norm(form.department)
        parts = [p for p in unit_path.split("/") if p]
        if typed not in {_norm(unit_path), _norm(parts[-1]) if parts else ""} - {""}:
            flags.append(RosterCheck.UNIT_MISMATCH)
    if entry.status is not RosterStatus.ACTIVE:
        flags.append(RosterCheck.NOT_ACTIVE)
    if (
        form.supervisor_employee_id
        and form.supervisor_employee_id.casefold() != entry.supervisor_employee_id.casefold()
    ):
        flags.append(RosterCheck.SUPERVISOR_MISMATCH)
    return tuple(flags) or (RosterCheck.MATCH,)


def check_form(form: ApplicationForm) -> ApplicationForm:
    """The cleaned form with the fields every application needs checked and normalised."""
    form = form.cleaned()
    if not form.employee_id:
        raise MissingFields(["employee_id"], [])
    if not _EMPLOYEE_ID.fullmatch(form.employee_id):
        raise InvalidInput("an employee ID has only letters, digits, '.', '_' and '-'")
    if form.supervisor_employee_id and not _EMPLOYEE_ID.fullmatch(form.supervisor_employee_id):
        raise InvalidInput("the supervisor's employee ID has only letters, digits, '.', '_', '-'")
    if not form.contact_email and not form.mobile:
        raise InvalidInput(
            "give an e-mail address or a mobile number: the activation code is sent there"
        )
    if form.contact_email:
        form.contact_email = str(Address.parse(form.contact_email))
    if form.mobile:
        form.mobile = normalise_phone(form.mobile)
    return form


@dataclass(frozen=True, slots=True)
class _Checked:
    label: str
    filename: str
    kind: DocumentType
    data: bytes


def check_uploads(uploads: Sequence[Upload], already: int = 0) -> list[_Checked]:
    """Each upload's real type from its content; InvalidInput names the offending file."""
    if len(uploads) + already > MAX_DOCUMENTS:
        raise InvalidInput(f"attach at most {MAX_DOCUMENTS} documents to one application")
    out = []
    for upload in uploads:
        shown = upload.filename.rsplit("/", 1)[-1][:100] or "document"
        try:
            kind = sniff_document(upload.data)
        except InvalidInput as exc:
            raise InvalidInput(f"{shown}: {exc.message}") from None
        label = without_controls(upload.label, "")[:200] or "document"
        out.append(_Checked(label, safe_filename(upload.filename, kind), kind, upload.data))
    return out


def _missing_documents(required: Sequence[str], labels: Sequence[str]) -> list[str]:
    have = {label.casefold() for label in labels}
    return [r for r in required if r.casefold() not in have]


def tracking_url(portal_url: str, token: str) -> str:
    return f"{portal_url.rstrip('/')}{TRACK_PATH}{token}"


@dataclass(frozen=True, slots=True)
class _Assessment:
    org: Organisation
    entry: RosterEntry | None
    unit_path: str
    resolution: Resolution
    checks: tuple[RosterCheck, ...]


async def _roster_entry(uow: UnitOfWork, org_id: int, employee_id: str) -> RosterEntry | None:
    entry = await uow.roster.get(org_id, employee_id)
    if entry is None and employee_id.upper() != employee_id:
        entry = await uow.roster.get(org_id, employee_id.upper())
    return entry


async def _assess(
    uow: UnitOfWork, org_id: int, kind: EntryPoint, form: ApplicationForm, *, lock: bool = False
) -> _Assessment:
    org = await (uow.orgs.get_for_update(org_id) if lock else uow.orgs.get(org_id))
    assert org is not None  # noqa: S101 - foreign key
    entry = await _roster_entry(uow, org.id, form.employee_id)
    units = {u.id: u.path for u in await uow.structure.units(org.id)}
    unit_path = units.get(entry.org_unit_id, "") if entry and entry.org_unit_id else ""
    subject = await subject_for(uow, org.id, entry, kind)
    resolution = resolve(await uow.policies.for_org(org.id), subject)
    return _Assessment(org, entry, unit_path, resolution, check_roster(form, entry, unit_path))


def refusals_of(resolution: Resolution) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    if not resolution["self_service"]:
        out.append((resolution.decided_by["self_service"], "self_service"))
    out.extend((policy, condition.value) for policy, condition in resolution.refusals)
    return tuple(out)


def _required_fields(resolution: Resolution, kind: EntryPoint) -> tuple[str, ...]:
    fields = tuple(resolution["required_fields"])
    if kind is EntryPoint.PARTNER and "agreement_number" not in fields:
        fields += ("agreement_number",)
    return fields


def _applicant_actor(form: ApplicationForm, client_ip: str, applicant: Actor | None) -> Actor:
    if applicant is not None:
        return applicant.with_source_ip(client_ip or applicant.source_ip)
    return Actor(f"applicant:{form.employee_id}", None, (), client_ip)


def _form_details(form: ApplicationForm, **extra: str) -> dict[str, str]:
    details = {
        k: "" if v is None else str(v) for k, v in dataclasses.asdict(form).items() if v != ""
    }
    return details | {k: v for k, v in extra.items() if v}


async def _add_documents(
    uow: UnitOfWork, application_id: int, checked: Sequence[_Checked], blob_ids: Sequence[str],
    now: datetime,
) -> None:  # fmt: skip
    for c, blob_id in zip(checked, blob_ids, strict=True):
        await uow.applications.add_document(
            Document(0, application_id, blob_id, c.filename, c.kind, len(c.data), c.label, now)
        )


def _public_decision(d: Decision) -> Decision:
    if d.step in _APPLICANT_STEPS:
        who = "applicant"
    elif d.step in _SYSTEM_STEPS or not d.stage:
        who = "system"
    else:
        who = d.stage
    comment = d.comment if d.step in _TO_APPLICANT else ""
    return dataclasses.replace(d, actor=who, actor_account_id=None, comment=comment, checklist={})


@dataclass(slots=True)
class ApplicationService:
    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore
    notices: NoticeService
    portal_url: str = "https://localhost:8080"
    workflow: Router | None = None  # the review workflow; set by Services.build

    # --- filing ----------------------------------------------------------------------------

    async def file(
        self,
        entry_slug: str,
        form: ApplicationForm,
        uploads: list[Upload],
        *,
        client_ip: str,
        trusted_device: bool = False,
        applicant: Actor | None = None,
        filed_by: str = "",
    ) -> Filed:
        async with self.uow(write=False) as uow:
            entry = await public_entry(uow, entry_slug)
        check_reach(entry, client_ip, trusted_device)
        if entry.kind is EntryPoint.TICKET and not filed_by:
            raise PermissionDenied(
                "this entry takes applications from the IT service desk's ticket system only"
            )
        who = Actor(filed_by, None, (), client_ip) if filed_by else None
        return await self._file(entry, form, uploads, client_ip, applicant, filed_by, who)

    async def file_on_behalf(
        self,
        actor: Actor,
        org_slug: str,
        form: ApplicationForm,
        uploads: list[Upload],
        *,
        client_ip: str,
        entry_slug: str | None = None,
    ) -> Filed:
        """A ticket system files for someone, with the token of a service account holding a
        role in the organisation, through the organisation's ticket entry."""
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.ORG_READ)
            if entry_slug is not None:
                entry = await public_entry(uow, entry_slug)
                if entry.org_id != org.id or entry.kind is not EntryPoint.TICKET:
                    raise NotFound(f"{org.slug} has no ticket entry {entry_slug!r}")
            else:
                tickets = [
                    e
                    for e in await uow.entry_points.for_org(org.id)
                    if e.kind is EntryPoint.TICKET and e.enabled
                ]
                if not tickets:
                    raise NotFound(
                        f"{org.slug} has no enabled ticket entry; an administrator adds one with "
                        "'mailgate entry add SLUG --kind ticket'"
                    )
                entry = tickets[0]
        check_reach(entry, client_ip, False)
        who = actor.with_source_ip(client_ip)
        return await self._file(entry, form, uploads, client_ip, None, actor.name, who)

    async def _file(
        self,
        point: EntryPointConfig,
        form: ApplicationForm,
        uploads: list[Upload],
        client_ip: str,
        applicant: Actor | None,
        filed_by: str,
        filer: Actor | None,
    ) -> Filed:
        form = check_form(form)
        actor = filer or _applicant_actor(form, client_ip, applicant)
        async with self.uow(write=False) as uow:
            found = await _assess(uow, point.org_id, point.kind, form)
        if not found.resolution.eligible:
            return await self._ticket(point, form, actor, filed_by)
        checked = self._check_complete(found.resolution, point.kind, form, uploads)
        async with self.uow(write=False) as uow:
            await self._check_no_open(uow, point.domain_id, form.employee_id)
        # Bodies are durable before the metadata commit; a failure after this leaves blobs
        # without references, which the store's garbage collector removes.
        blob_ids = [await self.blobs.put(c.data) for c in checked]
        token = new_tracking_token()
        async with self.uow() as uow:
            found = await _assess(uow, point.org_id, point.kind, form, lock=True)
            if not found.resolution.eligible:
                raise Conflict("the rules changed while you applied; please apply again")
            await self._check_no_open(uow, point.domain_id, form.employee_id)
            now = self.clock.now()
            r = found.resolution
            application = await uow.applications.add(
                Application(
                    id=0,
                    org_id=found.org.id,
                    domain_id=point.domain_id,
                    entry_point=point.kind,
                    state=next_state(ApplicationState.DRAFT, Step.SUBMIT),
                    form=form,
                    approval_chain=tuple(r["approval_chain"]),
                    stage=0,
                    roster_id=found.entry.id if found.entry else None,
                    roster_checks=found.checks,
                    checklist=tuple(r["checklist"]),
                    four_eyes=bool(r["four_eyes"]),
                    tracking_digest=tracking_digest(token),
                    created_at=now,
                    submitted_at=now,
                    deadline=now + timedelta(days=int(r["decision_days"])),
                    applicant_account_id=applicant.account_id if applicant else None,
                    filed_by=filed_by[:200],
                )
            )
            await _add_documents(uow, application.id, checked, blob_ids, now)
            await uow.applications.add_decision(
                Decision(
                    application.id, now, actor.name, Step.SUBMIT, actor_account_id=actor.account_id
                )
            )
            await record(
                uow, self.clock, actor, "application.file", f"application:{application.id}",
                found.org.id,
                {
                    "entry": point.slug,
                    "employee_id": form.employee_id,
                    "roster_checks": [c.value for c in found.checks],
                    "documents": [c.label for c in checked],
                    "approval_chain": list(application.approval_chain),
                    "filed_by": filed_by,
                },
            )  # fmt: skip
            await uow.commit()
        for c in checked:  # a garbage collection racing with the commit may have removed one
            await self.blobs.put(c.data)
        application = await self._route(application)
        url = tracking_url(self.portal_url, token)
        await self._tell(
            NoticeKind.APPLICATION_RECEIVED, form, point, found.org,
            {"link": url, "number": str(application.id)},
        )  # fmt: skip
        return Filed(application, token, None, (), tracking_url=url)

    def _check_complete(
        self,
        resolution: Resolution,
        kind: EntryPoint,
        form: ApplicationForm,
        uploads: Sequence[Upload],
        existing: Sequence[str] = (),
    ) -> list[_Checked]:
        checked = check_uploads(uploads, len(existing))
        fields = form.missing(_required_fields(resolution, kind))
        documents = _missing_documents(
            resolution["required_documents"], [*existing, *(c.label for c in checked)]
        )
        if fields or documents:
            raise MissingFields(fields, documents)
        return checked

    async def _check_no_open(self, uow: UnitOfWork, domain_id: int, employee_id: str) -> None:
        if await uow.applications.open_for(domain_id, employee_id):
            raise Conflict(
                f"employee ID {employee_id} already has an open application for this domain; "
                "follow it with its tracking link, or withdraw it before applying again"
            )

    async def _ticket(
        self, point: EntryPointConfig, form: ApplicationForm, actor: Actor, filed_by: str
    ) -> Filed:
        async with self.uow() as uow:
            found = await _assess(uow, point.org_id, point.kind, form, lock=True)
            refusals = refusals_of(found.resolution)
            reasons = tuple(refusal_text(code, "en", policy) for policy, code in refusals)
            details = _form_details(
                form,
                entry=point.slug,
                roster_checks=", ".join(c.value for c in found.checks),
                filed_by=filed_by,
            )
            ticket, new = await open_ticket_in(
                uow, self.clock, actor, found.org, form.employee_id, form.name,
                "; ".join(reasons) or "self-service is not allowed", details,
            )  # fmt: skip
            await uow.commit()
        if new:
            reason = "\n".join(
                "- " + refusal_text(code, form.language, policy) for policy, code in refusals
            )
            await self._tell(
                NoticeKind.TICKET_CREATED, form, point, found.org,
                {"ticket": str(ticket.id), "reason": reason,
                 "helpdesk": found.org.helpdesk_contact},
            )  # fmt: skip
        return Filed(None, "", ticket, reasons, refusals)

    async def _route(self, application: Application) -> Application:
        if self.workflow is None:
            return application
        try:
            return await self.workflow.route(application.id)
        except MailgateError as exc:  # filed and committed; the workflow's sweep retries
            log.warning("application %s filed but not routed: %s", application.id, exc)
            return application

    async def _tell(
        self,
        kind: NoticeKind,
        form: ApplicationForm,
        point: EntryPointConfig,
        org: Organisation,
        params: dict[str, str],
    ) -> None:
        async with self.uow(write=False) as uow:
            domains = {d.id: d for d in await uow.domains.list(frozenset({org.id}))}
        domain = domains.get(point.domain_id)
        if domain is None:
            return
        await self.notices.to_contact(
            kind,
            form.language,
            domain=domain.name,
            email=form.contact_email,
            phone=form.mobile,
            params={**params, "domain": domain.unicode_name, "organisation": org.name},
        )

    # --- the applicant, by tracking token ---------------------------------------------------

    async def _by_token(self, uow: UnitOfWork, token: str, *, lock: bool = False) -> Application:
        token = token.strip()
        if not _TOKEN_SHAPE.fullmatch(token):
            raise NotFound(_NOT_FOUND)
        found = await uow.applications.by_tracking(tracking_digest(token))
        if found is None:
            raise NotFound(_NOT_FOUND)
        if lock:
            locked = await uow.applications.get(found.id, lock=True)
            assert locked is not None  # noqa: S101 - just found
            return locked
        return found

    async def track(self, token: str) -> TrackingView:
        async with self.uow(write=False) as uow:
            application = await self._by_token(uow, token)
            org = await uow.orgs.get(application.org_id)
            domains = {
                d.id: d.unicode_name
                for d in await uow.domains.list(frozenset({application.org_id}))
            }
            timeline = tuple(
                _public_decision(d) for d in await uow.applications.decisions(application.id)
            )
            documents = tuple(
                (d.label, d.filename) for d in await uow.applications.documents(application.id)
            )
        return TrackingView(
            application,
            timeline,
            documents,
            org.name if org else "",
            domains.get(application.domain_id, ""),
        )

    async def resubmit(
        self,
        token: str,
        form: ApplicationForm,
        uploads: list[Upload],
        *,
        client_ip: str = "",
    ) -> Application:
        """Answer a request for more information: the changed form and more documents; the
        workflow resumes at the stage that asked."""
        async with self.uow(write=False) as uow:
            current = await self._by_token(uow, token)
            next_state(current.state, Step.RESUBMIT)
            existing = [d.label for d in await uow.applications.documents(current.id)]
        form = check_form(form)
        if form.employee_id.casefold() != current.form.employee_id.casefold():
            raise InvalidInput(
                "the employee ID of an application cannot change; withdraw it and apply again"
            )
        form.employee_id = current.form.employee_id
        async with self.uow(write=False) as uow:
            found = await _assess(uow, current.org_id, current.entry_point, form)
        checked = self._check_complete(
            found.resolution, current.entry_point, form, uploads, existing
        )
        blob_ids = [await self.blobs.put(c.data) for c in checked]
        actor = _applicant_actor(form, client_ip, None)
        async with self.uow() as uow:
            application = await self._by_token(uow, token, lock=True)
            application.state = next_state(application.state, Step.RESUBMIT)
            found = await _assess(uow, application.org_id, application.entry_point, form)
            now = self.clock.now()
            application.form = form
            application.roster_id = found.entry.id if found.entry else None
            application.roster_checks = found.checks
            application.submitted_at = now
            application.deadline = now + timedelta(days=int(found.resolution["decision_days"]))
            await uow.applications.update(application)
            await _add_documents(uow, application.id, checked, blob_ids, now)
            await uow.applications.add_decision(
                Decision(application.id, now, actor.name, Step.RESUBMIT)
            )
            await record(
                uow, self.clock, actor, "application.resubmit", f"application:{application.id}",
                application.org_id,
                {
                    "roster_checks": [c.value for c in found.checks],
                    "documents": [c.label for c in checked],
                },
            )  # fmt: skip
            await uow.commit()
        for c in checked:
            await self.blobs.put(c.data)
        return await self._route(application)

    async def withdraw(self, token: str, reason: str = "", *, client_ip: str = "") -> Application:
        text = without_controls(reason)[:2000]
        async with self.uow() as uow:
            application = await self._by_token(uow, token, lock=True)
            application.state = next_state(application.state, Step.WITHDRAW)
            now = self.clock.now()
            application.decided_at = now
            application.decision_reason = text
            await uow.applications.update(application)
            actor = _applicant_actor(application.form, client_ip, None)
            await uow.applications.add_decision(
                Decision(application.id, now, actor.name, Step.WITHDRAW, comment=text)
            )
            await record(
                uow, self.clock, actor, "application.withdraw", f"application:{application.id}",
                application.org_id, {"reason": text},
            )  # fmt: skip
            await uow.commit()
        return application

    # --- reviewers ---------------------------------------------------------------------------

    async def _reviewable(self, uow: UnitOfWork, actor: Actor, application_id: int) -> Application:
        """The application if the actor may review it (APPLICATION_REVIEW in its organisation,
        or its supervisor's own account); NotFound otherwise."""
        application = await uow.applications.get(application_id)
        if application is not None:
            if actor.can(Permission.APPLICATION_REVIEW, application.org_id):
                return application
            if await self._is_supervisor(uow, actor, application):
                return application
        raise NotFound(f"there is no application {application_id}")

    async def _is_supervisor(self, uow: UnitOfWork, actor: Actor, application: Application) -> bool:
        applicant = await uow.roster.by_id(application.roster_id) if application.roster_id else None
        wanted = supervisor_id_of(application, applicant)
        if actor.account_id is None or not wanted:
            return False
        account = await uow.accounts.get(actor.account_id)
        if account is None or account.roster_id is None or account.org_id != application.org_id:
            return False
        entry = await uow.roster.by_id(account.roster_id)
        return entry is not None and entry.employee_id.casefold() == wanted.casefold()

    async def for_reviewer(self, actor: Actor, application_id: int) -> ReviewView:
        async with self.uow(write=False) as uow:
            application = await self._reviewable(uow, actor, application_id)
            entry = await uow.roster.by_id(application.roster_id) if application.roster_id else None
            units = {u.id: u.path for u in await uow.structure.units(application.org_id)}
            subject = await subject_for(uow, application.org_id, entry, application.entry_point)
            resolution = resolve(await uow.policies.for_org(application.org_id), subject)
            org = await uow.orgs.get(application.org_id)
            domains = {
                d.id: d.unicode_name
                for d in await uow.domains.list(frozenset({application.org_id}))
            }
            return ReviewView(
                application,
                tuple(await uow.applications.decisions(application.id)),
                tuple(await uow.applications.documents(application.id)),
                entry,
                units.get(entry.org_unit_id, "") if entry and entry.org_unit_id else "",
                resolution,
                org.name if org else "",
                domains.get(application.domain_id, ""),
            )

    async def document(
        self, actor: Actor, application_id: int, document_id: int
    ) -> tuple[Document, bytes]:
        """One uploaded document for a reviewer of its application (audited: it is personal)."""
        async with self.uow() as uow:
            application = await self._reviewable(uow, actor, application_id)
            found = await uow.applications.documents(application.id)
            doc = next((d for d in found if d.id == document_id), None)
            if doc is None:
                raise NotFound(f"application {application_id} has no document {document_id}")
            await record(
                uow, self.clock, actor, "application.document", f"application:{application.id}",
                application.org_id, {"document": doc.id, "label": doc.label},
            )  # fmt: skip
            await uow.commit()
        return doc, await self.blobs.get(doc.blob_id)

    async def search(
        self,
        actor: Actor,
        org_slug: str,
        state: str | None = None,
        query: str = "",
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[Application], int]:
        """Every application of the organisation (any state), oldest first, for reviewers."""
        states = None
        if state:
            try:
                states = [ApplicationState(state)]
            except ValueError:
                known = ", ".join(s.value for s in ApplicationState)
                raise InvalidInput(f"unknown application state {state!r}; known: {known}") from None
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.APPLICATION_REVIEW)
            return await uow.applications.search(
                frozenset({org.id}), states, None, query, offset, min(limit, 500)
            )

    async def status(self, actor: Actor, org_slug: str, application_id: int) -> Application:
        """An application for its reviewers, or for the ticket system that filed it."""
        async with self.uow(write=False) as uow:
            org = await org_by_slug(uow, actor, org_slug, Permission.ORG_READ)
            application = await uow.applications.get(application_id)
            if application is not None and application.org_id == org.id:
                if actor.can(Permission.APPLICATION_REVIEW, org.id):
                    return application
                if application.filed_by and application.filed_by == actor.name:
                    return application
        raise NotFound(f"there is no application {application_id} in {org.slug}")


def describe(application: Application) -> dict[str, Any]:
    """An application as the CLI's --json shows it."""
    f = application.form
    return {
        "id": application.id,
        "state": application.state.value,
        "waiting_for": application.waiting_for,
        "entry_point": application.entry_point.value,
        "employee_id": f.employee_id,
        "name": f.name,
        "department": f.department,
        "position": f.position,
        "purpose": f.purpose,
        "duration_days": f.duration_days,
        "contact_email": f.contact_email,
        "mobile": f.mobile,
        "supervisor_employee_id": f.supervisor_employee_id,
        "agreement_number": f.agreement_number,
        "roster_checks": [c.value for c in application.roster_checks],
        "approval_chain": list(application.approval_chain),
        "stage": application.stage,
        "submitted_at": application.submitted_at,
        "deadline": application.deadline,
        "decided_at": application.decided_at,
        "decision_reason": application.decision_reason,
        "filed_by": application.filed_by,
        "account_id": application.account_id,
    }
