"""Rendering console pages: the Jinja2 environment, the language of a request, the session,
and the context every page shares (translations, CSRF token, language switcher, paging)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from mailgate.services.container import Services
from mailgate.services.identity import WebSession
from mailgate.web.i18n import LANG_COOKIE, LANGUAGE_NAMES, Catalog, choose_locale
from mailgate.web.portal import labels
from mailgate.web.session import CSRF_FIELD, SESSION_COOKIE, client_ip

CONSOLE = "/admin"
SIGN_IN = f"{CONSOLE}/signin"


def safe_next(target: str | None, default: str = f"{CONSOLE}/") -> str:
    """Only local paths: no scheme, no host, no backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@dataclass(frozen=True, slots=True)
class Pager:
    offset: int
    limit: int
    total: int
    shown: int
    prev_url: str | None
    next_url: str | None

    @property
    def first(self) -> int:
        return self.offset + 1 if self.shown else 0

    @property
    def last(self) -> int:
        return self.offset + self.shown


def pager(request: Request, offset: int, limit: int, total: int, shown: int) -> Pager:
    def url(new_offset: int) -> str:
        params = dict(request.query_params) | {"offset": str(new_offset), "limit": str(limit)}
        return f"{request.url.path}?{urlencode(params)}"

    prev_url = url(max(0, offset - limit)) if offset > 0 else None
    next_url = url(offset + limit) if offset + shown < total else None
    return Pager(offset, limit, total, shown, prev_url, next_url)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mailgate.web.portal", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        CSRF_FIELD=CSRF_FIELD,
        CONSOLE=CONSOLE,
        LANGUAGES=LANGUAGE_NAMES,
        ACCOUNT_STATES=labels.ACCOUNT_STATES,
        EMPLOYMENT_TYPES=labels.EMPLOYMENT_TYPES,
        ROSTER_STATUSES=labels.ROSTER_STATUSES,
        ORG_KINDS=labels.ORG_KINDS,
        ROLES=labels.ROLES,
    )
    return env


@dataclass(slots=True)
class Portal:
    services: Services
    catalogs: dict[str, Catalog]
    env: jinja2.Environment

    @classmethod
    def build(cls, services: Services, catalogs: dict[str, Catalog]) -> Portal:
        return cls(services, catalogs, _environment())

    def catalog(self, request: Request) -> Catalog:
        locale = choose_locale(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        )
        return self.catalogs[locale]

    async def session(self, request: Request) -> WebSession | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        return await self.services.identity.session(token, client_ip(request))

    def render(
        self,
        request: Request,
        template: str,
        *,
        session: WebSession | None,
        status_code: int = 200,
        csrf_token: str = "",
        **context: Any,
    ) -> HTMLResponse:
        t = self.catalog(request)
        # the reviewer's inbox count for the console navigation (web.portal.review)
        context.setdefault("review_badge", getattr(request.state, "review_badge", 0))
        path = request.url.path
        current = path + (f"?{request.url.query}" if request.url.query else "")
        html = self.env.get_template(template).render(
            t=t,
            _=t.gettext,
            session=session,
            csrf_token=session.csrf if session else csrf_token,
            path=path,
            lang_next=urlencode({"next": current}),
            **context,
        )
        response = HTMLResponse(html, status_code=status_code)
        response.headers["cache-control"] = "no-store"
        response.headers["vary"] = "Accept-Language, Cookie"
        return response

    async def error_page(self, request: Request, code: str, status_code: int) -> HTMLResponse:
        session = await self.session(request)
        return self.render(
            request,
            "error.html",
            session=session,
            status_code=status_code,
            message_id=labels.error_message_id(code),
        )

    @staticmethod
    def to_sign_in(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{SIGN_IN}?{urlencode({'next': target})}", status_code=303)
