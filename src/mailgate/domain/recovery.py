"""Recovery contacts and one-time codes (issue #5 items 6 and 7).

A recovery contact is a backup e-mail address or a mobile phone number bound to an account and
verified with a 6-digit code. It is how the person gets back in when they forget their password
(self-service reset) and a channel for security notices. It is never a second factor.

One-time codes (contact verification, password reset) are random, single-use, short-lived and
stored only as a digest; each has a small budget of wrong guesses, after which it is spent.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailgate.domain.errors import InvalidInput
from mailgate.domain.names import Address

MAX_CONTACTS = 5  # per account
CODE_DIGITS = 6
CODE_ATTEMPTS = 5  # wrong guesses before a code is spent
VERIFY_CODE_LIFETIME = timedelta(minutes=10)
RESET_CODE_LIFETIME = timedelta(minutes=15)
_PHONE_CHARS = re.compile(r"[\s\-().]")


class ContactKind(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"


class CodePurpose(enum.StrEnum):
    VERIFY_CONTACT = "verify_contact"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose name, not a password
    ACTIVATION = "activation"  # the first-login code of a provisioned account (72 h)
    FORWARDING_VERIFY = "forwarding_verify"  # proves a forwarding target receives mail


@dataclass(frozen=True, slots=True)
class RecoveryContact:
    id: int
    account_id: int
    kind: ContactKind
    value: str  # e-mail address as written, or phone in E.164 (+8613800138000)
    created_at: datetime
    verified_at: datetime | None = None

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def masked(self) -> str:
        """What a page shows someone not yet proven to be the owner: a***@e***.com, +86****8000."""
        if self.kind is ContactKind.PHONE:
            return self.value[:3] + "*" * max(0, len(self.value) - 7) + self.value[-4:]
        local, _, domain = self.value.rpartition("@")
        head, dot, tld = domain.rpartition(".")
        return f"{local[:1]}***@{(head or tld)[:1]}***{dot}{tld if head else ''}"


@dataclass(frozen=True, slots=True)
class OneTimeCode:
    id: int
    account_id: int
    purpose: CodePurpose
    target: str  # what the code proves: a contact id for verification, "" for a reset
    digest: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    attempts: int = 0

    def live(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at and self.attempts < CODE_ATTEMPTS


def normalise_phone(text: str) -> str:
    """E.164 for a mobile number: `+` and 8-15 digits. A bare 11-digit number starting with 1
    is a mainland China mobile (+86); other numbers need their country code."""
    compact = _PHONE_CHARS.sub("", text.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if re.fullmatch(r"1[3-9]\d{9}", compact):
        compact = "+86" + compact
    if not re.fullmatch(r"\+[1-9]\d{7,14}", compact):
        raise InvalidInput("enter a mobile number with its country code, e.g. +86 138 0013 8000")
    return compact


def normalise_contact(kind: ContactKind, text: str, account_address: str) -> str:
    """The stored form of a new contact; the mailbox itself can never be its own recovery
    address (InvalidInput)."""
    if kind is ContactKind.PHONE:
        return normalise_phone(text)
    address = Address.parse(text.strip())
    if address.key == Address.parse(account_address).key:
        raise InvalidInput("the recovery address must be a different mailbox than this account")
    return str(address)


def new_code() -> str:
    """A uniformly random 6-digit code."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_link_token() -> str:
    """A reset-link token: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def code_digest(key: bytes, purpose: CodePurpose, account_id: int, code: str) -> str:
    """HMAC of the code bound to its purpose and account (a database dump alone does not let
    anyone try the million codes offline without the server key)."""
    message = f"{purpose.value}\0{account_id}\0{code.strip()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def token_digest(token: str) -> str:
    """Digest of a reset-link token (256 random bits need no key)."""
    return hashlib.sha256(token.encode()).hexdigest()
