"""Who is calling the API: a bearer token, or the console session with its CSRF header."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mailgate.domain.access import Actor
from mailgate.domain.errors import AuthenticationFailed, PermissionDenied
from mailgate.services.container import Services
from mailgate.web.session import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    client_ip,
    csrf_matches,
)

ActorDependency = Callable[..., Awaitable[Actor]]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `mailgate` (sent as `Authorization: Bearer mgt_...`). "
    "The console session cookie works too, with an `X-CSRF-Token` header on changes.",
)


def actor_dependency(services: Services) -> ActorDependency:
    async def current_actor(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Actor:
        ip = client_ip(request)
        if credentials is not None:
            return await services.identity.api_actor(credentials.credentials, ip)
        cookie = request.cookies.get(SESSION_COOKIE)
        session = await services.identity.session(cookie, ip) if cookie else None
        if session is None:
            raise AuthenticationFailed(
                "authentication required: send 'Authorization: Bearer <token>' or sign in"
            )
        if request.method not in SAFE_METHODS and not csrf_matches(
            session.csrf, request.headers.get(CSRF_HEADER)
        ):
            raise PermissionDenied(
                "the X-CSRF-Token header is missing or does not match this session"
            )
        return session.actor

    return current_actor
