"""`/activate`: the forced first login of a new mailbox (issue #6 item 6; services.activation).

    /activate                         address + one-time activation code -> activation session
    /activate/continue                the next step (also where sign-in sends an account that
                                      owes first-login steps, web.portal.auth ERRAND_PAGES)
    /activate/password                choose a password, the policy's rules next to the field
    /activate/second-factor[/...]     authenticator app (QR code) or security key, as the
                                      policy allows
    /activate/recovery-contact[/...]  a backup e-mail address or phone, verified with a code
    /activate/recovery-codes          recovery codes shown once, "I have saved them"
    /activate/done                    welcome: how to set up mail programs

The second factor and the backup contact are in web.portal.activate_steps. Every step page
serves only the activation-stage session (services.identity restricted sessions) of an account
whose current step it is; any other step sends the browser to /activate/continue, which knows
where the person stands. A step page shows "step n of m". Every form carries the session's CSRF
token (the code form: the pre-session double-submit token, like sign-in). Secrets (the TOTP key,
recovery codes) appear once, on the response to the POST that made them. After the last step the
activation session is replaced by a full session under a new id, in sudo mode, so the person can
create an app password at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from mailgate.domain.access import Actor
from mailgate.domain.directory import Account
from mailgate.domain.passwords import PasswordPolicy
from mailgate.services.activation import (
    ActivationRefused,
    ActivationThrottled,
    Progress,
    Step,
    WrongStep,
)
from mailgate.services.credentials import PasswordRejected
from mailgate.services.identity import STAGE_ACTIVATION, RestrictedSession, WebSession
from mailgate.web.i18n import N_, Catalog
from mailgate.web.portal.account import APP_PASSWORDS
from mailgate.web.portal.auth import ACCOUNT_HOME, ACTIVATE_CONTINUE
from mailgate.web.portal.render import SIGN_IN, Portal
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

ACTIVATE = "/activate"
PASSWORD = f"{ACTIVATE}/password"
FACTOR = f"{ACTIVATE}/second-factor"
CONTACT = f"{ACTIVATE}/recovery-contact"
CODES = f"{ACTIVATE}/recovery-codes"
FINISH = f"{ACTIVATE}/finish"
DONE = f"{ACTIVATE}/done"
LATER = f"{ACTIVATE}/later"
STEP_PAGES = {
    Step.PASSWORD: PASSWORD,
    Step.SECOND_FACTOR: FACTOR,
    Step.RECOVERY_CONTACT: CONTACT,
    Step.RECOVERY_CODES: CODES,
}
STEP_LABELS = {
    Step.PASSWORD.value: N_("Password"),
    Step.SECOND_FACTOR.value: N_("Two-step verification"),
    Step.RECOVERY_CONTACT.value: N_("Backup contact"),
    Step.RECOVERY_CODES.value: N_("Recovery codes"),
}
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]
PasswordField = Annotated[str, Form(max_length=1024)]


def password_rules(t: Catalog, policy: PasswordPolicy) -> list[str]:
    """The password policy as sentences in the page's language."""
    _ = t.gettext
    rules = [
        _("At least %(count)s characters; spaces and Chinese characters count too.")
        % {"count": t.number(policy.min_length)}
    ]
    if policy.required_character_classes:
        rules.append(
            _(
                "At least %(count)s kinds of characters: lower-case letters, capitals, digits, "
                "symbols, other scripts."
            )
            % {"count": t.number(policy.required_character_classes)}
        )
    if policy.block_list:
        rules.append(_("Not a common password, a dictionary word or a simple pattern."))
    if policy.context_words:
        rules.append(_("Not your name, its pinyin, your employee ID or your mail address."))
    if policy.breach_check_enabled:
        rules.append(_("Not a password that is known from data breaches."))
    if policy.rotation_days:
        rules.append(
            _("Your company asks for a new password every %(days)s days.")
            % {"days": t.number(policy.rotation_days)}
        )
    return rules


@dataclass(frozen=True, slots=True)
class Here:
    """The activation session of a step page, with its account and where it stands."""

    restricted: RestrictedSession
    actor: Actor
    account: Account
    progress: Progress


def _pre_session_token(request: Request) -> str:
    token = request.cookies.get(PRE_SESSION_CSRF_COOKIE, "")
    if 32 <= len(token) <= 64 and set(token) <= _TOKEN_CHARS:
        return token
    return new_csrf_token()


PAGES: dict[str, Any] = {
    "ACTIVATE": ACTIVATE,
    "PASSWORD": PASSWORD,
    "FACTOR": FACTOR,
    "CONTACT": CONTACT,
    "CODES": CODES,
    "FINISH": FINISH,
    "LATER": LATER,
    "STEP_LABELS": STEP_LABELS,
}


