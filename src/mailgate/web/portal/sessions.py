"""`/account/sessions` (where the account is signed in, and ending those sessions) and
`/account/password` (a new main password).

Sessions are listed by their non-secret handle, never by the cookie value, and only the
account's own: `IdentityService.end_session` refuses any other handle. Ending sessions needs no
sudo mode (ending is always allowed); expired rows are removed whenever the list is shown.

The password page asks for the current password, unless the session is in sudo mode; a refused
new password shows every reason in the page's language. Afterwards every other session of the
account has ended (CredentialService) and this one continues under a new id.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from mailgate.domain.clients import user_agent_parts
from mailgate.domain.errors import AuthenticationFailed, InvalidInput
from mailgate.services.credentials import PasswordRejected
from mailgate.services.identity import WebSession
from mailgate.web.i18n import Catalog
from mailgate.web.portal.account import ACCOUNT, render_account
from mailgate.web.portal.render import SIGN_IN, Portal
from mailgate.web.portal.sudo import account_session
from mailgate.web.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    clear_host_cookie,
    client_ip,
    set_host_cookie,
)

SESSIONS = f"{ACCOUNT}/sessions"
PASSWORD = f"{ACCOUNT}/password"
HANDLE = re.compile(r"^[0-9a-f]{1,32}$")

CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]
PasswordField = Annotated[str, Form(max_length=1024)]


def device_parts(user_agent: str) -> tuple[str, str]:
    """(browser, operating system) named in a User-Agent, each "" when not recognised."""
    return user_agent_parts(user_agent)


def device_summary(t: Catalog, user_agent: str) -> str:
    """A short description such as "Chrome on Windows", in the page's language."""
    _ = t.gettext
    browser, system = device_parts(user_agent)
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or _("Unknown device")


def sessions_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services
    identity = services.identity

    async def sessions_page(
        request: Request, session: WebSession, *, notice: str = "", status_code: int = 200
    ) -> Response:
        t = portal.catalog(request)
        account = await services.accounts.own(session.actor)
        rows = await identity.list_sessions(session)
        return render_account(
            portal,
            request,
            "account_sessions.html",
            session,
            account,
            status_code,
            rows=rows,
            device=lambda ua: device_summary(t, ua),
            idle_minutes=int(identity.idle_timeout.total_seconds() // 60),
            absolute_hours=int(identity.absolute_timeout.total_seconds() // 3600),
            notice=notice,
            error="",
        )

    @router.get(SESSIONS)
    async def sessions(request: Request) -> Response:
        session = await account_session(portal, request, None)
        if not isinstance(session, WebSession):
            return session
        _ = portal.catalog(request).gettext
        ended = request.query_params.get("ended", "")
        notice = ""
        if ended == "1":
            notice = _("The session was ended.")
        elif ended == "others":
            notice = _("All other sessions were ended.")
        return await sessions_page(request, session, notice=notice)

    @router.post(f"{SESSIONS}/{{handle}}/end")
    async def end_session(request: Request, handle: str, csrf_token: CsrfField = "") -> Response:
        session = await account_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        if not HANDLE.match(handle):
            return await portal.error_page(request, "not_found", 404)
        if await identity.end_session(session, handle):  # NotFound: not one of theirs
            response = RedirectResponse(SIGN_IN, status_code=303)
            clear_host_cookie(response, SESSION_COOKIE)
            return response
        return RedirectResponse(f"{SESSIONS}?ended=1", status_code=303)

    @router.post(f"{SESSIONS}/end-others")
    async def end_others(request: Request, csrf_token: CsrfField = "") -> Response:
        session = await account_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        await identity.end_other_sessions(session)
        return RedirectResponse(f"{SESSIONS}?ended=others", status_code=303)

    async def password_page(
        request: Request,
        session: WebSession,
        *,
        status_code: int = 200,
        notice: str = "",
        errors: list[str] | None = None,
    ) -> Response:
        account = await services.accounts.own(session.actor)
        return render_account(
            portal,
            request,
            "account_password.html",
            session,
            account,
            status_code,
            in_sudo=identity.in_sudo(session),
            notice=notice,
            errors=errors or [],
            error="",
        )

    @router.get(PASSWORD)
    async def password_form(request: Request) -> Response:
        session = await account_session(portal, request, None)
        if not isinstance(session, WebSession):
            return session
        _ = portal.catalog(request).gettext
        changed = request.query_params.get("changed") == "1"
        notice = (
            _("Your password was changed. You were signed out everywhere else.") if changed else ""
        )
        return await password_page(request, session, notice=notice)

    @router.post(PASSWORD)
    async def password_change(
        request: Request,
        current_password: PasswordField = "",
        new_password: PasswordField = "",
        repeat_password: PasswordField = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await account_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        _ = t.gettext
        in_sudo = identity.in_sudo(session)  # decided here, never by the form
        errors: list[str] = []
        if not in_sudo and not current_password:
            errors.append(_("Enter your current password."))
        if not new_password:
            errors.append(_("Enter a new password."))
        elif new_password != repeat_password:
            errors.append(_("The two new passwords are not the same."))
        if errors:
            return await password_page(request, session, status_code=422, errors=errors)
        try:
            await services.credentials.change_password(
                session.actor,
                new_password,
                current_password=None if in_sudo else current_password,
                keep_session_hash=session.id_hash,
                client_ip=client_ip(request),
                user_agent=request.headers.get("user-agent", ""),
            )
        except AuthenticationFailed:
            errors = [_("Your current password is not correct.")]
        except PasswordRejected as rejected:
            errors = [p.message_in(t.locale) for p in rejected.problems]
        except InvalidInput:
            errors = [_("The new password cannot be used. Choose another one.")]
        if errors:
            return await password_page(request, session, status_code=422, errors=errors)
        renewed = await identity.rotate(session)
        response = RedirectResponse(f"{PASSWORD}?changed=1", status_code=303)
        set_host_cookie(response, SESSION_COOKIE, renewed.token)
        return response

    return router
