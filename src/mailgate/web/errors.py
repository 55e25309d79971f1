"""Domain errors translated into HTTP, in this one place.

    NotFound -> 404            PermissionDenied -> 403      InvalidInput -> 422
    Conflict -> 409            RuleViolation -> 409         InvalidTransition -> 409
    AuthenticationFailed -> 401

The JSON body is always {"error": <code>, "message": <text>}. The text of a domain error is
written for the caller; anything else is an internal error and is only logged (with a
correlation id that the client gets to quote).
"""

from __future__ import annotations

from mailgate.domain.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    InvalidTransition,
    MailgateError,
    NotFound,
    PermissionDenied,
    RuleViolation,
)

_STATUS: tuple[tuple[type[MailgateError], int], ...] = (
    (NotFound, 404),
    (PermissionDenied, 403),
    (InvalidInput, 422),
    (Conflict, 409),
    (RuleViolation, 409),
    (InvalidTransition, 409),
    (AuthenticationFailed, 401),
)


def status_for(error: MailgateError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}
