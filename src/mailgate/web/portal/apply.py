"""The public application pages (R3, R5): an entry's landing page and the application form.

    /apply/{slug}            the landing page: the entry's text in the page's language, who may
                             apply, what to prepare, a start button
    /apply/{slug}/form       GET: the first step (employee ID); POST: the second step, the
                             fields and documents the person's policy requires
    /apply/{slug}/submit     POST (multipart): file the application; the answer is the
                             submitted page (the tracking link, shown once), the ticket page
                             (not eligible for self-service: why, and that IT will call), the
                             duplicate page, or the form again with each problem at its field

A visitor whose network or device the entry does not allow gets, on every one of these pages,
the entry's "where to reach it" text with 403 and never the form. A device counts as trusted
while a person of the entry's organisation is signed in to Mailgate on it.

There is no session: every form carries the double-submit token of the public forms
(`__Host-mailgate_csrf`). Uploads are read with hard limits (the whole body, each file, the
number of parts) and checked by content before anything is stored; the service checks again.
The tracking and supervisor pages are in apply_track.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request as StarletteRequest
from starlette.responses import RedirectResponse, Response
from starlette.types import Message

from mailgate.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from mailgate.domain.names import Address
from mailgate.domain.onboarding import MAX_DOCUMENTS, MAX_TEXT, MAX_UPLOAD, ApplicationForm
from mailgate.domain.policy import EntryPoint
from mailgate.domain.recovery import normalise_phone
from mailgate.services.applications import TRACK_PATH, MissingFields, Upload
from mailgate.services.apply_form import EntryLanding
from mailgate.services.entrypoints import EntryUnreachable
from mailgate.services.notice_texts import refusal_text
from mailgate.web.i18n import Catalog
from mailgate.web.portal.apply_labels import (
    APPLICATION_STATES,
    APPROVERS,
    CONDITIONS,
    ENTRY_KINDS,
    FIELDS,
    LANGUAGE_CHOICES,
    NEXT_STEPS,
    STEPS,
)
from mailgate.web.portal.render import Portal
from mailgate.web.portal.reset import pre_session_token
from mailgate.web.session import (
    CSRF_FIELD,
    PRE_SESSION_CSRF_COOKIE,
    client_ip,
    csrf_matches,
    new_csrf_token,
    set_host_cookie,
)

APPLY = "/apply"
MAX_FILES_TOTAL = 30 * 1024 * 1024  # every upload of one form together
MAX_BODY = MAX_FILES_TOTAL + 256 * 1024  # the whole request, fields and multipart framing
MAX_FIELD = 16 * 1024
MAX_FIELDS = 60
EMPLOYEE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The form's text fields in the order the page shows them (employee ID comes first, apart).
TEXT_FIELDS = (
    "name",
    "department",
    "position",
    "purpose",
    "duration",
    "supervisor",
    "agreement_number",
    "sponsor",
    "contact_email",
    "mobile",
)
_LIMITS = {"purpose": MAX_TEXT, "contact_email": 320, "sponsor": 320, "name": 100}


class BodyTooLarge(Exception):
    """The request body is larger than the page accepts."""


@asynccontextmanager
async def posted_form(request: Request, limit: int = MAX_BODY) -> AsyncIterator[FormData]:
    """The (multipart or urlencoded) form of `request`, never reading more than `limit` bytes
    of body (BodyTooLarge); file parts are spooled by Starlette, never held whole in memory,
    and closed when the block ends."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    bounded = StarletteRequest(request.scope, receive)
    form = await bounded.form(
        max_files=MAX_DOCUMENTS, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD
    )
    try:
        yield form
    finally:
        await form.close()


