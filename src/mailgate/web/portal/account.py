"""The user area `/account`: every signed-in account (admins too) sees its own overview, its
security page (recent sign-ins, second factors, TOTP enrolment) and its app passwords.

Everything is the account acting on itself through the services (`apppasswords`, `factors`,
`logins`); every form carries the session's CSRF token. Secrets (the TOTP secret, recovery
codes, a new app password) appear once, on the response to the POST that made them, and are
never put in a URL or a cookie.

Changing second factors, recovery codes and app passwords needs sudo mode (web.portal.sudo):
starting a TOTP enrolment, registering a security key, removing a factor, new recovery codes,
creating and revoking app passwords. Confirming a TOTP enrolment does not: its secret was only
shown to whoever started it in sudo mode, and it expires in 30 minutes.
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
from starlette.responses import JSONResponse, RedirectResponse, Response

from mailgate.domain.directory import Account
from mailgate.domain.errors import Conflict, InvalidInput, NotFound
from mailgate.domain.notices import NoticeKind
from mailgate.domain.security import MailScope
from mailgate.services.identity import (
    SECOND_FACTOR_FAILED,
    SECOND_FACTOR_OK,
    SECOND_FACTOR_REQUIRED,
    WebSession,
)
from mailgate.web.i18n import N_, Catalog
from mailgate.web.portal import labels
from mailgate.web.portal.render import Portal
from mailgate.web.portal.sudo import (
    account_session,
    require_sudo,
    sudo_session,
    totp_refusal_text,
)
from mailgate.web.session import CSRF_FIELD, CSRF_HEADER

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
    "password_update_required": N_("Refused: a new password is required"),
    "protocol_not_allowed": N_("Refused: this account may not use this protocol"),
    SECOND_FACTOR_OK: N_("Two-step verification passed"),
    SECOND_FACTOR_FAILED: N_("Wrong second-factor code"),
    SECOND_FACTOR_REQUIRED: N_("Refused: a second factor is required"),
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


def render_account(
    portal: Portal,
    request: Request,
    template: str,
    session: WebSession,
    account: Account,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """An /account page: the shared context of account_base.html plus `context`."""
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
        return render_account(portal, request, template, session, account, status_code, **context)

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

    def factor_label(account: Account, kind: str, name: str = "") -> str:
        """A factor as the account's own language calls it (notices go out in that one)."""
        catalog = portal.catalogs.get(account.language) or portal.catalogs["en"]
        label = catalog.gettext(FACTOR_KINDS.get(kind, kind))
        return f"{label} ({name})" if name and name != label else label

    async def notify(account: Account, kind: NoticeKind, **params: str) -> None:
        """Tell the person about a change to their credentials (mailbox and recovery
        contacts); the change itself is already committed."""
        await services.notices.to_account(account, kind, params)

    async def signed_in(request: Request, csrf_token: str | None) -> WebSession | Response:
        """The session, or the response to give instead (sign-in redirect, CSRF refusal)."""
        return await account_session(portal, request, csrf_token)

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
        notice = ""
        if request.query_params.get("removed") == "1":
            notice = _("The second factor was removed.")
        elif request.query_params.get("added") == "1":
            notice = _("The security key was added.")
        return await security_page(request, session, notice=notice)

    @router.post(f"{SECURITY}/totp")
    async def totp_start(request: Request, csrf_token: CsrfField = "") -> Response:
        session = await sudo_session(portal, request, csrf_token)
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
        await notify(account, NoticeKind.SECOND_FACTOR_ADDED, factor=factor_label(account, "totp"))
        return render(request, "account_recovery_codes.html", session, account, codes=codes)

    @router.post(f"{SECURITY}/factors/{{factor_id}}/remove")
    async def factor_remove(
        request: Request, factor_id: int, csrf_token: CsrfField = ""
    ) -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        overview = await services.factors.list_factors(session.actor, session.actor.name)
        gone = next((f for f in overview.factors if f.id == factor_id), None)
        await services.factors.remove_factor(session.actor, session.actor.name, factor_id)
        if gone is not None:
            account = await own_account(session)
            label = factor_label(account, gone.kind.value, gone.name)
            await notify(account, NoticeKind.SECOND_FACTOR_REMOVED, factor=label)
        return RedirectResponse(f"{SECURITY}?removed=1", status_code=303)

    @router.post(f"{SECURITY}/recovery-codes")
    async def recovery_codes_regenerate(request: Request, csrf_token: CsrfField = "") -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        _ = portal.catalog(request).gettext
        try:
            codes = await services.factors.generate_recovery_codes(
                session.actor, session.actor.name
            )
        except InvalidInput:
            return await security_page(
                request,
                session,
                status_code=409,
                error=_("Set up an authenticator app or a security key first."),
            )
        account = await own_account(session)
        await notify(account, NoticeKind.RECOVERY_CODES_REGENERATED)
        return render(
            request,
            "account_recovery_codes.html",
            session,
            account,
            codes=codes,
            regenerated=True,
        )

    @router.get(f"{SECURITY}/webauthn")
    async def webauthn_page(request: Request) -> Response:
        session = await signed_in(request, None)
        if not isinstance(session, WebSession):
            return session
        if (prompt := await require_sudo(portal, request, session)) is not None:
            return prompt
        account = await own_account(session)
        return render(request, "account_webauthn.html", session, account, error="")

    @router.post(f"{SECURITY}/webauthn/options")
    async def webauthn_options(request: Request) -> Response:
        """The registration challenge (JSON; CSRF token in a header; sudo mode)."""
        session = await signed_in(request, request.headers.get(CSRF_HEADER, ""))
        if not isinstance(session, WebSession) or not services.identity.in_sudo(session):
            return JSONResponse({"error": "not_allowed"}, status_code=403)
        options = await services.factors.webauthn_register_begin(session.actor, session.actor.name)
        return Response(options, media_type="application/json")

    @router.post(f"{SECURITY}/webauthn")
    async def webauthn_register(
        request: Request,
        name: Annotated[str, Form(max_length=100)] = "",
        credential: Annotated[str, Form(max_length=20_000)] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        _ = portal.catalog(request).gettext
        account = await own_account(session)
        try:
            key = await services.factors.webauthn_register_finish(
                session.actor,
                session.actor.name,
                credential,
                " ".join(name.split()) or _("Security key"),
            )
        except (InvalidInput, Conflict):
            return render(
                request,
                "account_webauthn.html",
                session,
                account,
                status_code=422,
                error=_("The security key could not be added. Try again."),
            )
        label = factor_label(account, key.kind.value, key.name)
        await notify(account, NoticeKind.SECOND_FACTOR_ADDED, factor=label)
        overview = await services.factors.list_factors(session.actor, session.actor.name)
        if overview.recovery_codes_left:
            return RedirectResponse(f"{SECURITY}?added=1", status_code=303)
        codes = await services.factors.generate_recovery_codes(session.actor, session.actor.name)
        return render(
            request, "account_recovery_codes.html", session, account, codes=codes, key_added=True
        )

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
        session = await sudo_session(portal, request, csrf_token)
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
                name = created.app_password.name
                await notify(account, NoticeKind.APP_PASSWORD_CREATED, name=name)
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
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        await services.app_passwords.revoke(session.actor, session.actor.name, str(app_password_id))
        return RedirectResponse(f"{APP_PASSWORDS}?revoked=1", status_code=303)

    @router.post(f"{APP_PASSWORDS}/revoke-all")
    async def app_password_revoke_all(request: Request, csrf_token: CsrfField = "") -> Response:
        session = await sudo_session(portal, request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        await services.app_passwords.revoke_all(session.actor, session.actor.name)
        return RedirectResponse(f"{APP_PASSWORDS}?revoked=all", status_code=303)

    return router
