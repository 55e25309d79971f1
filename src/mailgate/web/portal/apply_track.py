"""The pages behind the two secret links of onboarding: the applicant's tracking link and the
supervisor's approval link.

    /apply/track/{token}            the application's state, its timeline (who, when, what, the
    (also /track/{token})           comments addressed to the applicant), what happens next; a
                                    resubmit form with uploads when a reviewer asked a question
    .../{token}/withdraw            GET: confirm; POST: withdraw the application
    .../{token}/resubmit            POST (multipart): the answer to the reviewer's question
    /approve/{token}                the supervisor's page: a summary of the application and
                                    approve / reject with a comment; GET does not use the link,
                                    the POST spends it

A token that matches nothing gets one 404 page whose bytes do not depend on the token. These
pages send `Referrer-Policy: no-referrer`, and nothing here writes a token to a log.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from mailgate.domain.errors import (
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    PoolExhausted,
)
from mailgate.domain.onboarding import Application, ApplicationState, Step
from mailgate.services.applications import TRACK_PATH, TrackingView
from mailgate.services.workflow import LinkExpired, LinkOutdated, LinkUsed
from mailgate.web.i18n import N_, Catalog
from mailgate.web.portal.account import time_formatter
from mailgate.web.portal.apply import (
    MAX_BODY,
    TEXT_FIELDS,
    PublicPages,
    Typed,
    check_typed,
    form_of,
    read_uploads,
    service_errors,
)
from mailgate.web.portal.apply_labels import ROSTER_CHECKS
from mailgate.web.portal.render import Portal
from mailgate.web.portal.reset import pre_session_token
from mailgate.web.session import client_ip

TRACK_BASES = (TRACK_PATH.rstrip("/"), "/track")
APPROVE = "/approve"
MAX_COMMENT = 2000
WHO = {
    "applicant": N_("You"),
    "supervisor": N_("Your supervisor"),
    "it": N_("IT department"),
    "hr": N_("Human resources"),
    "security": N_("Information security"),
    "system": N_("Mailgate"),
}


def _form_values(application: Application) -> dict[str, str]:
    f = application.form
    return {
        "employee_id": f.employee_id,
        "name": f.name,
        "department": f.department,
        "position": f.position,
        "purpose": f.purpose,
        "duration": "" if f.duration_days is None else str(f.duration_days),
        "supervisor": f.supervisor_employee_id,
        "agreement_number": f.agreement_number,
        "sponsor": f.sponsor,
        "contact_email": f.contact_email,
        "mobile": f.mobile,
        "language": f.language,
    }


def _question(view: TrackingView) -> str:
    asked = [d for d in view.timeline if d.step is Step.ASK_INFORMATION]
    return asked[-1].comment if asked else ""


def track_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services
    pages = PublicPages(portal)

    def unknown(request: Request, template: str = "track_unknown.html") -> Response:
        return pages.page(request, template, "", status_code=404, secret_url=True)

    async def view_of(token: str) -> TrackingView | None:
        try:
            return await services.applications.track(token)
        except NotFound:
            return None

    async def track_page(
        request: Request,
        base: str,
        token: str,
        view: TrackingView,
        csrf: str,
        *,
        typed: Typed | None = None,
        status_code: int = 200,
        notice: str = "",
        error: str = "",
        files_dropped: bool = False,
    ) -> Response:
        t = portal.catalog(request)
        _ = t.gettext
        app = view.application
        needs = await services.apply_form.requirements_in(
            app.org_id, app.entry_point, app.form.employee_id
        )
        have = {label.casefold() for label, _name in view.documents}
        labels = {
            f"doc.{i}": label
            for i, label in enumerate(needs.documents)
            if label.casefold() not in have
        }
        labels["doc.other"] = _("Other document")
        if typed is None:
            typed = Typed(values=_form_values(app))
        return pages.page(
            request,
            "track.html",
            csrf,
            status_code=status_code,
            secret_url=True,
            view=view,
            app=app,
            timeline=[d for d in view.timeline if d.step is not None],
            question=_question(view),
            here=f"{base}/{token}",
            when=time_formatter(t, "UTC"),
            WHO=WHO,
            typed=typed,
            required=needs.fields,
            documents=labels,
            shown=[f for f in TEXT_FIELDS if f not in ("contact_email", "mobile")],
            language=app.form.language,
            notice=notice,
            error=error,
            files_dropped=files_dropped,
            may_withdraw=(app.state, Step.WITHDRAW) in _WITHDRAWABLE,
        )

    def done_notice(t: Catalog, done: str) -> str:
        _ = t.gettext
        return {
            "withdrawn": _("Your application was withdrawn."),
            "resubmitted": _("Your answer was sent. The application continues where it stopped."),
        }.get(done, "")

    def add_routes(base: str) -> None:
        """The tracking routes under one base path."""

        @router.get(f"{base}/{{token}}")
        async def track(request: Request, token: str, done: str = "") -> Response:
            view = await view_of(token)
            if view is None:
                return unknown(request)
            notice = done_notice(portal.catalog(request), done[:20])
            return await track_page(
                request, base, token, view, pre_session_token(request), notice=notice
            )

        @router.get(f"{base}/{{token}}/withdraw")
        async def confirm_withdraw(request: Request, token: str) -> Response:
            view = await view_of(token)
            if view is None:
                return unknown(request)
            return pages.page(
                request,
                "track_withdraw.html",
                pre_session_token(request),
                secret_url=True,
                app=view.application,
                view=view,
                here=f"{base}/{token}",
            )

        @router.post(f"{base}/{{token}}/withdraw")
        async def withdraw(request: Request, token: str) -> Response:
            async def handle(data: FormData, csrf: str) -> Response:
                t = portal.catalog(request)
                _ = t.gettext
                reason = str(data.get("reason", ""))[:MAX_COMMENT]
                try:
                    await services.applications.withdraw(
                        token, reason, client_ip=client_ip(request)
                    )
                except NotFound:
                    return unknown(request)
                except InvalidTransition:
                    view = await view_of(token)
                    if view is None:
                        return unknown(request)
                    error = _("The application cannot be withdrawn any more: it has been decided.")
                    return await track_page(
                        request, base, token, view, csrf, status_code=409, error=error
                    )
                response = RedirectResponse(
                    f"{base}/{quote(token)}?done=withdrawn", status_code=303
                )
                response.headers["referrer-policy"] = "no-referrer"
                return response

            return await pages.posted(request, 64 * 1024, handle)

        @router.post(f"{base}/{{token}}/resubmit")
        async def resubmit(request: Request, token: str) -> Response:
            async def handle(data: FormData, csrf: str) -> Response:
                view = await view_of(token)
                if view is None:
                    return unknown(request)
                t = portal.catalog(request)
                _ = t.gettext
                app = view.application
                typed = Typed.read(data, ("language", *TEXT_FIELDS))
                typed.values["employee_id"] = app.form.employee_id
                needs = await services.apply_form.requirements_in(
                    app.org_id, app.entry_point, app.form.employee_id
                )
                check_typed(t, typed, needs.fields)
                labels = _labels(t, needs.documents, data)
                uploads = await read_uploads(t, data, labels, typed)
                if not typed.errors:
                    try:
                        await services.applications.resubmit(
                            token,
                            form_of(typed, typed.get("language")),
                            uploads,
                            client_ip=client_ip(request),
                        )
                    except NotFound:
                        return unknown(request)
                    except InvalidTransition:
                        typed.errors[""] = _(
                            "Nobody asked for more information, so there is nothing to send."
                        )
                    except InvalidInput as exc:
                        service_errors(t, exc, typed)
                    else:
                        target = f"{base}/{quote(token)}?done=resubmitted"
                        response = RedirectResponse(target, status_code=303)
                        response.headers["referrer-policy"] = "no-referrer"
                        return response
                return await track_page(
                    request,
                    base,
                    token,
                    view,
                    csrf,
                    typed=typed,
                    status_code=422,
                    error=typed.errors.get("", ""),
                    files_dropped=bool(uploads),
                )

            return await pages.posted(request, MAX_BODY, handle)

    for base in TRACK_BASES:
        add_routes(base)
    register_approve(router, portal, pages)
    return router


_WITHDRAWABLE = frozenset(
    (s, Step.WITHDRAW)
    for s in (
        ApplicationState.DRAFT,
        ApplicationState.SUBMITTED,
        ApplicationState.AWAITING_SUPERVISOR,
        ApplicationState.AWAITING_REVIEW,
        ApplicationState.NEEDS_INFORMATION,
    )
)


def _labels(t: Catalog, required: tuple[str, ...], data: FormData) -> dict[str, str]:
    _ = t.gettext
    labels = {f"doc.{i}": label for i, label in enumerate(required)}
    labels["doc.other"] = _("Other document")
    return {name: label for name, label in labels.items() if name in data}


# --- the supervisor's link ---------------------------------------------------------------------


def register_approve(router: APIRouter, portal: Portal, pages: PublicPages) -> None:
    workflow = portal.services.workflow

    def refused(request: Request, exc: Exception) -> Response:
        if isinstance(exc, LinkUsed):
            template, status_code = "approve_used.html", 410
        elif isinstance(exc, LinkExpired):
            template, status_code = "approve_expired.html", 410
        elif isinstance(exc, LinkOutdated):
            template, status_code = "approve_outdated.html", 409
        else:
            template, status_code = "approve_unknown.html", 404
        return pages.page(request, template, "", status_code=status_code, secret_url=True)

    def approve_page(
        request: Request,
        token: str,
        app: Application,
        csrf: str,
        *,
        comment: str = "",
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        return pages.page(
            request,
            "approve.html",
            csrf,
            status_code=status_code,
            secret_url=True,
            app=app,
            here=f"{APPROVE}/{token}",
            ROSTER_CHECKS=ROSTER_CHECKS,
            comment=comment,
            error=error,
            max_comment=MAX_COMMENT,
        )

    @router.get(f"{APPROVE}/{{token}}")
    async def supervisor_page(request: Request, token: str) -> Response:
        try:
            app = await workflow.supervisor_view(token)
        except (NotFound, LinkUsed, LinkExpired, LinkOutdated) as exc:
            return refused(request, exc)
        return approve_page(request, token, app, pre_session_token(request))

    @router.post(f"{APPROVE}/{{token}}")
    async def supervisor_decides(request: Request, token: str) -> Response:
        async def handle(data: FormData, csrf: str) -> Response:
            t = portal.catalog(request)
            _ = t.gettext
            decision = str(data.get("decision", ""))
            comment = str(data.get("comment", ""))[: MAX_COMMENT + 1].strip()
            error, status_code = "", 422
            if decision not in ("approve", "reject"):
                error = _("Choose approve or reject.")
            elif decision == "reject" and not comment:
                error = _("Give the reason for the rejection: the applicant is told.")
            elif len(comment) > MAX_COMMENT:
                error = _("Keep the comment under 2000 characters.")
            if not error:
                try:
                    app = await workflow.supervisor_decide(
                        token, decision == "approve", comment, client_ip(request)
                    )
                except (NotFound, LinkUsed, LinkExpired, LinkOutdated) as exc:
                    return refused(request, exc)
                except PermissionDenied:
                    status_code = 403
                    error = _(
                        "You cannot decide on this application yourself (for example your own). "
                        "Ask the IT desk."
                    )
                except PoolExhausted:
                    error = _(
                        "The organisation has no mailboxes left to give. The IT desk has been "
                        "told; try again later."
                    )
                except InvalidInput:
                    error = _("Give the reason for the rejection: the applicant is told.")
                else:
                    return pages.page(
                        request,
                        "approve_done.html",
                        csrf,
                        secret_url=True,
                        app=app,
                        approved=decision == "approve",
                    )
            try:
                app = await workflow.supervisor_view(token)
            except (NotFound, LinkUsed, LinkExpired, LinkOutdated) as exc:
                return refused(request, exc)
            return approve_page(
                request, token, app, csrf, comment=comment, error=error, status_code=status_code
            )

        return await pages.posted(request, 64 * 1024, handle)