@dataclass(slots=True)
class Typed:
    """What the applicant typed, kept to show the form again; `errors` per field name
    (a text field, "documents", "doc.N" or "" for the whole form)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    @classmethod
    def read(cls, data: FormData, names: tuple[str, ...]) -> Typed:
        typed = cls()
        for name in names:
            value = data.get(name, "")
            text = value if isinstance(value, str) else ""
            typed.values[name] = text[: _LIMITS.get(name, 200) + 1].strip()
        return typed


def form_of(typed: Typed, language: str) -> ApplicationForm:
    duration = typed.get("duration")
    return ApplicationForm(
        employee_id=typed.get("employee_id"),
        name=typed.get("name"),
        department=typed.get("department"),
        position=typed.get("position"),
        purpose=typed.get("purpose"),
        duration_days=int(duration) if duration.isdigit() and len(duration) < 7 else None,
        mobile=typed.get("mobile"),
        supervisor_employee_id=typed.get("supervisor"),
        contact_email=typed.get("contact_email"),
        agreement_number=typed.get("agreement_number"),
        sponsor=typed.get("sponsor"),
        language=language if language in LANGUAGE_CHOICES else "zh_Hans",
    )


def check_typed(t: Catalog, typed: Typed, required: tuple[str, ...]) -> None:
    """Each problem of the typed fields at its field, in the page's language."""
    _ = t.gettext
    errors = typed.errors
    if not EMPLOYEE_ID.fullmatch(typed.get("employee_id")):
        errors["employee_id"] = _("Enter your employee ID: letters, digits, '.', '_' and '-' only.")
    for name in required:
        if name != "employee_id" and name in TEXT_FIELDS and not typed.get(name):
            errors.setdefault(name, _("Fill this in."))
    for name in TEXT_FIELDS:
        if len(typed.get(name)) > _LIMITS.get(name, 200):
            errors[name] = _("This is too long.")
    duration = typed.get("duration")
    if duration and not (duration.isdigit() and 1 <= int(duration[:7]) <= 36500):
        errors["duration"] = _("Enter a number of days from 1 to 36500.")
    supervisor = typed.get("supervisor")
    if supervisor and not EMPLOYEE_ID.fullmatch(supervisor):
        errors["supervisor"] = _("An employee ID has only letters, digits, '.', '_' and '-'.")
    email, mobile = typed.get("contact_email"), typed.get("mobile")
    if email and "contact_email" not in errors:
        try:
            Address.parse(email)
        except InvalidInput:
            errors["contact_email"] = _("Enter a complete e-mail address, like name@example.com.")
    if mobile and "mobile" not in errors:
        try:
            normalise_phone(mobile)
        except InvalidInput:
            errors["mobile"] = _(
                "Enter a mobile number with its country code, like +86 138 0013 8000."
            )
    if not email and not mobile:
        errors.setdefault(
            "contact_email",
            _("Give an e-mail address or a mobile number: your activation code is sent there."),
        )


async def read_uploads(
    t: Catalog, data: FormData, labels: Mapping[str, str], typed: Typed
) -> list[Upload]:
    """The uploaded files, each read with a hard limit and checked by content; problems go
    to `typed.errors` under the input's name."""
    _ = t.gettext
    uploads: list[Upload] = []
    total = 0
    for name, label in labels.items():
        for item in data.getlist(name):
            if not isinstance(item, UploadFile) or not item.filename:
                continue
            content = await item.read(MAX_UPLOAD + 1)
            total += len(content)
            problem = upload_problem(t, content)
            if problem:
                typed.errors[name] = f"{item.filename[:100]}: {problem}"
                continue
            uploads.append(Upload(label, item.filename[:200], content))
    if total > MAX_FILES_TOTAL:
        typed.errors["documents"] = _("All files together may have at most 30 MiB.")
    if len(uploads) > MAX_DOCUMENTS:
        typed.errors["documents"] = _("Attach at most 10 files.")
    return uploads


def upload_problem(t: Catalog, content: bytes) -> str:
    """Why a file is refused, in the page's language ("" when it is a PDF, JPEG or PNG)."""
    _ = t.gettext
    if not content:
        return _("The file is empty.")
    if len(content) > MAX_UPLOAD:
        return _("The file is larger than 10 MiB.")
    if not (
        content.startswith(b"%PDF-")
        or content.startswith(b"\xff\xd8\xff")
        or content.startswith(b"\x89PNG\r\n\x1a\n")
    ):
        return _("Only PDF, JPEG and PNG files are accepted; this file is none of them.")
    return ""


def service_errors(t: Catalog, exc: InvalidInput, typed: Typed) -> None:
    """The service's refusals, at their fields in the page's language."""
    _ = t.gettext
    if isinstance(exc, MissingFields):
        for name in exc.fields:
            typed.errors[name if name in FIELDS else ""] = _("Fill this in.")
        if exc.documents:
            typed.errors["documents"] = _("Attach these documents: %(documents)s") % {
                "documents": ", ".join(exc.documents)
            }
        return
    typed.errors[""] = _("A value in the form is not valid. Check the fields and try again.")


def document_labels(t: Catalog, required: tuple[str, ...]) -> dict[str, str]:
    """Input name -> document label: one input per required document, one for any others."""
    _ = t.gettext
    labels = {f"doc.{i}": label for i, label in enumerate(required)}
    labels["doc.other"] = _("Other document")
    return labels


