"""Sudo mode in the portal: a fresh proof of the password before credentials change.

A session is in sudo mode for `security.sudo_minutes` (default 10) after its person last proved
the password: at sign-in, or at the prompt `/account/sudo` (the password again, through
`AuthenticationService.authenticate` so it is throttled and recorded, and the second factor when
the account has one). Pages that change the password, second factors, recovery contacts, app
passwords or forwarding call `require_sudo` first:

    if (prompt := await require_sudo(portal, request, session)) is not None:
        return prompt

It answers None in sudo mode, otherwise a 303 to the prompt with `next` = the page to return
to: the current path for GET, the page the form came from (its Referer, same origin only) for
POST, since a POST cannot be replayed by a redirect. The person submits the form again there.

Also here, for every account page: `account_session` (the session or the response to give
instead), `sudo_session` (the same, plus the sudo prompt, for a change) and the texts that
explain a refused second factor.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from mailgate.domain.errors import NotFound
from mailgate.domain.factors import FactorResult, VerifyReason
from mailgate.services.identity import SecondStep, WebSession, code_step
from mailgate.web.i18n import Catalog
from mailgate.web.portal.render import Portal, safe_next
from mailgate.web.session import CSRF_FIELD, CSRF_HEADER, SAFE_METHODS, client_ip, csrf_matches

ACCOUNT_HOME = "/account"
SUDO = f"{ACCOUNT_HOME}/sudo"

CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]


def came_from(request: Request) -> str:
    """Where to return after the prompt: this page for GET, the form's page for POST."""
    if request.method in SAFE_METHODS:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return safe_next(target, ACCOUNT_HOME)
    referer = urlsplit(request.headers.get("referer", ""))
    if not referer.path or (referer.netloc and referer.netloc != request.url.netloc):
        return ACCOUNT_HOME
    target = referer.path + (f"?{referer.query}" if referer.query else "")
    return safe_next(target, ACCOUNT_HOME)


async def require_sudo(portal: Portal, request: Request, session: WebSession) -> Response | None:
    """None when the session is in sudo mode; otherwise the redirect to the sudo prompt."""
    if portal.services.identity.in_sudo(session):
        return None
    query = urlencode({"next": came_from(request)})
    return RedirectResponse(f"{SUDO}?{query}", status_code=303)


async def account_session(
    portal: Portal, request: Request, csrf_token: str | None
) -> WebSession | Response:
    """The signed-in session, or the response to give instead: the sign-in redirect, or a 403
    when `csrf_token` (None for pages that change nothing) does not match the session's."""
    session = await portal.session(request)
    if session is None:
        return portal.to_sign_in(request)
    if csrf_token is not None and not csrf_matches(session.csrf, csrf_token):
        return await portal.error_page(request, "csrf", 403)
    return session


async def sudo_session(portal: Portal, request: Request, csrf_token: str) -> WebSession | Response:
    """For a change that needs sudo mode: the session, or the response to give instead (the
    sign-in redirect, the CSRF refusal, or the sudo prompt)."""
    session = await account_session(portal, request, csrf_token)
    if not isinstance(session, WebSession):
        return session
    prompt = await require_sudo(portal, request, session)
    return session if prompt is None else prompt


def totp_refusal_text(t: Catalog, result: FactorResult) -> str:
    _ = t.gettext
    if result.reason is VerifyReason.CLOCK_SKEW and result.clock_skew_minutes is not None:
        minutes = result.clock_skew_minutes
        if minutes > 0:
            text = _(
                "The code was not accepted: your device's clock seems to be about %(minutes)s "
                "min ahead. Set its date, time and time zone to automatic, then use a new code."
            )
        else:
            text = _(
                "The code was not accepted: your device's clock seems to be about %(minutes)s "
                "min behind. Set its date, time and time zone to automatic, then use a new code."
            )
        return text % {"minutes": t.number(abs(minutes))}
    if result.reason is VerifyReason.REPLAY:
        return _("This code was already used. Wait for the next one.")
    return _("The code is not correct. Check the app and try again.")


def factor_refusal_text(t: Catalog, result: FactorResult) -> str:
    """Why a second factor was refused, for the person who already passed the password."""
    _ = t.gettext
    if result.reason is VerifyReason.RECOVERY_CODE_WRONG:
        return _("The recovery code is not correct or was already used.")
    if result.reason is VerifyReason.WEBAUTHN_SIGN_COUNT:
        return _(
            "This security key may have been copied, so it is refused. Use another way to sign "
            "in and tell your IT desk."
        )
    if result.reason is VerifyReason.WEBAUTHN_INVALID:
        return _("The security key was not accepted. Try again, or use another way.")
    return totp_refusal_text(t, result)


def chosen_step(method: str, code: str) -> tuple[SecondStep | None, str]:
    """The second step a form asks for and its answer: a security key's answer, or a typed
    code (six digits: authenticator app; otherwise a recovery code)."""
    if method == SecondStep.WEBAUTHN.value:
        return SecondStep.WEBAUTHN, ""
    return (code_step(code), code) if code.strip() else (None, "")


def sudo_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    identity = portal.services.identity

    async def prompt_page(
        request: Request,
        session: WebSession,
        next_url: str,
        *,
        status_code: int = 200,
        error: str = "",
    ) -> Response:
        steps = await identity.second_steps_of(session)
        return portal.render(
            request,
            "sudo.html",
            session=session,
            status_code=status_code,
            ACCOUNT=ACCOUNT_HOME,
            is_admin=bool(session.actor.grants),
            next_url=next_url,
            steps=[s.value for s in steps],
            minutes=int(identity.sudo_window.total_seconds() // 60),
            error=error,
        )

    @router.get(SUDO)
    async def sudo_prompt(request: Request, next: str = "") -> Response:
        session = await account_session(portal, request, None)
        if not isinstance(session, WebSession):
            return session
        target = safe_next(next, ACCOUNT_HOME)
        if identity.in_sudo(session):
            return RedirectResponse(target, status_code=303)
        return await prompt_page(request, session, target)

    @router.post(SUDO)
    async def sudo_confirm(
        request: Request,
        password: Annotated[str, Form(max_length=1024)] = "",
        code: Annotated[str, Form(max_length=64)] = "",
        method: Annotated[str, Form(max_length=16)] = "",
        credential: Annotated[str, Form(max_length=20_000)] = "",
        next: Annotated[str, Form(max_length=2000)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await account_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        _ = t.gettext
        target = safe_next(next, ACCOUNT_HOME)
        step, answer = chosen_step(method, code)
        if step is SecondStep.WEBAUTHN:
            answer = credential
        outcome = await identity.reauthenticate(
            session,
            password,
            step,
            answer,
            source_ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
        if outcome.accepted:
            return RedirectResponse(target, status_code=303)
        if outcome.password_refused:
            error = _("The password is not correct.")
        elif outcome.result is not None and step is not None:
            error = factor_refusal_text(t, outcome.result)
        else:
            error = _("Also confirm with your second factor.")
        return await prompt_page(request, session, target, status_code=401, error=error)

    @router.post(f"{SUDO}/webauthn")
    async def sudo_webauthn_options(request: Request) -> Response:
        """The security-key challenge for the prompt (JSON, CSRF token in a header)."""
        session = await account_session(portal, request, request.headers.get(CSRF_HEADER, ""))
        if not isinstance(session, WebSession):
            return JSONResponse({"error": "not_allowed"}, status_code=403)
        account_id = session.actor.account_id
        if account_id is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        try:
            options = await identity.webauthn_options(account_id)
        except NotFound:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return Response(options, media_type="application/json")

    return router
