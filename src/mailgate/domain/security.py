"""Account security values: the brute-force limiter's policy, login records, app passwords.

Throttling follows Keycloak's brute-force detection ("wait increment", "max wait", "failure
reset time"), applied to the (account, client IP) *pair* and to the client IP alone rather than
to the account, so an attacker elsewhere cannot lock the real user out:

- each failed authentication counts one failure for its pair (when the account is known) and
  one for its IP; a counter whose last failure is older than `failure_reset_time` starts again;
- after `pair_free_failures` failures the pair must wait `wait_increment`, one increment more
  per further failure, never more than `max_wait` (defaults 5, 60 s, 15 min); an IP gets
  `ip_free_failures` (30) across all accounts before it waits the same way;
- attempts while waiting are refused without checking the password and do not count;
- a success resets its pair's counter only (never the IP's: an attacker holding one valid
  account must not be able to wipe the IP's record by logging in to it).

`burst_*` describe "very many failures against one account from many IPs" (default 50 failures
from at least 10 IPs within an hour): an alert, and the web then asks for the second factor.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

IP_ONLY = 0  # account_id of the per-IP counter


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    wait_increment: timedelta = timedelta(seconds=60)
    max_wait: timedelta = timedelta(minutes=15)
    failure_reset_time: timedelta = timedelta(hours=12)
    pair_free_failures: int = 5
    ip_free_failures: int = 30
    burst_failures: int = 50
    burst_min_ips: int = 10
    burst_window: timedelta = timedelta(hours=1)

    def wait(self, failures: int, free: int) -> timedelta:
        """How long to wait after `failures` consecutive failures (zero below `free`)."""
        if failures < free:
            return timedelta(0)
        return min(self.max_wait, self.wait_increment * (failures - free + 1))

    def blocked_until(
        self, counter: FailureCounter | None, free: int, now: datetime
    ) -> datetime | None:
        """The end of the current wait, or None when an attempt may be evaluated now."""
        if counter is None or now - counter.last_failure > self.failure_reset_time:
            return None
        until = counter.last_failure + self.wait(counter.failures, free)
        return until if until > now else None


@dataclass(frozen=True, slots=True)
class FailureCounter:
    account_id: int  # IP_ONLY for the per-IP counter
    ip: str
    failures: int
    first_failure: datetime
    last_failure: datetime


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """One authentication attempt. `username` is the account's address when resolved and a
    short hash otherwise (people type passwords into the user-name field)."""

    occurred_at: datetime
    account_id: int | None
    org_id: int | None
    username: str
    protocol: str  # web, smtp, imap, pop3, api
    ip: str
    client_id: str  # user agent, IMAP ID
    success: bool
    reason: str  # ok, bad_password, unknown_user, throttled, app_password_required, locked ...
    app_password_id: int | None = None
    app_password_name: str = ""
    id: int = 0


@dataclass(frozen=True, slots=True)
class LoginFilter:
    ip: str | None = None
    success: bool | None = None
    reason: str | None = None
    protocol: str | None = None
    account_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def anonymised_username(typed: str) -> str:
    """What a login record keeps of a user name that matched no account."""
    digest = hashlib.sha256(typed.strip().casefold().encode("utf-8", "replace")).hexdigest()
    return "unknown:" + digest[:16]


# --- app passwords ----------------------------------------------------------------------------


class MailScope(enum.StrEnum):
    IMAP = "imap"
    POP3 = "pop3"
    SMTP = "smtp"


APP_PASSWORD_GROUPS = 5  # 20 letters: log2(26) * 20 ≈ 94 bits; the first group is the hint
APP_PASSWORD_GROUP = 4
APP_PASSWORD_LENGTH = APP_PASSWORD_GROUPS * APP_PASSWORD_GROUP


def generate_app_password() -> str:
    """`abcd-efgh-ijkl-mnop-qrst`: random lowercase letters, easy to type on a phone."""
    letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(APP_PASSWORD_LENGTH))
    return "-".join(letters[i : i + APP_PASSWORD_GROUP] for i in range(0, APP_PASSWORD_LENGTH, 4))


def normalise_app_password(typed: str) -> str | None:
    """The 20 letters of something shaped like an app password (spaces, dashes and case are
    forgiven), or None when it cannot be one."""
    if len(typed) > 64:
        return None
    letters = "".join(ch for ch in typed if ch not in " -").lower()
    if len(letters) != APP_PASSWORD_LENGTH or not all(
        ch in string.ascii_lowercase for ch in letters
    ):
        return None
    return letters


def app_password_hint(letters: str) -> str:
    """The non-secret lookup hint: the first group of the normalised letters."""
    return letters[:APP_PASSWORD_GROUP]


def parse_scopes(text: str) -> frozenset[MailScope]:
    """`imap,smtp` -> scopes; ValueError names the bad one."""
    out: set[MailScope] = set()
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        try:
            out.add(MailScope(part.strip().lower()))
        except ValueError:
            raise ValueError(f"unknown scope {part!r}; use imap, pop3 and smtp") from None
    if not out:
        raise ValueError("name at least one scope: imap, pop3, smtp")
    return frozenset(out)


def format_scopes(scopes: frozenset[MailScope]) -> str:
    return ",".join(s.value for s in MailScope if s in scopes)


@dataclass(frozen=True, slots=True)
class AppPassword:
    id: int
    account_id: int
    name: str
    hint: str
    password_hash: str
    scopes: frozenset[MailScope]
    created_at: datetime
    expires_on: date | None = None
    last_used_at: datetime | None = None
    last_used_ip: str = ""
    revoked_at: datetime | None = None

    def usable(self, scope: str, today: date) -> bool:
        if self.revoked_at is not None:
            return False
        if self.expires_on is not None and self.expires_on < today:
            return False
        return scope in {s.value for s in self.scopes}

    @property
    def status_on(self) -> str:
        return "revoked" if self.revoked_at is not None else "active"


@dataclass(frozen=True, slots=True)
class SecurityAlert:
    occurred_at: datetime
    kind: str  # failure_burst
    account_id: int | None
    org_id: int | None
    details: dict[str, object] = field(default_factory=dict)
    id: int = 0