@dataclass(slots=True)
class PublicPages:
    """Rendering of the public onboarding pages: no session, the pre-session CSRF token,
    never cached, and no referrer leaving pages whose address holds a token."""

    portal: Portal

    def page(
        self,
        request: Request,
        template: str,
        token: str,
        *,
        status_code: int = 200,
        secret_url: bool = False,
        **context: Any,
    ) -> Response:
        t = self.portal.catalog(request)
        response = self.portal.render(
            request,
            template,
            session=None,
            csrf_token=token,
            status_code=status_code,
            APPLY=APPLY,
            FIELDS=FIELDS,
            APPROVERS=APPROVERS,
            CONDITIONS=CONDITIONS,
            ENTRY_KINDS=ENTRY_KINDS,
            LANGUAGE_CHOICES=LANGUAGE_CHOICES,
            APPLICATION_STATES=APPLICATION_STATES,
            NEXT_STEPS=NEXT_STEPS,
            STEPS=STEPS,
            locale=t.locale,
            **context,
        )
        if token:  # pages without a form leave the browser's token alone
            set_host_cookie(response, PRE_SESSION_CSRF_COOKIE, token)
        if secret_url:
            response.headers["referrer-policy"] = "no-referrer"
        return response

    @staticmethod
    def csrf_ok(request: Request, given: str) -> bool:
        return csrf_matches(request.cookies.get(PRE_SESSION_CSRF_COOKIE), given)

    async def trusted_device(self, request: Request, org_id: int) -> bool:
        """A person of the organisation is signed in to Mailgate in this browser."""
        session = await self.portal.session(request)
        if session is None:
            return False
        own = await self.portal.services.accounts.own(session.actor)
        return own.org_id == org_id

    def unreachable(self, request: Request, token: str, exc: EntryUnreachable) -> Response:
        locale = self.portal.catalog(request).locale
        return self.page(
            request,
            "apply_unreachable.html",
            token,
            status_code=403,
            hint=exc.entry.text(exc.hint, locale),
        )

    def too_large(self, request: Request, token: str) -> Response:
        return self.page(request, "apply_too_large.html", token, status_code=413)

    async def posted(
        self,
        request: Request,
        limit: int,
        handle: Callable[[FormData, str], Awaitable[Response]],
    ) -> Response:
        """Read the posted form within `limit`, check its double-submit token, and answer
        with `handle(form, token)`; the uploaded files are closed afterwards."""
        try:
            async with posted_form(request, limit) as data:
                token = str(data.get(CSRF_FIELD, ""))
                if not self.csrf_ok(request, token):
                    return self.csrf_failed(request)
                return await handle(data, token)
        except BodyTooLarge:
            return self.too_large(request, pre_session_token(request))

    def csrf_failed(self, request: Request) -> Response:
        """The form's token does not match the browser's: a new token, and the way back."""
        return self.page(request, "apply_expired.html", new_csrf_token(), status_code=403)


