"""`/account/forwarding`: forward the account's mail to one address, verified with a code.

Showing needs only the session; every change (set, enter the code, remove) needs sudo mode
first (web.portal.sudo) and the session's CSRF token. The service (services.forwarding) checks
the policy, loops and codes, audits and notifies; this module turns its errors into sentences
in the page's language.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from mailgate.domain.errors import InvalidInput, MailgateError, NotFound, RuleViolation
from mailgate.services.forwarding import CODES_PER_HOUR
from mailgate.services.identity import WebSession
from mailgate.services.recovery import TooManyCodes
from mailgate.web.i18n import Catalog
from mailgate.web.portal.account import ACCOUNT, render_account
from mailgate.web.portal.recovery import contact_error
from mailgate.web.portal.render import Portal
from mailgate.web.portal.sudo import account_session, sudo_session
from mailgate.web.session import CSRF_FIELD

FORWARDING = f"{ACCOUNT}/forwarding"

CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]


def forwarding_error(t: Catalog, exc: MailgateError) -> str:
    """What went wrong with a forwarding or its code, in the page's language."""
    _ = t.gettext
    messages = {
        "forwarding_off": _("Your organisation does not allow forwarding mail."),
        "forwarding_internal_only": _(
            "Your organisation allows forwarding only to addresses of its own domains."
        ),
        "forwarding_own_address": _("Enter another address than this mailbox."),
        "forwarding_loop": _(
            "Mail for that address comes back to this mailbox, so forwarding there would make "
            "a loop."
        ),
        "forwarding_unknown_target": _("Nothing receives mail at that address here."),
        "already_verified": _("This forwarding is already confirmed."),
    }
    if exc.code in messages:
        return messages[exc.code]
    if isinstance(exc, TooManyCodes) and exc.retry_after > 60:
        text = _("%(count)s codes were sent in the last hour. Try again in %(minutes)s minutes.")
        return text % {
            "count": t.number(CODES_PER_HOUR),
            "minutes": t.number((exc.retry_after + 59) // 60),
        }
    if isinstance(exc, NotFound):
        return _("There is no forwarding on this mailbox.")
    return contact_error(t, exc, "email")


def forwarding_router(portal: Portal) -> APIRouter:
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
    ) -> Response:
        account = await services.accounts.own(session.actor)
        forwarding = await services.forwarding.get(session.actor)
        return render_account(
            portal,
            request,
            "account_forwarding.html",
            session,
            account,
            status_code,
            forwarding=forwarding,
            notice=notice,
            error=error,
            form=form or {"target": "", "keep_copy": "1"},
        )

    @router.get(FORWARDING)
    async def show(request: Request) -> Response:
        session = await account_session(portal, request, None)
        if not isinstance(session, WebSession):
            return session
        _ = portal.catalog(request).gettext
        notice = {
            "sent": _("A 6-digit code is on its way to the address. Enter it below."),
            "verified": _("Your mail is now forwarded."),
            "removed": _("Forwarding was removed. Your mail stays in this mailbox."),
        }.get(request.query_params.get("done", ""), "")
        return await page(request, session, notice=notice)

    @router.post(FORWARDING)
    async def set_target(
        request: Request,
        target: Annotated[str, Form(max_length=320)] = "",
        keep_copy: Annotated[str, Form(max_length=5)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        form = {"target": target, "keep_copy": "1" if keep_copy else ""}
        if not target.strip():
            _ = t.gettext
            error = _("Enter the address to forward to.")
            return await page(request, session, status_code=422, error=error, form=form)
        try:
            await services.forwarding.set(session.actor, target, bool(keep_copy))
        except (InvalidInput, RuleViolation) as exc:
            status = 429 if isinstance(exc, TooManyCodes) else 422
            return await page(
                request, session, status_code=status, error=forwarding_error(t, exc), form=form
            )
        return RedirectResponse(f"{FORWARDING}?done=sent", status_code=303)

    @router.post(f"{FORWARDING}/verify")
    async def verify(
        request: Request,
        code: Annotated[str, Form(max_length=20)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        try:
            await services.forwarding.verify(session.actor, code)
        except (InvalidInput, NotFound) as exc:
            return await page(request, session, status_code=422, error=forwarding_error(t, exc))
        return RedirectResponse(f"{FORWARDING}?done=verified", status_code=303)

    @router.post(f"{FORWARDING}/remove")
    async def remove(request: Request, csrf_token: CsrfField = "") -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        try:
            await services.forwarding.remove(session.actor)
        except NotFound as exc:
            return await page(request, session, status_code=404, error=forwarding_error(t, exc))
        return RedirectResponse(f"{FORWARDING}?done=removed", status_code=303)

    return router
