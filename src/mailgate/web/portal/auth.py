"""Sign-in (with its second step), sign-out, the language switcher, and the gate of the admin
console.

Every active account may sign in; accounts with role grants land in the admin console, the
others in their own pages under /account. The console pages refuse accounts without grants.

When the account has a second factor, the password only buys a *pending* session (the same
cookie, a different stage server-side) that can do nothing but `/signin/second-factor` for
five minutes: an authenticator code, a recovery code or a security key (static/webauthn.js).
Five wrong answers end it and the person starts over. Success replaces it by a full session
under a new id. An account that a burst of failed sign-ins put under protection and that has
no second factor is not let in with the password alone: the page names the way out (password
reset through verified recovery contacts, or the IT desk)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from mailgate.domain.access import Actor
from mailgate.domain.errors import AuthenticationFailed, NotFound, PermissionDenied
from mailgate.services.identity import (
    STAGE_ACTIVATION,
    STAGE_PASSWORD_UPDATE,
    PendingSignIn,
    RestrictedSession,
    SecondStep,
    SecondStepOutcome,
    SignInProtected,
    WebSession,
)
from mailgate.web.i18n import LANG_COOKIE, LOCALES
from mailgate.web.portal.render import CONSOLE, SIGN_IN, Portal, safe_next
from mailgate.web.portal.sudo import chosen_step, factor_refusal_text
from mailgate.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    PRE_SESSION_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_host_cookie,
    client_ip,
    csrf_matches,
    new_csrf_token,
    set_host_cookie,
)

LANG_COOKIE_AGE = 365 * 24 * 3600
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _pre_session_token(request: Request) -> str:
    """The double-submit token of the sign-in form: the browser's, or a new one."""
    token = request.cookies.get(PRE_SESSION_CSRF_COOKIE, "")
    if 32 <= len(token) <= 64 and set(token) <= _TOKEN_CHARS:
        return token
    return new_csrf_token()


ACCOUNT_HOME = "/account"
SECOND_FACTOR = "/signin/second-factor"
RESET = "/reset"
# Where a restricted session (services.identity) does its one errand.
PASSWORD_REQUIRED = "/account/password/required"  # noqa: S105 - a path
ACTIVATE_CONTINUE = "/activate/continue"
ERRAND_PAGES = {
    STAGE_PASSWORD_UPDATE: PASSWORD_REQUIRED,
    STAGE_ACTIVATION: ACTIVATE_CONTINUE,
}
AGAIN_REASONS = frozenset({"expired", "attempts"})


def landing(actor: Actor, requested: str) -> str:
    """Where a signed-in person goes: the page asked for if they may see it, otherwise the
    admin console for accounts with role grants and /account for everybody else."""
    home = f"{CONSOLE}/" if actor.grants else ACCOUNT_HOME
    target = safe_next(requested, home)
    if not actor.grants and (target == CONSOLE or target.startswith(f"{CONSOLE}/")):
        return home
    return target


def require_admin_console(portal: Portal) -> Callable[[Request], Awaitable[None]]:
    """A dependency for the console pages: a signed-in account without role grants gets 403
    (no session: the page itself sends the browser to sign in)."""

    async def check(request: Request) -> None:
        session = await portal.session(request)
        if session is not None and not session.actor.grants:
            raise PermissionDenied("the admin console is for administrators")

    return check