@dataclass(slots=True)
class ActivationPages:
    """What every /activate page needs: the activation session behind the cookie, the step
    guard and rendering with the progress indicator (shared by activate_steps.py)."""

    portal: Portal

    async def restricted_of(self, request: Request) -> RestrictedSession | None:
        return await self.portal.services.identity.restricted(
            request.cookies.get(SESSION_COOKIE, ""), STAGE_ACTIVATION
        )

    @staticmethod
    def to_start(reason: str = "expired") -> Response:
        response = RedirectResponse(f"{ACTIVATE}?{urlencode({'again': reason})}", status_code=303)
        clear_host_cookie(response, SESSION_COOKIE)
        return response

    @staticmethod
    def to_continue() -> Response:
        return RedirectResponse(ACTIVATE_CONTINUE, status_code=303)

    async def at(
        self, request: Request, step: Step, csrf_token: str | None = None
    ) -> Here | Response:
        """The session when `step` is the account's current step; otherwise the response to
        give: back to the code form (no session), 403 (CSRF), or to /activate/continue."""
        restricted = await self.restricted_of(request)
        if restricted is None:
            return self.to_start()
        if csrf_token is not None and not csrf_matches(restricted.csrf, csrf_token):
            return await self.portal.error_page(request, "csrf", 403)
        services = self.portal.services
        actor = await services.identity.act_as(restricted.address, client_ip(request))
        account = await services.activation.account_of(actor)
        progress = await services.activation.progress(account)
        if progress.step is not step:
            return self.to_continue()
        return Here(restricted, actor, account, progress)

    def render(
        self, request: Request, template: str, here: Here, status_code: int = 200, **context: Any
    ) -> Response:
        return self.portal.render(
            request,
            template,
            session=None,
            csrf_token=here.restricted.csrf,
            status_code=status_code,
            address=here.restricted.address,
            progress=here.progress,
            **PAGES,
            **context,
        )


