"""`/account/recovery`: the account's recovery contacts (a backup e-mail address, a mobile
phone), each verified with a 6-digit code before it counts.

Listing needs only the session; every change (add, verify, new code, remove) needs sudo mode
first (web.portal.sudo) and the session's CSRF token. The service (services.recovery) sends the
codes, limits how often, audits and notifies; this module turns its errors into sentences in
the page's language.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from mailgate.domain.errors import Conflict, InvalidAddress, InvalidInput, MailgateError, NotFound
from mailgate.domain.recovery import MAX_CONTACTS, ContactKind
from mailgate.services.identity import WebSession
from mailgate.services.recovery import CodeRefused, TooManyCodes
from mailgate.web.i18n import N_, Catalog
from mailgate.web.portal.account import ACCOUNT, render_account
from mailgate.web.portal.render import Portal
from mailgate.web.portal.sudo import account_session, sudo_session
from mailgate.web.session import CSRF_FIELD

RECOVERY = f"{ACCOUNT}/recovery"
CONTACT_KINDS = {"email": N_("E-mail address"), "phone": N_("Mobile phone")}

CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]


def contact_error(t: Catalog, exc: MailgateError, kind: str = "") -> str:
    """What went wrong with a recovery contact or its code, in the page's language."""
    _ = t.gettext
    if isinstance(exc, TooManyCodes):
        if exc.retry_after <= 60:
            return _("A code was sent a moment ago. Wait %(seconds)s seconds, then try again.") % {
                "seconds": t.number(exc.retry_after)
            }
        return _("Too many codes were sent in the last hour. Try again in %(minutes)s minutes.") % {
            "minutes": t.number((exc.retry_after + 59) // 60)
        }
    if isinstance(exc, CodeRefused):
        if exc.attempts_left > 0:
            return _(
                "The code is not correct, or it has expired. %(left)s attempts left for this code."
            ) % {"left": t.number(exc.attempts_left)}
        return _("This code can no longer be used. Ask for a new one.")
    if isinstance(exc, Conflict):
        return _("This contact is already on your account.")
    if isinstance(exc, NotFound):
        return _("This recovery contact no longer exists.")
    messages = {
        "no_sms_provider": _(
            "Text messages cannot be sent from this Mailgate. Add an e-mail address instead."
        ),
        "own_mailbox": _("The recovery address must be another mailbox than this account."),
        "too_many_contacts": _(
            "You can have at most %(count)s recovery contacts. Remove one first."
        )
        % {"count": t.number(MAX_CONTACTS)},
        "already_verified": _("This contact is already verified."),
        "code_shape": _("Enter the 6 digits of the code."),
    }
    if exc.code in messages:
        return messages[exc.code]
    if isinstance(exc, InvalidAddress) or (isinstance(exc, InvalidInput) and kind == "email"):
        return _("Enter a complete e-mail address, for example name@example.com.")
    if isinstance(exc, InvalidInput) and kind == "phone":
        return _("Enter a mobile number with its country code, for example +86 138 0013 8000.")
    return _("A value in the request is not valid.")


def recovery_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services

    async def page(
        request: Request,
        session: WebSession,
        *,
        status_code: int = 200,
        notice: str = "",
        error: str = "",
        form: dict[str, str] | None = None,
        focus: int | None = None,
    ) -> Response:
        account = await services.accounts.own(session.actor)
        contacts = await services.recovery.list(session.actor, session.actor.name)
        return render_account(
            portal,
            request,
            "account_recovery.html",
            session,
            account,
            status_code,
            contacts=contacts,
            CONTACT_KINDS=CONTACT_KINDS,
            sms_available=services.recovery.sms_available,
            max_contacts=MAX_CONTACTS,
            notice=notice,
            error=error,
            form=form or {"kind": "email", "value": ""},
            focus=focus,
        )

    @router.get(RECOVERY)
    async def recovery(request: Request) -> Response:
        session = await account_session(portal, request, None)
        if not isinstance(session, WebSession):
            return session
        _ = portal.catalog(request).gettext
        done = request.query_params.get("done", "")
        notice = {
            "sent": _("A 6-digit code is on its way. Enter it below to verify the contact."),
            "verified": _("The recovery contact is verified."),
            "removed": _("The recovery contact was removed."),
        }.get(done, "")
        focus = request.query_params.get("contact", "")
        return await page(
            request, session, notice=notice, focus=int(focus) if focus.isdigit() else None
        )

    @router.post(RECOVERY)
    async def add(
        request: Request,
        kind: Annotated[str, Form(max_length=10)] = "",
        value: Annotated[str, Form(max_length=320)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        form = {"kind": kind if kind in CONTACT_KINDS else "email", "value": value}
        if kind not in CONTACT_KINDS:
            error = t.gettext("Choose an e-mail address or a mobile phone.")
            return await page(request, session, status_code=422, error=error, form=form)
        if not value.strip():
            error = t.gettext("Enter the address or number to add.")
            return await page(request, session, status_code=422, error=error, form=form)
        try:
            contact_id = await services.recovery.add(
                session.actor, session.actor.name, ContactKind(kind), value
            )
        except (InvalidInput, Conflict, TooManyCodes) as exc:
            status = (
                429 if isinstance(exc, TooManyCodes) else 409 if isinstance(exc, Conflict) else 422
            )
            return await page(
                request, session, status_code=status, error=contact_error(t, exc, kind), form=form
            )
        return RedirectResponse(f"{RECOVERY}?done=sent&contact={contact_id}", status_code=303)

    @router.post(f"{RECOVERY}/{{contact_id}}/verify")
    async def verify(
        request: Request,
        contact_id: int,
        code: Annotated[str, Form(max_length=20)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        try:
            await services.recovery.verify(session.actor, session.actor.name, contact_id, code)
        except (InvalidInput, NotFound) as exc:
            return await page(
                request, session, status_code=422, error=contact_error(t, exc), focus=contact_id
            )
        return RedirectResponse(f"{RECOVERY}?done=verified", status_code=303)

    @router.post(f"{RECOVERY}/{{contact_id}}/resend")
    async def resend(request: Request, contact_id: int, csrf_token: CsrfField = "") -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        try:
            await services.recovery.resend(session.actor, session.actor.name, contact_id)
        except (InvalidInput, NotFound, TooManyCodes) as exc:
            status = 429 if isinstance(exc, TooManyCodes) else 422
            return await page(
                request, session, status_code=status, error=contact_error(t, exc), focus=contact_id
            )
        return RedirectResponse(f"{RECOVERY}?done=sent&contact={contact_id}", status_code=303)

    @router.post(f"{RECOVERY}/{{contact_id}}/remove")
    async def remove(request: Request, contact_id: int, csrf_token: CsrfField = "") -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        try:
            await services.recovery.remove(session.actor, session.actor.name, contact_id)
        except NotFound as exc:
            return await page(request, session, status_code=404, error=contact_error(t, exc))
        return RedirectResponse(f"{RECOVERY}?done=removed", status_code=303)

    return router
