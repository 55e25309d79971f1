"""The FastAPI application: /healthz, the JSON API under /api/v1 and the admin console.

Every action goes through the services handed in; the web layer only translates HTTP to calls
and domain errors back to HTTP (see `mailgate.web.errors`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from mailgate import __version__
from mailgate.domain.errors import AuthenticationFailed, MailgateError
from mailgate.services.container import Services
from mailgate.settings import Settings
from mailgate.web.api import API_PREFIX, api_router
from mailgate.web.errors import error_body, status_for
from mailgate.web.i18n import load_catalogs
from mailgate.web.middleware import SecurityHeaders, UnexpectedErrors
from mailgate.web.portal.account import account_router
from mailgate.web.portal.activate import activate_router
from mailgate.web.portal.activate_steps import activate_steps_router
from mailgate.web.portal.admin_security import admin_security_router
from mailgate.web.portal.apply import apply_router
from mailgate.web.portal.apply_track import track_router
from mailgate.web.portal.auth import auth_router, require_admin_console
from mailgate.web.portal.errands import errands_router
from mailgate.web.portal.forwarding import forwarding_router
from mailgate.web.portal.notme import notme_router
from mailgate.web.portal.onboarding_admin import onboarding_admin_router
from mailgate.web.portal.onboarding_entries import entries_router
from mailgate.web.portal.pages import pages_router
from mailgate.web.portal.recovery import recovery_router
from mailgate.web.portal.render import Portal
from mailgate.web.portal.reset import reset_router
from mailgate.web.portal.review import review_badge, review_router
from mailgate.web.portal.sessions import sessions_router
from mailgate.web.portal.sudo import sudo_router
from mailgate.web.wellknown import wellknown_router

STATIC_DIR = Path(__file__).parent / "portal" / "static"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX + "/") or request.url.path == API_PREFIX


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
    return "; ".join(parts) or "the request is not valid"


def create_app(services: Services, settings: Settings) -> FastAPI:
    """The web application for one running Mailgate."""
    portal = Portal.build(services, load_catalogs())
    app = FastAPI(
        title="Mailgate API",
        version=__version__,
        description="Directory administration: organisations, domains, roster, accounts, "
        "aliases and groups. Every call is checked against the caller's role scope.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(api_router(services))
    # Machine endpoints for mail programs: Thunderbird autoconfig, Outlook autodiscover.
    app.include_router(wellknown_router(services.client_config))
    app.include_router(auth_router(portal))
    # The console pages are for accounts with role grants; everybody else has /account.
    # (Their navigation shows how many applications wait for the reviewer: review_badge.)
    console = [Depends(require_admin_console(portal)), Depends(review_badge(portal))]
    app.include_router(pages_router(portal), dependencies=console)
    app.include_router(admin_security_router(portal), dependencies=console)
    app.include_router(account_router(portal))
    app.include_router(sudo_router(portal))
    app.include_router(sessions_router(portal))
    app.include_router(errands_router(portal))
    app.include_router(notme_router(portal))
    app.include_router(recovery_router(portal))
    app.include_router(forwarding_router(portal))
    app.include_router(reset_router(portal, settings.security.helpdesk_contact))
    # Onboarding: the public application, tracking and supervisor pages (the form routes
    # first: /apply/{slug}/form of an entry called "track" is not a tracking token), and the
    # console's reviewer and configuration pages.
    app.include_router(apply_router(portal))
    app.include_router(track_router(portal))
    # The forced first login of a new mailbox (/activate, activation-stage sessions).
    app.include_router(activate_router(portal))
    app.include_router(activate_steps_router(portal))
    for onboarding in (review_router, onboarding_admin_router, entries_router):
        app.include_router(onboarding(portal), dependencies=console)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MailgateError)  # noqa: S101 - registered for this type only
        status = status_for(exc)
        if _is_api(request):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return JSONResponse(error_body(exc.code, exc.message), status, headers=headers)
        if isinstance(exc, AuthenticationFailed):
            return portal.to_sign_in(request)
        return await portal.error_page(request, exc.code, status)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        if _is_api(request):
            return JSONResponse(error_body("invalid_input", _validation_message(exc)), 422)
        return await portal.error_page(request, "bad_request", 400)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101
        code = "not_found" if exc.status_code == 404 else "bad_request"
        if _is_api(request) or exc.status_code == 405:
            return JSONResponse(
                error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers
            )
        return await portal.error_page(request, code, exc.status_code)

    app.add_exception_handler(MailgateError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(SecurityHeaders)
    return app