def apply_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services
    pages = PublicPages(portal)

    async def entry_for(request: Request, slug: str, token: str) -> EntryLanding | Response:
        """The entry if this visitor's network and device may use it; otherwise the page to
        answer with (unknown or disabled: 404; unreachable: where to reach it, 403)."""
        try:
            landing = await services.apply_form.landing(slug)
        except NotFound:
            return pages.page(request, "apply_unknown.html", token, status_code=404)
        trusted = await pages.trusted_device(request, landing.entry.org_id)
        if not landing.entry.reachable_from(client_ip(request), trusted):
            return pages.unreachable(request, token, EntryUnreachable(landing.entry))
        return landing

    def landing_text(request: Request, landing: EntryLanding) -> str:
        locale = portal.catalog(request).locale
        return landing.entry.text(landing.entry.landing, locale)

    @router.get(f"{APPLY}/{{slug}}")
    async def landing_page(request: Request, slug: str) -> Response:
        token = pre_session_token(request)
        landing = await entry_for(request, slug, token)
        if not isinstance(landing, EntryLanding):
            return landing
        return pages.page(
            request,
            "apply.html",
            token,
            landing=landing,
            text=landing_text(request, landing),
        )

    def ticket_only(request: Request, token: str, landing: EntryLanding) -> Response:
        """The service desk's entry takes applications from its ticket system only."""
        return pages.page(
            request, "apply_ticket_only.html", token, status_code=403, landing=landing
        )

    def step_one(
        request: Request, token: str, landing: EntryLanding, typed: Typed, status_code: int = 200
    ) -> Response:
        return pages.page(
            request,
            "apply_start.html",
            token,
            status_code=status_code,
            landing=landing,
            typed=typed,
        )

    @router.get(f"{APPLY}/{{slug}}/form")
    async def start(request: Request, slug: str) -> Response:
        token = pre_session_token(request)
        landing = await entry_for(request, slug, token)
        if not isinstance(landing, EntryLanding):
            return landing
        if landing.entry.kind is EntryPoint.TICKET:
            return ticket_only(request, token, landing)
        return step_one(request, token, landing, Typed())

    async def step_two(
        request: Request,
        token: str,
        landing: EntryLanding,
        typed: Typed,
        *,
        status_code: int = 200,
        files_dropped: bool = False,
    ) -> Response:
        t = portal.catalog(request)
        employee_id = typed.get("employee_id")
        needs = await services.apply_form.requirements(landing.entry.slug, employee_id)
        shown = [f for f in TEXT_FIELDS if f not in ("contact_email", "mobile")]
        return pages.page(
            request,
            "apply_form.html",
            token,
            status_code=status_code,
            landing=landing,
            typed=typed,
            required=needs.fields,
            documents=document_labels(t, needs.documents),
            shown=shown,
            more_open=any(
                typed.get(f) or f in typed.errors for f in shown if f not in needs.fields
            ),
            language=typed.get("language") or t.locale,
            files_dropped=files_dropped,
        )

    @router.post(f"{APPLY}/{{slug}}/form")
    async def details(request: Request, slug: str) -> Response:
        async def handle(data: FormData, token: str) -> Response:
            t = portal.catalog(request)
            _ = t.gettext
            landing = await entry_for(request, slug, token)
            if not isinstance(landing, EntryLanding):
                return landing
            if landing.entry.kind is EntryPoint.TICKET:
                return ticket_only(request, token, landing)
            typed = Typed.read(data, ("employee_id",))
            if not EMPLOYEE_ID.fullmatch(typed.get("employee_id")):
                typed.errors["employee_id"] = _(
                    "Enter your employee ID: letters, digits, '.', '_' and '-' only."
                )
                return step_one(request, token, landing, typed, status_code=422)
            return await step_two(request, token, landing, typed)

        return await pages.posted(request, 64 * 1024, handle)

    @router.post(f"{APPLY}/{{slug}}/submit")
    async def submit(request: Request, slug: str) -> Response:
        async def handle(data: FormData, token: str) -> Response:
            t = portal.catalog(request)
            landing = await entry_for(request, slug, token)
            if not isinstance(landing, EntryLanding):
                return landing
            typed = Typed.read(data, ("employee_id", "language", *TEXT_FIELDS))
            needs = await services.apply_form.requirements(
                landing.entry.slug, typed.get("employee_id")
            )
            check_typed(t, typed, needs.fields)
            uploads = await read_uploads(t, data, document_labels(t, needs.documents), typed)
            if typed.errors:
                return await step_two(
                    request, token, landing, typed, status_code=422, files_dropped=bool(uploads)
                )
            session = await portal.session(request)
            try:
                filed = await services.applications.file(
                    landing.entry.slug,
                    form_of(typed, typed.get("language")),
                    uploads,
                    client_ip=client_ip(request),
                    trusted_device=session is not None
                    and await pages.trusted_device(request, landing.entry.org_id),
                    applicant=session.actor if session else None,
                )
            except EntryUnreachable as exc:
                return pages.unreachable(request, token, exc)
            except Conflict:
                return pages.page(
                    request, "apply_duplicate.html", token, status_code=409, landing=landing
                )
            except InvalidInput as exc:
                service_errors(t, exc, typed)
                return await step_two(
                    request, token, landing, typed, status_code=422, files_dropped=bool(uploads)
                )
            except PermissionDenied:
                return ticket_only(request, token, landing)
            if filed.application is None:
                reasons = [refusal_text(code, t.locale, policy) for policy, code in filed.refusals]
                return pages.page(
                    request,
                    "apply_ticket.html",
                    token,
                    landing=landing,
                    ticket=filed.ticket,
                    reasons=reasons or list(filed.reasons),
                )
            base = str(request.base_url).rstrip("/")
            return pages.page(
                request,
                "apply_submitted.html",
                token,
                secret_url=True,
                landing=landing,
                application=filed.application,
                tracking_url=f"{base}{TRACK_PATH}{filed.tracking_token}",
                contact=filed.application.form.contact_email or filed.application.form.mobile,
            )

        return await pages.posted(request, MAX_BODY, handle)

    @router.get(f"{APPLY}/{{slug}}/submit")
    async def submit_get(slug: str) -> Response:
        """A reload of the result page: back to the form's first step."""
        return RedirectResponse(f"{APPLY}/{quote(slug, safe='')}/form", status_code=303)

    return router
