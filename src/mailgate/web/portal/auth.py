"""Sign-in, sign-out and the language switcher, and the gate of the admin console.

Every active account may sign in; accounts with role grants land in the admin console, the
others in their own pages under /account. The console pages refuse accounts without grants."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from mailgate.domain.access import Actor
from mailgate.domain.errors import AuthenticationFailed, PermissionDenied
from mailgate.web.i18n import LANG_COOKIE, LOCALES
from mailgate.web.portal.render import CONSOLE, SIGN_IN, Portal, safe_next
from mailgate.web.session import (
    CSRF_FIELD,
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

    def sign_in_page(request: Request, token: str, next_url: str, failed: bool) -> Response:
        response = portal.render(
            request,
            "signin.html",
            session=None,
            csrf_token=token,
            next_url=next_url,
            failed=failed,
            status_code=401 if failed else 200,
        )
        set_host_cookie(response, PRE_SESSION_CSRF_COOKIE, token)
        return response

    @router.get(SIGN_IN)
    async def sign_in_form(request: Request, next: str = "") -> Response:
        current = await portal.session(request)
        if current is not None:
            return RedirectResponse(landing(current.actor, next), status_code=303)
        return sign_in_page(request, _pre_session_token(request), safe_next(next), failed=False)

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
            session = await identity.sign_in(
                address,
                password,
                source_ip=client_ip(request),
                user_agent=request.headers.get("user-agent", ""),
            )
        except AuthenticationFailed:
            return sign_in_page(request, csrf_token, safe_next(next), failed=True)
        old = request.cookies.get(SESSION_COOKIE)
        previous = await portal.session(request) if old else None
        if old and previous is not None:
            await identity.sign_out(old, previous.actor)  # a new session id at every sign-in
        response = RedirectResponse(landing(session.actor, next), status_code=303)
        set_host_cookie(response, SESSION_COOKIE, session.token)
        clear_host_cookie(response, PRE_SESSION_CSRF_COOKIE)
        return response

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
