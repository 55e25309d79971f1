"""The reviewers' pages in the admin console (R6): the queue and one application.

    /admin/applications                    the inbox: applications waiting for a stage the
                                           reviewer may decide (filter by stage, search); or,
                                           with a state, every application of an organisation
                                           in that state
    /admin/applications/{id}               all form fields, the roster check with mismatches
                                           highlighted, the policy explanation, the documents,
                                           the timeline, and the decision form (checklist,
                                           comment, approve / reject / ask for information)
    /admin/applications/{id}/decide        POST: the decision (services.workflow.decide)
    /admin/applications/{id}/documents/N   one document, as an attachment that no browser
                                           renders inline or sniffs (sandboxed)

The console's navigation shows how many applications wait in the reviewer's inbox
(`review_badge`, a dependency of the console routes). Applicant text is only ever rendered
through Jinja2's autoescaping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Organisation
from mailgate.domain.errors import (
    InvalidInput,
    InvalidTransition,
    PermissionDenied,
    PoolExhausted,
)
from mailgate.domain.onboarding import RosterCheck
from mailgate.services.applications import ReviewView
from mailgate.services.identity import WebSession
from mailgate.services.workflow import APPROVER_KINDS
from mailgate.web.i18n import Catalog
from mailgate.web.portal.account import time_formatter
from mailgate.web.portal.apply_labels import (
    APPLICATION_STATES,
    APPROVERS,
    FIELDS,
    ROSTER_CHECKS,
    STEPS,
    show_setting,
)
from mailgate.web.portal.onboarding_admin import Console
from mailgate.web.portal.render import CONSOLE, Portal, pager

APPLICATIONS = f"{CONSOLE}/applications"
PAGE_SIZE = 25
MAX_COMMENT = 2000
ACTIONS = ("approve", "reject", "ask_information")

Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=200)]
Filter = Annotated[str, Query(max_length=200)]


def may_review_somewhere(actor: Actor) -> bool:
    scope = actor.org_scope(Permission.APPLICATION_REVIEW)
    return scope is None or bool(scope)


def review_badge(portal: Portal) -> Callable[[Request], Awaitable[None]]:
    """A dependency of the console routes: how many applications wait in the signed-in
    reviewer's inbox, for the navigation (`request.state.review_badge`)."""

    async def count(request: Request) -> None:
        request.state.review_badge = 0
        session = await portal.session(request)
        if session is None or not may_review_somewhere(session.actor):
            return
        _rows, total = await portal.services.workflow.queue(session.actor, None, None, "", 0, 1)
        request.state.review_badge = total

    return count


