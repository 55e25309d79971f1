"""The user area `/account`: every signed-in account (admins too) sees its own overview, its
security page (recent sign-ins, second factors, TOTP enrolment) and its app passwords.

Everything is the account acting on itself through the services (`apppasswords`, `factors`,
`logins`); every form carries the session's CSRF token. Secrets (the TOTP secret, recovery
codes, a new app password) appear once, on the response to the POST that made them, and are
never put in a URL or a cookie.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from fastapi import APIRouter, Form, Request
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from mailgate.domain.directory import Account
from mailgate.domain.errors import Conflict, InvalidInput, NotFound
from mailgate.domain.factors import FactorResult, VerifyReason
from mailgate.domain.security import MailScope
from mailgate.services.identity import WebSession
from mailgate.web.i18n import N_, Catalog
from mailgate.web.portal import labels
from mailgate.web.portal.render import Portal
from mailgate.web.session import CSRF_FIELD, csrf_matches

ACCOUNT = "/account"
SECURITY = f"{ACCOUNT}/security"
APP_PASSWORDS = f"{ACCOUNT}/app-passwords"
RECENT_LOGINS = 20

CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]

PROTOCOLS = {
    "web": N_("Web"),
    "imap": "IMAP",
    "pop3": "POP3",
    "smtp": "SMTP",
    "api": "API",
}
REASONS = {
    "ok": N_("Signed in"),
    "bad_credentials": N_("Wrong address or password"),
    "bad_password": N_("Wrong password"),
    "unknown_user": N_("Unknown address"),
    "throttled": N_("Too many attempts; slowed down"),
    "app_password_required": N_("App password required"),
    "app_password_unusable": N_("App password expired or out of scope"),
    "not_activated": N_("Account not activated"),
    "first_login_pending": N_("First sign-in not completed"),
    "locked": N_("Account locked"),
    "suspended": N_("Account suspended"),
    "expired": N_("Account expired"),
    "disabled": N_("Account disabled"),
}
SCOPES = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP"}
FACTOR_KINDS = {
    "totp": N_("Authenticator app"),
    "webauthn": N_("Security key"),
}

# What segno's svg_inline writes: an <svg> with <path> children, nothing else.
_SVG_TAG = re.compile(r"<(/?)([A-Za-z]+)((?:\s+[A-Za-z:-]+=\"[^\"<>]*\")*)\s*(/?)>")
_SVG_ATTR = re.compile(r"([A-Za-z:-]+)=\"([^\"<>]*)\"")
_SVG_TAGS = frozenset({"svg", "path"})
_SVG_ATTRS = frozenset(
    {"width", "height", "class", "transform", "stroke", "d", "viewBox", "xmlns", "fill"}
)


def safe_qr_svg(svg: str) -> Markup | None:
    """The QR code for inline use, if it is made only of the tags and attributes segno writes
    (no scripts, no event handlers, no links); None otherwise."""
    svg = svg.strip()
    if not svg.startswith("<svg") or not svg.endswith("</svg>") or len(svg) > 200_000:
        return None
    for match in _SVG_TAG.finditer(svg):
        if match.group(2) not in _SVG_TAGS:
            return None
        for name, value in _SVG_ATTR.findall(match.group(3)):
            lowered = value.lower()
            if name not in _SVG_ATTRS or "javascript:" in lowered or "url(" in lowered:
                return None
    if _SVG_TAG.sub("", svg).strip():  # text or markup the pattern did not account for
        return None
    return Markup(svg)  # noqa: S704 - checked above: segno's own tags and attributes only


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def time_formatter(t: Catalog, time_zone: str) -> Callable[[datetime | None], str]:
    """Date and time in the account's time zone and the page's language."""
    zone = _zone(time_zone)

    def when(value: datetime | None) -> str:
        if value is None:
            return ""
        return str(format_datetime(value, "medium", tzinfo=zone, locale=t.babel_locale))

    return when


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


def account_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services

    async def own_account(session: WebSession) -> Account:
        return await services.accounts.own(session.actor)

    def render(
        request: Request,
        template: str,
        session: WebSession,
        account: Account,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        t = portal.catalog(request)
        return portal.render(
            request,
            template,
            session=session,
            status_code=status_code,
            account=account,
            is_admin=bool(session.actor.grants),
            when=time_formatter(t, account.time_zone),
            ACCOUNT=ACCOUNT,
            PROTOCOLS=PROTOCOLS,
            REASONS=REASONS,
            SCOPES=SCOPES,
            FACTOR_KINDS=FACTOR_KINDS,
            **context,
        )

    async def security_page(
        request: Request,
        session: WebSession,
        *,
        status_code: int = 200,
        notice: str = "",
        error: str = "",
    ) -> Response:
        account = await own_account(session)
        address = session.actor.name
        logins = await services.logins.recent_logins(session.actor, address, RECENT_LOGINS)
        overview = await services.factors.list_factors(session.actor, address)
        return render(
            request,
            "account_security.html",
            session,
            account,
            status_code,
            logins=logins,
            overview=overview,
            notice=notice,
            error=error,
        )

    async def app_passwords_page(
        request: Request,
        session: WebSession,
        *,
        status_code: int = 200,
        notice: str = "",
        error: str = "",
        form: dict[str, object] | None = None,
    ) -> Response:
        account = await own_account(session)
        rows = await services.app_passwords.list(session.actor, session.actor.name)
        return render(
            request,
            "account_app_passwords.html",
            session,
            account,
            status_code,
            rows=rows,
            today=date.today(),
            notice=notice,
            error=error,
            form=form or {"name": "", "scopes": ["imap", "smtp"], "expires_on": ""},
        )

    async def signed_in(request: Request, csrf_token: str | None) -> WebSession | Response:
        """The session, or the response to give instead (sign-in redirect, CSRF refusal)."""
        session = await portal.session(request)
        if session is None:
            return portal.to_sign_in(request)
        if csrf_token is not None and not csrf_matches(session.csrf, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        return session

    @router.get(ACCOUNT)
    async def overview(request: Request) -> Response:
        session = await signed_in(request, None)
        if not isinstance(session, WebSession):
            return session
        account = await own_account(session)
        return render(request, "account.html", session, account)

    @router.get(SECURITY)
    async def security(request: Request) -> Response:
        session = await signed_in(request, None)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        _ = t.gettext
        removed = request.query_params.get("removed") == "1"
        notice = _("The second factor was removed.") if removed else ""
        return await security_page(request, session, notice=notice)

    @router.post(f"{SECURITY}/totp")
    async def totp_start(request: Request, csrf_token: CsrfField = "") -> Response:
        session = await signed_in(request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        _ = t.gettext
        enrolment = await services.factors.enrol_totp(
            session.actor, session.actor.name, _("Authenticator app")
        )
        account = await own_account(session)
        return render(
            request,
            "account_totp.html",
            session,
            account,
            factor_id=enrolment.factor_id,
            secret=enrolment.secret,
            qr=safe_qr_svg(enrolment.qr_svg),
            error="",
        )

    @router.post(f"{SECURITY}/totp/confirm")
    async def totp_confirm(
        request: Request,
        factor_id: Annotated[int, Form(ge=1)],
        code: Annotated[str, Form(max_length=20)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await signed_in(request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        _ = t.gettext
        address = session.actor.name
        try:
            result = await services.factors.confirm_totp(session.actor, address, factor_id, code)
        except (InvalidInput, NotFound):
            return await security_page(
                request,
                session,
                status_code=409,
                error=_(
                    "This set-up has expired or was already finished. Start again with a new "
                    "QR code."
                ),
            )
        account = await own_account(session)
        if not result.accepted:
            return render(
                request,
                "account_totp.html",
                session,
                account,
                status_code=422,
                factor_id=factor_id,
                secret=None,
                qr=None,
                error=totp_refusal_text(t, result),
            )
        codes = await services.factors.generate_recovery_codes(session.actor, address)
        return render(request, "account_recovery_codes.html", session, account, codes=codes)

    @router.post(f"{SECURITY}/factors/{{factor_id}}/remove")
    async def factor_remove(
        request: Request, factor_id: int, csrf_token: CsrfField = ""
    ) -> Response:
        session = await signed_in(request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        await services.factors.remove_factor(session.actor, session.actor.name, factor_id)
        return RedirectResponse(f"{SECURITY}?removed=1", status_code=303)

    @router.get(APP_PASSWORDS)
    async def app_passwords(request: Request) -> Response:
        session = await signed_in(request, None)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        _ = t.gettext
        revoked = request.query_params.get("revoked", "")
        notice = {
            "1": _("The app password was revoked."),
            "all": _("All app passwords were revoked."),
        }.get(revoked, "")
        return await app_passwords_page(request, session, notice=notice)

    @router.post(APP_PASSWORDS)
    async def app_password_create(
        request: Request,
        name: Annotated[str, Form(max_length=200)] = "",
        scopes: Annotated[list[str] | None, Form(max_length=10)] = None,
        expires_on: Annotated[str, Form(max_length=20)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await signed_in(request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        t = portal.catalog(request)
        _ = t.gettext
        chosen = [s for s in SCOPES if s in (scopes or [])]
        form: dict[str, object] = {"name": name, "scopes": chosen, "expires_on": expires_on}
        try:
            expiry = date.fromisoformat(expires_on) if expires_on.strip() else None
        except ValueError:
            expiry = None
            error = _("The expiry date is not a date.")
        else:
            error = ""
        if not error and not chosen:
            error = _("Choose at least one of IMAP, POP3 and SMTP.")
        if not error and not " ".join(name.split()):
            error = _("Name the device or program, for example “Phone” or “Outlook”.")
        if not error:
            try:
                created = await services.app_passwords.create(
                    session.actor,
                    session.actor.name,
                    name,
                    frozenset(MailScope(s) for s in chosen),
                    expiry,
                )
            except Conflict:
                error = _(
                    "An app password with this name exists, or you have too many. Revoke one first."
                )
            except InvalidInput as exc:
                error = t.gettext(labels.error_message_id(exc.code))
                if expiry is not None and expiry < date.today():
                    error = _("The expiry date is in the past.")
            else:
                account = await own_account(session)
                return render(
                    request,
                    "account_app_password_created.html",
                    session,
                    account,
                    created=created.app_password,
                    password=created.password,
                )
        return await app_passwords_page(request, session, status_code=422, error=error, form=form)

    @router.post(f"{APP_PASSWORDS}/{{app_password_id}}/revoke")
    async def app_password_revoke(
        request: Request, app_password_id: int, csrf_token: CsrfField = ""
    ) -> Response:
        session = await signed_in(request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        await services.app_passwords.revoke(session.actor, session.actor.name, str(app_password_id))
        return RedirectResponse(f"{APP_PASSWORDS}?revoked=1", status_code=303)

    @router.post(f"{APP_PASSWORDS}/revoke-all")
    async def app_password_revoke_all(request: Request, csrf_token: CsrfField = "") -> Response:
        session = await signed_in(request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        await services.app_passwords.revoke_all(session.actor, session.actor.name)
        return RedirectResponse(f"{APP_PASSWORDS}?revoked=all", status_code=303)

    return router
