"""The "this wasn't me" button (`/account/not-me`): the emergency action of the security page.

A signed-in person who sees a sign-in (or anything else) they do not recognise confirms once;
then `AlertService.report_not_me` ends every web session of the account (this one too), revokes
every app password, requires a new password and tells the administrators and the person. No sudo
mode is asked for (whoever holds the session may always lock it down), but the form carries the
session's CSRF token like every other.

Afterwards the browser lands on `/account/not-me/done`: the sign-in form with the explanation
that the person must sign in again and choose a new password.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from mailgate.domain.errors import NotFound
from mailgate.domain.security import LoginRecord
from mailgate.services.identity import WebSession
from mailgate.web.portal.account import ACCOUNT, render_account
from mailgate.web.portal.render import Portal
from mailgate.web.portal.sudo import account_session
from mailgate.web.session import (
    CSRF_FIELD,
    PRE_SESSION_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_host_cookie,
    client_ip,
    new_csrf_token,
    set_host_cookie,
)

NOT_ME = f"{ACCOUNT}/not-me"
NOT_ME_DONE = f"{NOT_ME}/done"
PASSWORD_PAGE = f"{ACCOUNT}/password"  # where the sign-in leads afterwards
RECORD_LOOKBACK = 1000

CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]


def parse_record(text: str) -> int | None:
    """The login record id of the form ("" for none); ValueError for anything else."""
    text = text.strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise ValueError(f"{text!r} is not a sign-in record")
    return int(text)


def notme_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services

    async def reported(session: WebSession, record_id: int | None) -> LoginRecord | None:
        """The account's own sign-in `record_id` (None for none); NotFound if it is not one."""
        if record_id is None:
            return None
        recent = await services.logins.recent_logins(
            session.actor, session.actor.name, RECORD_LOOKBACK
        )
        for found in recent:
            if found.id == record_id:
                return found
        raise NotFound("there is no such recent sign-in of yours")

    @router.get(NOT_ME)
    async def confirm(
        request: Request, record: Annotated[int | None, Query(ge=1, le=2**62)] = None
    ) -> Response:
        session = await account_session(portal, request, None)
        if not isinstance(session, WebSession):
            return session
        found = await reported(session, record)
        account = await services.accounts.own(session.actor)
        return render_account(portal, request, "notme.html", session, account, record=found)

    @router.post(NOT_ME)
    async def report(
        request: Request,
        record: Annotated[str, Form(max_length=20)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await account_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        try:
            record_id = parse_record(record)
        except ValueError:
            return await portal.error_page(request, "bad_request", 400)
        await services.alerts.report_not_me(session.actor, record_id, client_ip(request))
        response = RedirectResponse(NOT_ME_DONE, status_code=303)
        clear_host_cookie(response, SESSION_COOKIE)
        return response

    @router.get(NOT_ME_DONE)
    async def done(request: Request) -> Response:
        token = new_csrf_token()
        response = portal.render(
            request,
            "notme_done.html",
            session=None,
            csrf_token=token,
            next_url=PASSWORD_PAGE,
        )
        set_host_cookie(response, PRE_SESSION_CSRF_COOKIE, token)
        return response

    return router
