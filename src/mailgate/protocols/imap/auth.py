"""LOGIN and AUTHENTICATE (PLAIN, LOGIN; SASL-IR) and how an authentication decision becomes
an IMAP reply (RFC 9051 6.2, RFC 4616, RFC 5530 response codes).

Unknown user and wrong password give the same ``NO [AUTHENTICATIONFAILED]``.  Only when the
password was right does the reply say why the account cannot be used, with the portal page
where that is fixed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from mailgate.services.authentication import (
    AuthDecision,
    AuthenticationService,
    AuthProtocol,
    AuthReason,
)

from . import response

__all__ = ["SaslExchange", "client_id_text", "decision_reply", "parse_plain", "refusal"]

_FAILED = ("AUTHENTICATIONFAILED", "Authentication failed")
ACTIVATE_PATH = "/activate"  # the portal page of the first login; servers pass the full URL
_REFUSALS: dict[AuthReason, tuple[str, str]] = {
    AuthReason.BAD_CREDENTIALS: _FAILED,
    AuthReason.NOT_ACTIVATED: (
        "CONTACTADMIN",
        "Account not activated yet: finish activating it at {activate} first",
    ),
    AuthReason.FIRST_LOGIN_PENDING: (
        "CONTACTADMIN",
        "First sign-in not completed: finish it at {activate} first",
    ),
    AuthReason.PASSWORD_UPDATE_REQUIRED: (
        "AUTHORIZATIONFAILED",
        "A new password is required: sign in at the portal to choose one (/account/password)",
    ),
    AuthReason.EXPIRED: (
        "EXPIRED",
        "Account expired: ask your administrator to extend it (portal page /account)",
    ),
    AuthReason.LOCKED: (
        "AUTHORIZATIONFAILED",
        "Account locked: contact your administrator (portal page /account)",
    ),
    AuthReason.SUSPENDED: (
        "AUTHORIZATIONFAILED",
        "Account suspended: contact your administrator (portal page /account)",
    ),
    AuthReason.DISABLED: (
        "AUTHORIZATIONFAILED",
        "Account disabled: contact your administrator (portal page /account)",
    ),
    AuthReason.PROTOCOL_NOT_ALLOWED: (
        "AUTHORIZATIONFAILED",
        "This account may not use IMAP: ask your administrator (portal page /account)",
    ),
    AuthReason.APP_PASSWORD_REQUIRED: (
        "AUTHENTICATIONFAILED",
        "Two-step verification is on: sign in with an app password, "
        "created at the portal page /account/app-passwords",
    ),
}


def refusal(tag: str, reason: AuthReason, activate_url: str = ACTIVATE_PATH) -> bytes:
    """`activate_url`: where the first login is finished (the portal's /activate page)."""
    code, text = _REFUSALS.get(reason, _FAILED)
    return response.tagged(tag, "NO", text.replace("{activate}", activate_url), code)


def decision_reply(
    tag: str, decision: AuthDecision, capabilities: str, activate_url: str = ACTIVATE_PATH
) -> bytes:
    if decision.allowed:
        return response.tagged(tag, "OK", "Logged in", f"CAPABILITY {capabilities}")
    return refusal(tag, decision.reason, activate_url)


def parse_plain(data: bytes) -> tuple[str, str] | None:
    """RFC 4616 ``authzid NUL authcid NUL passwd``; an authzid other than the user is refused."""
    parts = data.split(b"\x00")
    if len(parts) != 3:
        return None
    try:
        authz, user, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        return None
    if authz and authz != user:
        return None
    return user, password


@dataclass(slots=True)
class SaslExchange:
    """An AUTHENTICATE in progress: which mechanism, and the user name for LOGIN."""

    tag: str
    mechanism: str
    username: str | None = None

    def first_challenge(self) -> bytes:
        if self.mechanism == "LOGIN":
            return b"+ " + base64.b64encode(b"Username:") + b"\r\n"
        return b"+ \r\n"

    def step(self, data: bytes) -> tuple[bytes | None, tuple[str, str] | None]:
        """One client response -> (next challenge, or None) and credentials when complete.

        Both None means the exchange failed (malformed response)."""
        if self.mechanism == "PLAIN":
            return None, parse_plain(data)
        if self.username is None:
            try:
                self.username = data.decode("utf-8")
            except UnicodeDecodeError:
                return None, None
            return b"+ " + base64.b64encode(b"Password:") + b"\r\n", None
        try:
            return None, (self.username, data.decode("utf-8"))
        except UnicodeDecodeError:
            return None, None


async def authenticate(
    service: AuthenticationService, user: str, password: str, client_ip: str, client_id: str = ""
) -> AuthDecision:
    return await service.authenticate(user, password, AuthProtocol.IMAP, client_ip, client_id)


def client_id_text(parameters: tuple[tuple[str, str | None], ...] | None) -> str:
    """The client's ID (RFC 2971) as one line for the login record: `name=... version=...`."""
    if not parameters:
        return ""
    text = " ".join(f"{k}={v}" for k, v in parameters[:30] if v is not None)
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:400]
