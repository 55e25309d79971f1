"""The public password-reset pages (R15): `/reset` and what follows it.

    /reset                 the address (GET form, POST answer: "check your recovery contacts")
    /reset/code            the 6-digit code from a recovery contact
    /reset/link/{token}    the link from an e-mail contact: a button, so that mail scanners that
                           open links do not use it up
    /reset/continue        the next step of a proven reset: the second factor, or the password
    /reset/second-factor   TOTP or recovery code, when the account has a second factor
    /reset/password        the new password (each policy problem listed in the page's language)
    /reset/done            done: sign in again

The answer to the address is the same page for every address, byte for byte apart from the
CSRF token: it names the IT desk of the organisation owning the address's domain (the domain is
public anyway; the platform default `security.helpdesk_contact` otherwise), and the sending runs
after the response (a background task), so neither the page nor its timing tells whether the
address exists or may reset. The address travels to the code page in a cookie, not in the page.

There is no session yet: every form carries the double-submit token of the sign-in form
(`__Host-mailgate_csrf`). A proven code becomes a reset ticket in `__Host-mailgate_reset`
(HttpOnly, 10 minutes, single use); the address cookie and the ticket never appear in a URL.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from mailgate.domain.errors import InvalidInput
from mailgate.domain.factors import normalise_totp
from mailgate.domain.names import Address
from mailgate.services.credentials import PasswordRejected
from mailgate.services.reset import ResetMethod, ResetStep, TicketInvalid
from mailgate.web.portal.render import SIGN_IN, Portal
from mailgate.web.portal.sudo import factor_refusal_text
from mailgate.web.session import (
    CSRF_FIELD,
    PRE_SESSION_CSRF_COOKIE,
    clear_host_cookie,
    client_ip,
    csrf_matches,
    new_csrf_token,
    set_host_cookie,
)

RESET = "/reset"
ADDRESS_COOKIE = "__Host-mailgate_reset_for"
TICKET_COOKIE = "__Host-mailgate_reset"
ADDRESS_COOKIE_AGE = 20 * 60
TICKET_COOKIE_AGE = 10 * 60
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]
PasswordField = Annotated[str, Form(max_length=1024)]


def pre_session_token(request: Request) -> str:
    """The double-submit token of the public forms: the browser's, or a new one."""
    token = request.cookies.get(PRE_SESSION_CSRF_COOKIE, "")
    if 32 <= len(token) <= 64 and set(token) <= _TOKEN_CHARS:
        return token
    return new_csrf_token()


def _encode(address: str) -> str:
    return base64.urlsafe_b64encode(address.encode()).decode("ascii").rstrip("=")


