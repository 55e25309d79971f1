"""`/account/password/required`: the one page a "password_update" restricted session may use.

An administrator (force password change, lockdown) or the person themselves ("this wasn't me")
demanded a new password. After the old password (and the second factor, if the account has one)
the person lands here, not in their account: they choose a new password (the policy's reasons
shown in the page's language), which clears the demand, and continue with a full session under a
new id. Mail protocols and the API refuse the account until then.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from mailgate.domain.errors import InvalidInput
from mailgate.services.credentials import PasswordRejected
from mailgate.services.identity import STAGE_PASSWORD_UPDATE, RestrictedSession
from mailgate.web.portal.auth import ACCOUNT_HOME, PASSWORD_REQUIRED
from mailgate.web.portal.render import SIGN_IN, Portal
from mailgate.web.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    clear_host_cookie,
    client_ip,
    csrf_matches,
    set_host_cookie,
)

PasswordField = Annotated[str, Form(max_length=1024)]


def errands_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services
    identity = services.identity

    async def restricted_of(request: Request) -> RestrictedSession | None:
        return await identity.restricted(
            request.cookies.get(SESSION_COOKIE, ""), STAGE_PASSWORD_UPDATE
        )

    def page(
        request: Request, restricted: RestrictedSession, errors: list[str], status_code: int = 200
    ) -> Response:
        return portal.render(
            request,
            "password_required.html",
            session=None,
            csrf_token=restricted.csrf,
            address=restricted.address,
            errors=errors,
            PASSWORD_REQUIRED=PASSWORD_REQUIRED,
            status_code=status_code,
        )

    def to_sign_in() -> Response:
        # The cookie stays: it may belong to a sign-in still at its second step.
        return RedirectResponse(SIGN_IN, status_code=303)

    @router.get(PASSWORD_REQUIRED)
    async def form(request: Request) -> Response:
        restricted = await restricted_of(request)
        if restricted is None:
            return to_sign_in()
        return page(request, restricted, [])

    @router.post(PASSWORD_REQUIRED)
    async def submit(
        request: Request,
        new_password: PasswordField = "",
        repeat_password: PasswordField = "",
        csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
    ) -> Response:
        restricted = await restricted_of(request)
        if restricted is None:
            return to_sign_in()
        if not csrf_matches(restricted.csrf, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        t = portal.catalog(request)
        _ = t.gettext
        errors: list[str] = []
        if not new_password:
            errors.append(_("Enter a new password."))
        elif new_password != repeat_password:
            errors.append(_("The two new passwords are not the same."))
        if not errors:
            actor = await identity.act_as(restricted.address, client_ip(request))
            try:
                # The old password (and second factor) were proven at sign-in just now.
                await services.credentials.change_password(
                    actor,
                    new_password,
                    current_password=None,
                    keep_session_hash=restricted.id_hash,
                    client_ip=client_ip(request),
                )
            except PasswordRejected as rejected:
                errors = [p.message_in(t.locale) for p in rejected.problems]
            except InvalidInput:
                errors = [_("The new password cannot be used. Choose another one.")]
        if errors:
            return page(request, restricted, errors, status_code=422)
        session = await identity.finish_errand(
            restricted,
            source_ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
        if session is None:  # something else is still owed (e.g. the account was locked)
            await identity.end_restricted(restricted)
            response = RedirectResponse(SIGN_IN, status_code=303)
            clear_host_cookie(response, SESSION_COOKIE)
            return response
        response = RedirectResponse(f"{ACCOUNT_HOME}?password_changed=1", status_code=303)
        set_host_cookie(response, SESSION_COOKIE, session.token)
        return response

    return router