def activate_router(portal: Portal) -> APIRouter:
    """The code form, where to go next, the password, the recovery codes and the welcome
    (the second factor and the backup contact: activate_steps.py)."""
    router = APIRouter(include_in_schema=False)
    services = portal.services
    identity = services.identity
    activation = services.activation
    pages = ActivationPages(portal)
    restricted_of, to_start, to_continue = pages.restricted_of, pages.to_start, pages.to_continue
    at, render = pages.at, pages.render

    # --- the code ------------------------------------------------------------------------------

    def code_page(
        request: Request, token: str, *, address: str = "", error: str = "", again: str = ""
    ) -> Response:
        status = 200
        if error:
            status = 429 if again == "throttled" else 401
        response = portal.render(
            request,
            "activate.html",
            session=None,
            csrf_token=token,
            status_code=status,
            address=address,
            error=error,
            again=again if again in ("expired", "throttled") else "",
            progress=None,
            **PAGES,
        )
        set_host_cookie(response, PRE_SESSION_CSRF_COOKIE, token)
        return response

    @router.get(ACTIVATE)
    async def code_form(request: Request, again: str = "", address: str = "") -> Response:
        return code_page(request, _pre_session_token(request), address=address[:320], again=again)

    @router.post(ACTIVATE)
    async def code_submit(
        request: Request,
        address: Annotated[str, Form(max_length=320)] = "",
        code: Annotated[str, Form(max_length=64)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        if not csrf_matches(request.cookies.get(PRE_SESSION_CSRF_COOKIE), csrf_token):
            return await portal.error_page(request, "csrf", 403)
        t = portal.catalog(request)
        _ = t.gettext
        try:
            restricted = await activation.start(
                address, code, client_ip(request), request.headers.get("user-agent", "")
            )
        except ActivationThrottled as exc:
            error = _(
                "Too many failed attempts from your network. Wait %(minutes)s min, then try again."
            ) % {"minutes": t.number((exc.retry_after + 59) // 60)}
            return code_page(request, csrf_token, address=address, error=error, again="throttled")
        except ActivationRefused:
            error = _(
                "The address or the activation code is not correct, or the code has expired or "
                "was already used."
            )
            return code_page(request, csrf_token, address=address, error=error)
        await end_previous(request)
        response = to_continue()
        set_host_cookie(response, SESSION_COOKIE, restricted.token)
        clear_host_cookie(response, PRE_SESSION_CSRF_COOKIE)
        return response

    async def end_previous(request: Request) -> None:
        """Whatever session the browser held ends: a new id for the activation session."""
        old = request.cookies.get(SESSION_COOKIE)
        if not old:
            return
        previous = await portal.session(request)
        if previous is not None:
            await identity.sign_out(old, previous.actor)
            return
        earlier = await identity.restricted(old, STAGE_ACTIVATION)
        if earlier is not None:
            await identity.end_restricted(earlier)
        else:
            await identity.abandon(old)

    # --- where to go next ----------------------------------------------------------------------

    @router.get(ACTIVATE_CONTINUE)
    async def next_step(request: Request) -> Response:
        restricted = await restricted_of(request)
        if restricted is None:
            if await portal.session(request) is not None:
                return RedirectResponse(ACCOUNT_HOME, status_code=303)
            return to_start()
        actor = await identity.act_as(restricted.address, client_ip(request))
        step = await activation.next_step(await activation.account_of(actor))
        if step is Step.DONE:
            return await finished(request, restricted)
        return RedirectResponse(STEP_PAGES[step], status_code=303)

    async def finished(request: Request, restricted: RestrictedSession) -> Response:
        session = await activation.finish(
            restricted,
            client_ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
        if session is None:  # the account may not be used (locked or disabled meanwhile)
            await identity.end_restricted(restricted)
            response = RedirectResponse(SIGN_IN, status_code=303)
            clear_host_cookie(response, SESSION_COOKIE)
            return response
        response = RedirectResponse(DONE, status_code=303)
        set_host_cookie(response, SESSION_COOKIE, session.token)
        return response

    @router.post(LATER)
    async def later(request: Request, csrf_token: CsrfField = "") -> Response:
        """Stop for now: the activation session ends; signing in with the password resumes."""
        restricted = await restricted_of(request)
        if restricted is not None:
            if not csrf_matches(restricted.csrf, csrf_token):
                return await portal.error_page(request, "csrf", 403)
            await identity.end_restricted(restricted)
        response = RedirectResponse(SIGN_IN, status_code=303)
        clear_host_cookie(response, SESSION_COOKIE)
        return response

    # --- password ------------------------------------------------------------------------------

    async def password_page(
        request: Request, here: Here, errors: list[str], status_code: int = 200
    ) -> Response:
        t = portal.catalog(request)
        policy = await activation.password_policy(here.account)
        return render(
            request,
            "activate_password.html",
            here,
            status_code,
            rules=password_rules(t, policy),
            errors=errors,
        )

    @router.get(PASSWORD)
    async def password_form(request: Request) -> Response:
        here = await at(request, Step.PASSWORD)
        if not isinstance(here, Here):
            return here
        return await password_page(request, here, [])

    @router.post(PASSWORD)
    async def password_submit(
        request: Request,
        new_password: PasswordField = "",
        repeat_password: PasswordField = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        here = await at(request, Step.PASSWORD, csrf_token)
        if not isinstance(here, Here):
            return here
        t = portal.catalog(request)
        _ = t.gettext
        errors: list[str] = []
        if not new_password:
            errors.append(_("Enter a new password."))
        elif new_password != repeat_password:
            errors.append(_("The two new passwords are not the same."))
        if not errors:
            try:
                await activation.set_password(here.actor, new_password)
            except PasswordRejected as rejected:
                errors = [p.message_in(t.locale) for p in rejected.problems]
            except WrongStep:
                return to_continue()
        if errors:
            return await password_page(request, here, errors, status_code=422)
        return to_continue()

    # --- recovery codes and the end ------------------------------------------------------------

    @router.get(CODES)
    async def codes_intro(request: Request) -> Response:
        here = await at(request, Step.RECOVERY_CODES)
        if not isinstance(here, Here):
            return here
        return render(request, "activate_codes.html", here, codes=None, error="")

    @router.post(CODES)
    async def codes_show(request: Request, csrf_token: CsrfField = "") -> Response:
        here = await at(request, Step.RECOVERY_CODES, csrf_token)
        if not isinstance(here, Here):
            return here
        codes = await activation.recovery_codes(here.actor)
        return render(request, "activate_codes.html", here, codes=codes, error="")

    @router.post(FINISH)
    async def finish(
        request: Request,
        saved: Annotated[str, Form(max_length=10)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        here = await at(request, Step.RECOVERY_CODES, csrf_token)
        if not isinstance(here, Here):
            return here
        _ = portal.catalog(request).gettext
        if saved != "yes":
            error = _(
                "Confirm that you saved your recovery codes. If you did not, show new ones and "
                "save them."
            )
            return render(request, "activate_codes.html", here, 422, codes=None, error=error)
        try:
            return await finished(request, here.restricted)
        except WrongStep:
            error = _("Show your recovery codes and save them first.")
            return render(request, "activate_codes.html", here, 409, codes=None, error=error)

    @router.get(DONE)
    async def welcome(request: Request) -> Response:
        session = await portal.session(request)
        if session is None:
            return portal.to_sign_in(request)
        return await welcome_page(request, session)

    async def welcome_page(request: Request, session: WebSession) -> Response:
        account = await services.accounts.own(session.actor)
        overview = await services.factors.list_factors(session.actor, session.actor.name)
        setup = activation.setup
        return portal.render(
            request,
            "activate_done.html",
            session=None,
            csrf_token=session.csrf,
            address=account.address,
            progress=None,
            host=setup.host,
            ports=setup.ports(account.allowed_protocols),
            app_password=overview.enrolled,
            ACCOUNT=ACCOUNT_HOME,
            APP_PASSWORDS=APP_PASSWORDS,
            **PAGES,
        )

    return router