def _decode(value: str | None) -> str:
    if not value or len(value) > 600:
        return ""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def reset_router(portal: Portal, default_helpdesk: str = "") -> APIRouter:
    router = APIRouter(include_in_schema=False)
    reset = portal.services.reset

    async def helpdesk(address: str) -> str:
        """The IT desk for the address's domain, else the platform's."""
        found = await reset.helpdesk_contact(address) if address else ""
        return found or default_helpdesk

    def page(
        request: Request,
        template: str,
        token: str,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        response = portal.render(
            request,
            template,
            session=None,
            csrf_token=token,
            status_code=status_code,
            RESET=RESET,
            SIGN_IN=SIGN_IN,
            **context,
        )
        set_host_cookie(response, PRE_SESSION_CSRF_COOKIE, token)
        return response

    async def expired(request: Request, token: str, address: str = "") -> Response:
        response = page(
            request,
            "reset_expired.html",
            token,
            status_code=410,
            helpdesk=await helpdesk(address),
        )
        clear_host_cookie(response, TICKET_COOKIE)
        return response

    def csrf_ok(request: Request, given: str) -> bool:
        return csrf_matches(request.cookies.get(PRE_SESSION_CSRF_COOKIE), given)

    async def code_page(
        request: Request, token: str, address: str, *, status_code: int = 200, error: str = ""
    ) -> Response:
        return page(
            request,
            "reset_code.html",
            token,
            status_code=status_code,
            helpdesk=await helpdesk(address),
            error=error,
        )

    # --- the address ---------------------------------------------------------------------------

    @router.get(RESET)
    async def reset_form(request: Request) -> Response:
        return page(
            request, "reset.html", pre_session_token(request), helpdesk=default_helpdesk, error=""
        )

    @router.post(RESET)
    async def reset_request(
        request: Request,
        address: Annotated[str, Form(max_length=320)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        if not csrf_ok(request, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        _ = portal.catalog(request).gettext
        address = address.strip()
        try:
            Address.parse(address)
        except InvalidInput:
            return page(
                request,
                "reset.html",
                csrf_token,
                status_code=422,
                helpdesk=default_helpdesk,
                error=_("Enter your complete e-mail address, for example name@example.com."),
            )
        response = await code_page(request, csrf_token, address)
        set_host_cookie(response, ADDRESS_COOKIE, _encode(address), ADDRESS_COOKIE_AGE)
        # The sending happens after the answer has gone out, for every address alike.
        response.background = BackgroundTask(reset.request_reset, address, client_ip(request))
        return response

    # --- the proof -----------------------------------------------------------------------------

    @router.get(f"{RESET}/code")
    async def code_form(request: Request) -> Response:
        address = _decode(request.cookies.get(ADDRESS_COOKIE))
        if not address:
            return RedirectResponse(RESET, status_code=303)
        return await code_page(request, pre_session_token(request), address)

    @router.post(f"{RESET}/code")
    async def code_check(
        request: Request,
        code: Annotated[str, Form(max_length=20)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        if not csrf_ok(request, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        _ = portal.catalog(request).gettext
        address = _decode(request.cookies.get(ADDRESS_COOKIE))
        if not address:
            return RedirectResponse(RESET, status_code=303)
        try:
            ticket = await reset.verify_code(address, code, client_ip(request))
        except InvalidInput:
            error = _("Enter the 6 digits of the code.")
            return await code_page(request, csrf_token, address, status_code=422, error=error)
        if ticket is None:
            error = _(
                "The code is not correct, or it has expired or was used up. Use the code of the "
                "latest message, or start again for a new one."
            )
            return await code_page(request, csrf_token, address, status_code=422, error=error)
        response = RedirectResponse(f"{RESET}/continue", status_code=303)
        set_host_cookie(response, TICKET_COOKIE, ticket, TICKET_COOKIE_AGE)
        clear_host_cookie(response, ADDRESS_COOKIE)
        return response

    @router.get(f"{RESET}/link/{{link}}")
    async def link_page(request: Request, link: str) -> Response:
        response = page(request, "reset_link.html", pre_session_token(request), link=link[:100])
        response.headers["referrer-policy"] = "no-referrer"  # the token is in this URL
        return response

    @router.post(f"{RESET}/link/{{link}}")
    async def link_check(request: Request, link: str, csrf_token: CsrfField = "") -> Response:
        if not csrf_ok(request, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        ticket = await reset.verify_link(link, client_ip(request))
        if ticket is None:
            return await expired(request, csrf_token)
        response = RedirectResponse(f"{RESET}/continue", status_code=303)
        response.headers["referrer-policy"] = "no-referrer"
        set_host_cookie(response, TICKET_COOKIE, ticket, TICKET_COOKIE_AGE)
        return response

    # --- after the proof -----------------------------------------------------------------------

    async def step_page(
        request: Request,
        token: str,
        *,
        status_code: int = 200,
        error: str = "",
        problems: list[str] | None = None,
    ) -> Response:
        ticket = await reset.ticket(request.cookies.get(TICKET_COOKIE, ""))
        if ticket is None:
            return await expired(request, token)
        if ticket.step is ResetStep.SECOND_FACTOR:
            usable = ticket.methods & {ResetMethod.TOTP, ResetMethod.RECOVERY_CODE}
            return page(
                request,
                "reset_second_factor.html",
                token,
                status_code=status_code,
                totp=ResetMethod.TOTP in ticket.methods,
                recovery=ResetMethod.RECOVERY_CODE in ticket.methods,
                usable=bool(usable),
                helpdesk=await helpdesk(ticket.address),
                error=error,
            )
        return page(
            request,
            "reset_password.html",
            token,
            status_code=status_code,
            address=ticket.address,
            problems=problems or [],
            error=error,
        )

    @router.get(f"{RESET}/continue")
    async def continue_(request: Request) -> Response:
        return await step_page(request, pre_session_token(request))

    @router.post(f"{RESET}/second-factor")
    async def second_factor(
        request: Request,
        code: Annotated[str, Form(max_length=64)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        if not csrf_ok(request, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        t = portal.catalog(request)
        _ = t.gettext
        method = ResetMethod.TOTP if normalise_totp(code) else ResetMethod.RECOVERY_CODE
        outcome = await reset.second_factor(
            request.cookies.get(TICKET_COOKIE, ""), method, code, client_ip(request)
        )
        if outcome.ticket is not None:
            response = RedirectResponse(f"{RESET}/continue", status_code=303)
            set_host_cookie(response, TICKET_COOKIE, outcome.ticket, TICKET_COOKIE_AGE)
            return response
        if outcome.ended:
            return await expired(request, csrf_token)
        if outcome.throttled:
            error = _(
                "Too many failed attempts from your network. Wait a few minutes, then try again."
            )
        elif outcome.result is not None:
            error = factor_refusal_text(t, outcome.result)
            error += " " + _("%(left)s attempts left.") % {"left": t.number(outcome.attempts_left)}
        else:
            error = _("Enter the code of your authenticator app or one of your recovery codes.")
        return await step_page(request, csrf_token, status_code=422, error=error)

    @router.post(f"{RESET}/password")
    async def new_password(
        request: Request,
        new_password: PasswordField = "",
        repeat_password: PasswordField = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        if not csrf_ok(request, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        t = portal.catalog(request)
        _ = t.gettext
        ticket = await reset.ticket(request.cookies.get(TICKET_COOKIE, ""))
        if ticket is None:
            return await expired(request, csrf_token)
        if ticket.step is not ResetStep.NEW_PASSWORD:  # the second factor comes first
            return RedirectResponse(f"{RESET}/continue", status_code=303)
        if not new_password:
            error = _("Enter a new password.")
            return await step_page(request, csrf_token, status_code=422, error=error)
        if new_password != repeat_password:
            error = _("The two passwords are not the same.")
            return await step_page(request, csrf_token, status_code=422, error=error)
        try:
            await reset.complete(
                request.cookies.get(TICKET_COOKIE, ""), new_password, client_ip(request)
            )
        except PasswordRejected as exc:
            problems = [p.message_in(t.locale) for p in exc.problems]
            error = _("Choose another password:")
            return await step_page(
                request, csrf_token, status_code=422, error=error, problems=problems
            )
        except TicketInvalid:
            return await expired(request, csrf_token)
        response = RedirectResponse(f"{RESET}/done", status_code=303)
        clear_host_cookie(response, TICKET_COOKIE)
        return response

    @router.get(f"{RESET}/done")
    async def done(request: Request) -> Response:
        return page(request, "reset_done.html", pre_session_token(request))

    return router