def _attachment_name(filename: str) -> str:
    """Content-Disposition for a download: an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback or 'document'}\"; filename*=UTF-8''{quote(filename)}"


def _mismatches(view: ReviewView) -> dict[str, bool]:
    """Which form fields the roster check flagged (shown highlighted)."""
    checks = set(view.application.roster_checks)
    return {
        "employee_id": RosterCheck.NOT_ON_ROSTER in checks or RosterCheck.NOT_ACTIVE in checks,
        "name": RosterCheck.NAME_MISMATCH in checks,
        "department": RosterCheck.UNIT_MISMATCH in checks,
        "supervisor": RosterCheck.SUPERVISOR_MISMATCH in checks,
    }


def _decision_error(
    t: Catalog, view: ReviewView, action: str, comment: str, ticks: set[str]
) -> str:
    _ = t.gettext
    app = view.application
    if action not in ACTIONS:
        return _("Choose approve, reject or ask for information.")
    if len(comment) > MAX_COMMENT:
        return _("Keep the comment under 2000 characters.")
    if action == "reject" and not comment:
        return _("Give the reason for the rejection: the applicant is told.")
    if action == "ask_information" and not comment:
        return _("Write the question for the applicant.")
    unticked = any(item not in ticks for item in app.checklist)
    if action == "approve" and app.waiting_for != "supervisor" and unticked:
        return _("Tick every item of the checklist before approving.")
    return ""


def review_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services
    console = Console(portal)

    def render(request: Request, template: str, session: WebSession, **ctx: Any) -> Response:
        return console.render(
            request,
            template,
            session,
            APPLICATIONS=APPLICATIONS,
            APPLICATION_STATES=APPLICATION_STATES,
            APPROVERS=APPROVERS,
            FIELDS=FIELDS,
            ROSTER_CHECKS=ROSTER_CHECKS,
            STEPS=STEPS,
            **ctx,
        )

    async def reviewer(request: Request) -> WebSession | Response:
        session = await console.session(request)
        if isinstance(session, WebSession) and not may_review_somewhere(session.actor):
            raise PermissionDenied("the applications are for reviewers")
        return session

    @router.get(APPLICATIONS)
    async def queue(
        request: Request,
        org: Filter = "",
        state: Filter = "",
        stage: Filter = "",
        q: Filter = "",
        offset: Offset = 0,
        limit: Limit = PAGE_SIZE,
    ) -> Response:
        session = await reviewer(request)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor
        orgs = await console.orgs(actor, Permission.APPLICATION_REVIEW)
        wanted_state = state if state in APPLICATION_STATES else ""
        wanted_stage = stage if stage in APPROVER_KINDS else ""
        current: Organisation | None
        if wanted_state:
            current = console.chosen(orgs, org)
            rows, total = await services.applications.search(
                actor, current.slug, wanted_state, q.strip(), offset, limit
            )
        else:
            current = console.chosen(orgs, org) if org else None
            rows, total = await services.workflow.queue(
                actor,
                current.slug if current else None,
                wanted_stage or None,
                q.strip(),
                offset,
                limit,
            )
        own = await services.accounts.own(actor)
        return render(
            request,
            "review_queue.html",
            session,
            orgs=orgs,
            org=current.slug if current else "",
            orgs_by_id={o.id: o for o in orgs},
            state=wanted_state,
            stage=wanted_stage,
            q=q,
            rows=rows,
            STAGES=APPROVER_KINDS,
            when=time_formatter(portal.catalog(request), own.time_zone),
            pager=pager(request, offset, limit, total, len(rows)),
        )

    async def detail(
        request: Request,
        session: WebSession,
        application_id: int,
        *,
        status_code: int = 200,
        error: str = "",
        notice: str = "",
        comment: str = "",
        ticks: set[str] | None = None,
    ) -> Response:
        actor = session.actor
        view = await services.applications.for_reviewer(actor, application_id)
        own = await services.accounts.own(actor)
        t = portal.catalog(request)
        return render(
            request,
            "review_application.html",
            session,
            status_code=status_code,
            view=view,
            app=view.application,
            mismatch=_mismatches(view),
            when=time_formatter(t, own.time_zone),
            show=lambda key, value: show_setting(t, key, value),
            error=error,
            notice=notice,
            comment=comment,
            ticks=ticks or set(),
            decidable=view.application.waiting_for is not None,
        )

    @router.get(f"{APPLICATIONS}/{{application_id}}")
    async def application(request: Request, application_id: int, done: Filter = "") -> Response:
        session = await reviewer(request)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        _ = t.gettext
        notices = {
            "approve": _("Your approval was recorded."),
            "reject": _("The application was rejected; the applicant is told."),
            "ask_information": _("Your question was sent to the applicant."),
        }
        return await detail(request, session, application_id, notice=notices.get(done, ""))

    @router.post(f"{APPLICATIONS}/{{application_id}}/decide")
    async def decide(request: Request, application_id: int) -> Response:
        session = await reviewer(request)
        if not isinstance(session, WebSession):
            return session
        data = await console.form(request, session)
        if not isinstance(data, FormData):
            return data
        actor = session.actor
        t = portal.catalog(request)
        _ = t.gettext
        view = await services.applications.for_reviewer(actor, application_id)
        action = str(data.get("decision", ""))
        comment = str(data.get("comment", ""))[: MAX_COMMENT + 1].strip()
        ticks = {str(v) for v in data.getlist("checklist")}
        error = _decision_error(t, view, action, comment, ticks)
        status_code = 422
        if not error:
            checklist = {item: item in ticks for item in view.application.checklist}
            try:
                await services.workflow.decide(actor, application_id, action, comment, checklist)
            except PermissionDenied:
                error = _(
                    "You may not decide this application: it is your own, you authorised it as "
                    "the supervisor, or this stage is for someone else."
                )
                status_code = 403
            except InvalidTransition:
                error = _("This application does not wait for a decision any more.")
                status_code = 409
            except PoolExhausted:
                error = _(
                    "The organisation's account pool is full: no mailbox can be created. Ask "
                    "the organisation's administrator to raise the limit, then approve again."
                )
                status_code = 409
            except InvalidInput:
                error = _("The decision is not complete. Check the checklist and the comment.")
            else:
                target = f"{APPLICATIONS}/{application_id}?{urlencode({'done': action})}"
                return RedirectResponse(target, status_code=303)
        return await detail(
            request,
            session,
            application_id,
            status_code=status_code,
            error=error,
            comment=comment,
            ticks=ticks,
        )

    @router.get(f"{APPLICATIONS}/{{application_id}}/documents/{{document_id}}")
    async def document(request: Request, application_id: int, document_id: int) -> Response:
        session = await reviewer(request)
        if not isinstance(session, WebSession):
            return session
        doc, data = await services.applications.document(session.actor, application_id, document_id)
        return Response(
            data,
            media_type=doc.content_type.value,
            headers={
                "content-disposition": _attachment_name(doc.filename),
                "x-content-type-options": "nosniff",
                "content-security-policy": "sandbox",
                "cache-control": "no-store",
            },
        )

    return router
