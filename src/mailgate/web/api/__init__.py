"""The JSON API under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from mailgate.services.container import Services
from mailgate.web.api.accounts import accounts_router
from mailgate.web.api.auth import actor_dependency
from mailgate.web.api.directory import directory_router
from mailgate.web.api.models import ErrorOut
from mailgate.web.api.onboarding import onboarding_router

API_PREFIX = "/api/v1"
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (401, "not authenticated"),
        (403, "not permitted, or CSRF header missing"),
        (404, "not found, or not visible to the caller"),
        (409, "conflicts with existing state or a directory rule"),
        (422, "invalid input"),
    )
}


def api_router(services: Services) -> APIRouter:
    current_actor = actor_dependency(services)
    router = APIRouter(prefix=API_PREFIX, responses=_ERRORS)
    router.include_router(directory_router(services, current_actor))
    router.include_router(accounts_router(services, current_actor))
    router.include_router(onboarding_router(services, current_actor))
    return router