def auth_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    identity = portal.services.identity

    def sign_in_page(
        request: Request, token: str, next_url: str, failed: bool, again: str = ""
    ) -> Response:
        response = portal.render(
            request,
            "signin.html",
            session=None,
            csrf_token=token,
            next_url=next_url,
            failed=failed,
            again=again if again in AGAIN_REASONS else "",
            status_code=401 if failed else 200,
        )
        set_host_cookie(response, PRE_SESSION_CSRF_COOKIE, token)
        return response

    @router.get(SIGN_IN)
    async def sign_in_form(request: Request, next: str = "", again: str = "") -> Response:
        current = await portal.session(request)
        if current is not None:
            return RedirectResponse(landing(current.actor, next), status_code=303)
        token = _pre_session_token(request)
        return sign_in_page(request, token, safe_next(next, ""), failed=False, again=again)

    async def end_previous(request: Request) -> None:
        """A new session id at every sign-in: whatever the browser held (perhaps planted)
        is ended, a full session with its sign-out record, an unfinished one quietly."""
        old = request.cookies.get(SESSION_COOKIE)
        if not old:
            return
        previous = await portal.session(request)
        if previous is not None:
            await identity.sign_out(old, previous.actor)
        else:
            await identity.abandon(old)

    @router.post(SIGN_IN)
    async def sign_in(
        request: Request,
        address: Annotated[str, Form(max_length=320)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
        next: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        if not csrf_matches(request.cookies.get(PRE_SESSION_CSRF_COOKIE), csrf_token):
            return await portal.error_page(request, "csrf", 403)
        try:
            outcome = await identity.sign_in(
                address,
                password,
                source_ip=client_ip(request),
                user_agent=request.headers.get("user-agent", ""),
            )
        except SignInProtected as protected:
            await end_previous(request)
            page = portal.render(
                request,
                "signin_protected.html",
                session=None,
                helpdesk=protected.helpdesk_contact,
                RESET=RESET,
                status_code=403,
            )
            clear_host_cookie(page, SESSION_COOKIE)
            return page
        except AuthenticationFailed:
            return sign_in_page(request, csrf_token, safe_next(next, ""), failed=True)
        await end_previous(request)
        response: Response
        if isinstance(outcome, PendingSignIn):
            query = urlencode({"next": safe_next(next, "")})
            response = RedirectResponse(f"{SECOND_FACTOR}?{query}", status_code=303)
        elif isinstance(outcome, RestrictedSession):
            response = RedirectResponse(ERRAND_PAGES[outcome.stage], status_code=303)
        else:
            response = RedirectResponse(landing(outcome.actor, next), status_code=303)
        set_host_cookie(response, SESSION_COOKIE, outcome.token)
        clear_host_cookie(response, PRE_SESSION_CSRF_COOKIE)
        return response

    def start_over(reason: str, next_url: str = "") -> Response:
        query = urlencode({"again": reason} | ({"next": next_url} if next_url else {}))
        response = RedirectResponse(f"{SIGN_IN}?{query}", status_code=303)
        clear_host_cookie(response, SESSION_COOKIE)
        return response

    def second_factor_page(
        request: Request,
        pending: PendingSignIn,
        next_url: str,
        *,
        status_code: int = 200,
        error: str = "",
        attempts_left: int | None = None,
    ) -> Response:
        return portal.render(
            request,
            "signin_second_factor.html",
            session=None,
            csrf_token=pending.csrf,
            next_url=next_url,
            steps=[s.value for s in pending.methods],
            address=pending.address,
            error=error,
            attempts_left=attempts_left,
            SECOND_FACTOR=SECOND_FACTOR,
            status_code=status_code,
        )

    async def pending_of(request: Request) -> PendingSignIn | None:
        return await identity.pending(request.cookies.get(SESSION_COOKIE, ""))

    @router.get(SECOND_FACTOR)
    async def second_factor_form(request: Request, next: str = "") -> Response:
        pending = await pending_of(request)
        if pending is None:
            current = await portal.session(request)
            if current is not None:
                return RedirectResponse(landing(current.actor, next), status_code=303)
            return start_over("expired", safe_next(next, ""))
        return second_factor_page(request, pending, safe_next(next, ""))

    @router.post(SECOND_FACTOR)
    async def second_factor(
        request: Request,
        code: Annotated[str, Form(max_length=64)] = "",
        method: Annotated[str, Form(max_length=16)] = "",
        credential: Annotated[str, Form(max_length=20_000)] = "",
        csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
        next: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        next_url = safe_next(next, "")
        pending = await pending_of(request)
        if pending is None:
            return start_over("expired", next_url)
        if not csrf_matches(pending.csrf, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        step, answer = chosen_step(method, code)
        if step is SecondStep.WEBAUTHN:
            answer = credential
        outcome = await identity.second_factor(
            pending.token,
            step or SecondStep.TOTP,
            answer,
            source_ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
        if outcome.session is not None:
            return signed_in_response(outcome.session, next_url)
        if outcome.restricted is not None:
            response = RedirectResponse(ERRAND_PAGES[outcome.restricted.stage], status_code=303)
            set_host_cookie(response, SESSION_COOKIE, outcome.restricted.token)
            return response
        if outcome.ended:
            return start_over("attempts" if outcome.result else "expired", next_url)
        return second_factor_page(
            request,
            pending,
            next_url,
            status_code=401,
            error=refusal(request, outcome),
            attempts_left=outcome.attempts_left,
        )

    def signed_in_response(session: WebSession, next_url: str) -> Response:
        response = RedirectResponse(landing(session.actor, next_url), status_code=303)
        set_host_cookie(response, SESSION_COOKIE, session.token)
        return response

    def refusal(request: Request, outcome: SecondStepOutcome) -> str:
        t = portal.catalog(request)
        _ = t.gettext
        if outcome.throttled or outcome.result is None:
            return _("Too many attempts. Wait a few minutes, then try again.")
        return factor_refusal_text(t, outcome.result)

    @router.post(f"{SECOND_FACTOR}/webauthn")
    async def second_factor_webauthn(request: Request) -> Response:
        """The security-key challenge of a pending sign-in (JSON, CSRF token in a header)."""
        pending = await pending_of(request)
        if pending is None or not csrf_matches(pending.csrf, request.headers.get(CSRF_HEADER)):
            return JSONResponse({"error": "not_allowed"}, status_code=403)
        try:
            options = await identity.webauthn_options(pending.account_id)
        except NotFound:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return Response(options, media_type="application/json")

    @router.post(f"{CONSOLE}/signout")
    async def sign_out(
        request: Request,
        csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
    ) -> Response:
        session = await portal.session(request)
        if session is None:
            return portal.to_sign_in(request)
        if not csrf_matches(session.csrf, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        await identity.sign_out(session.token, session.actor)
        response = RedirectResponse(SIGN_IN, status_code=303)
        clear_host_cookie(response, SESSION_COOKIE)
        return response

    @router.get(f"{CONSOLE}/language/{{locale}}")
    async def switch_language(locale: str, next: str = "") -> Response:
        """A pure preference, so a plain link sets it; remembered for a year."""
        response = RedirectResponse(safe_next(next), status_code=303)
        if locale in LOCALES:
            response.set_cookie(
                LANG_COOKIE,
                locale,
                max_age=LANG_COOKIE_AGE,
                path="/",
                secure=True,
                httponly=True,
                samesite="lax",
            )
        return response

    @router.get("/")
    async def root() -> Response:
        return RedirectResponse(f"{CONSOLE}/", status_code=303)

    @router.get(f"{CONSOLE}/")
    async def console_home(request: Request) -> Response:
        session = await portal.session(request)
        if session is not None and not session.actor.grants:
            return RedirectResponse(ACCOUNT_HOME, status_code=303)
        return RedirectResponse(f"{CONSOLE}/organisations", status_code=303)

    return router
