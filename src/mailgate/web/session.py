"""Console sessions as the web sees them: cookie names and attributes, CSRF checks, client IP.

The session itself lives server-side (IdentityService); the browser only holds an opaque id in
`__Host-mailgate_session` (Secure, HttpOnly, SameSite=Lax, Path=/, no Domain). Before sign-in
the form is protected by a double-submit token in `__Host-mailgate_csrf`.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "__Host-mailgate_session"
PRE_SESSION_CSRF_COOKIE = "__Host-mailgate_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def set_host_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="lax"
    )


def clear_host_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="lax")
