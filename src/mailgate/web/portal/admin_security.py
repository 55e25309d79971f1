"""The admin console's security pages: one account's security (`/admin/accounts/{address}`) with
the administrator actions, the login records of the organisations the admin may read
(`/admin/logins`, with a CSV download) and the security alerts (`/admin/alerts`).

Every action goes through `services.account_admin` (lock, unlock, force a password change, reset
second factors, end sessions, revoke app passwords, lockdown), which checks the actor's scope and
audits. Actions are asked for on a page of their own that says what will happen (the
confirmation step) and are POSTed with the session's CSRF token; both need sudo mode (a fresh
proof of the password). Reading needs no more than the console's own gate.

The page also shows the account's forwarding (to admins with ACCOUNT_WRITE only, as
`services.forwarding` allows) and its API tokens. With ACCOUNT_WRITE, a button removes the
forwarding (`/forwarding/remove`) and one per token revokes it (`/api-tokens/revoke`): POSTed
straight from the page with the CSRF token, in sudo mode, audited by the services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Account, AccountState
from mailgate.domain.errors import (
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from mailgate.services.account_admin import MAX_REASON
from mailgate.services.identity import WebSession
from mailgate.web.lookups import organisations_by_id
from mailgate.web.portal.account import (
    FACTOR_KINDS,
    PROTOCOLS,
    REASONS,
    SCOPES,
    time_formatter,
)
from mailgate.web.portal.admin_actions import (
    ACTIONS,
    ALERT_KINDS,
    AUDIT_ACTIONS,
    REQUIRED_ACTIONS,
    RESULTS,
    ActionSpec,
    carry_out,
    done_notice,
    form_error,
    offered_actions,
)
from mailgate.web.portal.render import CONSOLE, Portal, pager
from mailgate.web.portal.sudo import require_sudo
from mailgate.web.session import CSRF_FIELD, csrf_matches

ACCOUNTS = f"{CONSOLE}/accounts"
LOGINS = f"{CONSOLE}/logins"
LOGINS_CSV = f"{LOGINS}/export.csv"
ALERTS = f"{CONSOLE}/alerts"
RECENT = 20
PAGE_SIZE = 50
CSV_BOM = "\ufeff"  # so that spreadsheet programs read the UTF-8 (Chinese names) correctly

CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=200)]
Filter = Annotated[str, Query(max_length=320)]
Text = Annotated[str, Form(max_length=2000)]
Handle = Annotated[str, Form(max_length=100)]


def account_url(address: str, suffix: str = "") -> str:
    return f"{ACCOUNTS}/{quote(address, safe='')}{suffix}"


@dataclass(frozen=True, slots=True)
class LoginQuery:
    """The filters of the login records page, as typed (dates are days in the admin's zone)."""

    org: str = ""
    account: str = ""
    ip: str = ""
    result: str = ""
    protocol: str = ""
    since: str = ""
    until: str = ""

    def params(self) -> dict[str, str]:
        """The filters that are set, for links (CSV download, paging)."""
        values = {
            "org": self.org,
            "account": self.account,
            "ip": self.ip,
            "result": self.result,
            "protocol": self.protocol,
            "since": self.since,
            "until": self.until,
        }
        return {k: v for k, v in values.items() if v}

    def days(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """[since, until] as instants: from the start of `since` to the end of `until`;
        InvalidInput for a date that is not one."""

        def day(text: str) -> date | None:
            if not text:
                return None
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise InvalidInput(f"{text!r} is not a date") from None

        start, end = day(self.since), day(self.until)
        try:
            since = datetime.combine(start, time(0), zone).astimezone(UTC) if start else None
            until = (
                datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC)
                if end
                else None
            )
        except OverflowError:
            raise InvalidInput("the dates are out of range") from None
        return since, until


def admin_security_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    services = portal.services

    async def signed_in(request: Request, csrf_token: str | None) -> WebSession | Response:
        session = await portal.session(request)
        if session is None:
            return portal.to_sign_in(request)
        if csrf_token is not None and not csrf_matches(session.csrf, csrf_token):
            return await portal.error_page(request, "csrf", 403)
        return session

    async def formatter(
        request: Request, actor: Actor
    ) -> tuple[Callable[[datetime | None], str], ZoneInfo]:
        """The page's time formatter and the zone of the admin's own account."""
        own = await services.accounts.own(actor)
        try:
            zone = ZoneInfo(own.time_zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        return time_formatter(portal.catalog(request), own.time_zone), zone

    def render(
        request: Request, template: str, session: WebSession, status_code: int = 200, **ctx: Any
    ) -> Response:
        return portal.render(
            request,
            template,
            session=session,
            status_code=status_code,
            PROTOCOLS=PROTOCOLS,
            REASONS=REASONS,
            SCOPES=SCOPES,
            FACTOR_KINDS=FACTOR_KINDS,
            ACTIONS=ACTIONS,
            AUDIT_ACTIONS=AUDIT_ACTIONS,
            REQUIRED_ACTIONS=REQUIRED_ACTIONS,
            ALERT_KINDS=ALERT_KINDS,
            RESULTS=RESULTS,
            account_url=account_url,
            LOGINS=LOGINS,
            ALERTS=ALERTS,
            **ctx,
        )

    # --- one account --------------------------------------------------------------------------

    @router.get(f"{ACCOUNTS}/{{address}}")
    async def account_page(
        request: Request,
        address: str,
        done: Annotated[str, Query(max_length=40)] = "",
        n: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        sessions: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        app_passwords: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        api_tokens: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response:
        session = await signed_in(request, None)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor
        account = await services.accounts.get(actor, address)
        when, _zone = await formatter(request, actor)
        orgs = await organisations_by_id(services, actor)
        org = orgs.get(account.org_id)
        may_write = actor.can(Permission.ACCOUNT_WRITE, account.org_id)
        found = await services.forwarding.status(actor, account.address)
        forwarding, applies = found if found else (None, None)
        counts = {
            "n": n,
            "sessions": sessions,
            "app_passwords": app_passwords,
            "api_tokens": api_tokens,
        }
        return render(
            request,
            "admin_account.html",
            session,
            account=account,
            org=org,
            factors=await services.factors.list_factors(actor, account.address),
            app_passwords=await services.app_passwords.list(
                actor, account.address, include_revoked=True
            ),
            logins=await services.logins.recent_logins(actor, account.address, RECENT),
            web_sessions=await services.account_admin.sessions(actor, account.address),
            audit=await services.account_admin.audit_events(actor, account.address),
            tokens=await services.api_tokens.list(actor, account.address),
            today=services.identity.clock.now().date(),
            may_write=may_write,
            forwarding=forwarding,
            forwarding_applies=applies,
            offered=offered_actions(actor, account),
            may_unlock=account.state is AccountState.LOCKED
            and actor.can(Permission.ACCOUNT_UNLOCK, account.org_id),
            own=actor.account_id == account.id,
            when=when,
            notice=done_notice(portal.catalog(request), done, counts),
        )

    async def confirm_page(
        request: Request,
        session: WebSession,
        account: Account,
        slug: str,
        *,
        status_code: int = 200,
        error: str = "",
        form: dict[str, str] | None = None,
    ) -> Response:
        return render(
            request,
            "admin_account_confirm.html",
            session,
            status_code=status_code,
            account=account,
            slug=slug,
            spec=ACTIONS[slug],
            error=error,
            form=form or {},
            max_reason=MAX_REASON,
        )

    def spec_of(slug: str) -> ActionSpec:
        spec = ACTIONS.get(slug)
        if spec is None:
            raise NotFound(f"there is no account action {slug!r}")
        return spec

    @router.get(f"{ACCOUNTS}/{{address}}/{{slug}}")
    async def confirm(request: Request, address: str, slug: str) -> Response:
        session = await signed_in(request, None)
        if not isinstance(session, WebSession):
            return session
        spec = spec_of(slug)
        account = await services.accounts.get(session.actor, address)
        session.actor.require(spec.permission, account.org_id)
        if (prompt := await require_sudo(portal, request, session)) is not None:
            return prompt
        return await confirm_page(request, session, account, slug)

    @router.post(f"{ACCOUNTS}/{{address}}/{{slug}}")
    async def perform(
        request: Request,
        address: str,
        slug: str,
        reason: Text = "",
        verified_by: Text = "",
        method: Text = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        session = await signed_in(request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        spec = spec_of(slug)
        actor = session.actor
        account = await services.accounts.get(actor, address)
        if (prompt := await require_sudo(portal, request, session)) is not None:
            return prompt
        t = portal.catalog(request)
        _ = t.gettext
        form = {"reason": reason, "verified_by": verified_by, "method": method}
        error = form_error(t, spec, form)
        if not error and not spec.self_allowed and actor.account_id == account.id:
            error = _("You cannot do this to your own account; ask another administrator.")
        if error:
            return await confirm_page(
                request, session, account, slug, status_code=422, error=error, form=form
            )
        try:
            query = await carry_out(services.account_admin, actor, account.address, slug, form)
        except InvalidTransition:
            error = _("This step is not allowed in the current state.")
            return await confirm_page(
                request, session, account, slug, status_code=409, error=error, form=form
            )
        except PermissionDenied:
            if actor.account_id != account.id:
                raise
            error = _("You cannot do this to your own account; ask another administrator.")
            return await confirm_page(
                request, session, account, slug, status_code=403, error=error, form=form
            )
        target = account_url(account.address) + "?" + urlencode({"done": slug, **query})
        return RedirectResponse(target, status_code=303)

    async def changing(
        request: Request, address: str, csrf_token: str
    ) -> tuple[WebSession, Account] | Response:
        """The session and account of a button on the page: signed in, the page's CSRF token,
        ACCOUNT_WRITE over the account (PermissionDenied otherwise), sudo mode."""
        session = await signed_in(request, csrf_token)
        if not isinstance(session, WebSession):
            return session
        account = await services.accounts.get(session.actor, address)
        session.actor.require(Permission.ACCOUNT_WRITE, account.org_id)
        if (prompt := await require_sudo(portal, request, session)) is not None:
            return prompt
        return session, account

    def back(account: Account, done: str) -> Response:
        target = account_url(account.address) + "?" + urlencode({"done": done})
        return RedirectResponse(target, status_code=303)

    @router.post(f"{ACCOUNTS}/{{address}}/forwarding/remove")
    async def remove_forwarding(
        request: Request, address: str, csrf_token: CsrfField = ""
    ) -> Response:
        found = await changing(request, address, csrf_token)
        if isinstance(found, Response):
            return found
        session, account = found
        try:
            await services.forwarding.remove(session.actor, account.address)
        except NotFound:  # removed meanwhile (a second click, the person, a lockdown)
            return back(account, "no-forwarding")
        return back(account, "forwarding-removed")

    @router.post(f"{ACCOUNTS}/{{address}}/api-tokens/revoke")
    async def revoke_api_token(
        request: Request, address: str, handle: Handle = "", csrf_token: CsrfField = ""
    ) -> Response:
        found = await changing(request, address, csrf_token)
        if isinstance(found, Response):
            return found
        session, account = found
        try:
            await services.api_tokens.revoke(session.actor, account.address, handle)
        except NotFound:
            return back(account, "no-api-token")
        return back(account, "api-token-revoked")

    # --- login records ------------------------------------------------------------------------

    @router.get(LOGINS)
    async def logins(
        request: Request,
        org: Filter = "",
        account: Filter = "",
        ip: Filter = "",
        result: Filter = "",
        protocol: Filter = "",
        since: Filter = "",
        until: Filter = "",
        offset: Offset = 0,
        limit: Limit = PAGE_SIZE,
    ) -> Response:
        session = await signed_in(request, None)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor
        t = portal.catalog(request)
        _ = t.gettext
        q = LoginQuery(org, account.strip(), ip.strip(), result, protocol, since, until)
        when, zone = await formatter(request, actor)
        orgs = await organisations_by_id(services, actor)
        rows: list[Any] = []
        total, error, status_code = 0, "", 200
        try:
            start, end = q.days(zone)
            rows, total = await services.logins.search_logins(
                actor,
                org or None,
                account=q.account or None,
                ip=q.ip or None,
                result=result or None,
                protocol=protocol or None,
                since=start,
                until=end,
                offset=offset,
                limit=limit,
            )
        except NotFound:
            error = _("There is no organisation or account by that name that you may see.")
            status_code = 404
        except InvalidInput:
            error = _("A filter is not valid. Check the dates and the address.")
            status_code = 422
        return render(
            request,
            "admin_logins.html",
            session,
            status_code=status_code,
            q=q,
            rows=rows,
            orgs=sorted(orgs.values(), key=lambda o: o.slug),
            orgs_by_id=orgs,
            when=when,
            error=error,
            csv_url=f"{LOGINS_CSV}?{urlencode(q.params())}",
            pager=pager(request, offset, limit, total, len(rows)),
            zone=str(zone),
        )

    @router.get(LOGINS_CSV)
    async def logins_csv(
        request: Request,
        org: Filter = "",
        account: Filter = "",
        ip: Filter = "",
        result: Filter = "",
        protocol: Filter = "",
        since: Filter = "",
        until: Filter = "",
    ) -> Response:
        session = await signed_in(request, None)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor
        q = LoginQuery(org, account.strip(), ip.strip(), result, protocol, since, until)
        _when, zone = await formatter(request, actor)
        start, end = q.days(zone)
        text = await services.logins.export_logins_csv(
            actor,
            org or None,
            account=q.account or None,
            ip=q.ip or None,
            result=result or None,
            protocol=protocol or None,
            since=start,
            until=end,
        )
        today = datetime.now(UTC).strftime("%Y%m%d")
        scope = org if org and all(c.isalnum() or c == "-" for c in org) else "all"
        filename = f"mailgate-logins-{scope}-{today}.csv"
        return Response(
            CSV_BOM + text,
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="{filename}"',
                "cache-control": "no-store",
            },
        )

    # --- alerts -------------------------------------------------------------------------------

    @router.get(ALERTS)
    async def alerts(
        request: Request, org: Filter = "", offset: Offset = 0, limit: Limit = PAGE_SIZE
    ) -> Response:
        session = await signed_in(request, None)
        if not isinstance(session, WebSession):
            return session
        actor = session.actor
        t = portal.catalog(request)
        when, _zone = await formatter(request, actor)
        orgs = await organisations_by_id(services, actor)
        rows: list[Any] = []
        total, error, status_code = 0, "", 200
        try:
            rows, total = await services.logins.alerts(actor, org or None, offset, limit)
        except NotFound:
            error = t.gettext("There is no organisation or account by that name that you may see.")
            status_code = 404
        return render(
            request,
            "admin_alerts.html",
            session,
            status_code=status_code,
            org=org,
            rows=rows,
            orgs=sorted(orgs.values(), key=lambda o: o.slug),
            orgs_by_id=orgs,
            when=when,
            error=error,
            pager=pager(request, offset, limit, total, len(rows)),
        )

    return router
