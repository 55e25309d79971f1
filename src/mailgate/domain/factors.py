"""Second factors (issue #5, item 3): TOTP, WebAuthn security keys, and recovery codes.

Email is never a second factor: a mailbox the password opens cannot prove anything beyond the
password. `FactorKind` therefore has exactly two members; recovery codes are a separate,
single-use fallback and do not count as an enrolled factor.

TOTP (RFC 6238, 30-second steps, 6 digits):
- a code is accepted at the current step or one step either side;
- each credential remembers the last step it accepted, so a code (or an older one) is accepted
  once only; a second use is a replay (`totp_replay`);
- a code that matches only further away (up to ±10 minutes) is refused, but the signed-in user
  is told their device clock is about N minutes off (a phone set to the wrong time zone).

This module is pure: the code generator is passed in (`code_at(step)`), so the rules are tested
without a clock, a database or a TOTP library.
"""

from __future__ import annotations

import enum
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
TOTP_ACCEPT_STEPS = 1  # ±1 step (±30 s)
TOTP_SKEW_SEARCH_STEPS = 20  # ±10 minutes, searched only to explain a refusal
TOTP_SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends
TOTP_CONFIRM_WITHIN = timedelta(minutes=30)  # an unconfirmed enrolment expires
WEBAUTHN_CHALLENGE_TTL = timedelta(minutes=5)

RECOVERY_CODE_COUNT = 10
# Crockford's base32: no i, l, o, u; typed o/i/l are read as 0/1/1. 12 symbols = 60 bits.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_GROUPS = (4, 4, 4)
_RECOVERY_READ = str.maketrans({"o": "0", "i": "1", "l": "1"})


class FactorKind(enum.StrEnum):
    TOTP = "totp"
    WEBAUTHN = "webauthn"


@dataclass(slots=True)
class SecondFactor:
    """One enrolled (or, for TOTP, pending) second factor of an account."""

    id: int
    account_id: int
    kind: FactorKind
    name: str
    created_at: datetime
    confirmed_at: datetime | None = None  # None: a TOTP enrolment waiting for its first code
    last_used_at: datetime | None = None
    secret: bytes | None = None  # TOTP: the sealed secret (never the plain one)
    last_step: int | None = None  # TOTP: the newest accepted time step
    credential_id: bytes | None = None  # WebAuthn
    public_key: bytes | None = None  # WebAuthn: COSE key
    sign_count: int = 0  # WebAuthn
    transports: tuple[str, ...] = ()  # WebAuthn: usb, nfc, ble, internal, hybrid

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


@dataclass(frozen=True, slots=True)
class RecoveryCode:
    id: int
    account_id: int
    code_hash: str
    created_at: datetime
    used_at: datetime | None = None


class VerifyReason(enum.StrEnum):
    """Why a second-factor check passed or failed (kept in logs, audit and login records)."""

    OK = "ok"
    WRONG_CODE = "totp_wrong"
    REPLAY = "totp_replay"
    CLOCK_SKEW = "totp_clock_skew"
    NOT_ENROLLED = "factor_not_enrolled"
    RECOVERY_CODE_WRONG = "recovery_code_wrong"
    WEBAUTHN_INVALID = "webauthn_invalid"
    WEBAUTHN_SIGN_COUNT = "webauthn_sign_count"  # counter went backwards: a cloned key?


@dataclass(frozen=True, slots=True)
class TotpCheck:
    """The outcome for one credential: `step` is the matched step (None: no match at all)."""

    reason: VerifyReason
    step: int | None = None
    skew_steps: int = 0  # CLOCK_SKEW: device step minus server step


@dataclass(frozen=True, slots=True)
class FactorResult:
    """What a second-factor check tells the caller; `message` may be shown to a user who has
    already passed the password (never to anyone else)."""

    accepted: bool
    reason: VerifyReason
    message: str
    factor_id: int | None = None
    clock_skew_minutes: int | None = None  # CLOCK_SKEW: positive when the device runs ahead
    recovery_codes_left: int | None = None
    clone_warning: bool = False


def totp_step(at: datetime) -> int:
    return int(at.timestamp()) // TOTP_STEP_SECONDS


def _offsets(limit: int) -> list[int]:
    """0, -1, 1, -2, 2, ... up to ±limit: the nearest match wins."""
    out = [0]
    for d in range(1, limit + 1):
        out += [-d, d]
    return out


def normalise_totp(code: str) -> str | None:
    """The digits of a typed code (spaces allowed), or None when it cannot be a code."""
    digits = "".join(code.split())
    if len(digits) != TOTP_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def check_totp(
    code_at: Callable[[int], str], code: str, now_step: int, last_step: int | None
) -> TotpCheck:
    """Match `code` around `now_step`: accepted within ±1 step when newer than `last_step`,
    a replay when it matches only steps already used, a clock skew when it matches only
    further away (±10 min). Every comparison is constant-time."""
    typed = normalise_totp(code)
    if typed is None:
        return TotpCheck(VerifyReason.WRONG_CODE)
    replayed: int | None = None
    for offset in _offsets(TOTP_ACCEPT_STEPS):
        step = now_step + offset
        if hmac.compare_digest(code_at(step), typed):
            if last_step is not None and step <= last_step:
                replayed = step
                continue
            return TotpCheck(VerifyReason.OK, step)
    if replayed is not None:
        return TotpCheck(VerifyReason.REPLAY, replayed)
    for offset in _offsets(TOTP_SKEW_SEARCH_STEPS)[1 + 2 * TOTP_ACCEPT_STEPS :]:
        step = now_step + offset
        if hmac.compare_digest(code_at(step), typed):
            return TotpCheck(VerifyReason.CLOCK_SKEW, step, offset)
    return TotpCheck(VerifyReason.WRONG_CODE)


def skew_minutes(skew_steps: int) -> int:
    """Device clock offset in whole minutes (at least 1 in magnitude)."""
    minutes = round(skew_steps * TOTP_STEP_SECONDS / 60)
    if minutes == 0:
        minutes = 1 if skew_steps > 0 else -1
    return minutes


def skew_message(minutes: int) -> str:
    direction = "ahead" if minutes > 0 else "behind"
    return (
        f"the code is not accepted: your device's clock seems to be about {abs(minutes)} "
        f"minute{'s' if abs(minutes) != 1 else ''} {direction}. Set its date, time and time "
        "zone to automatic, then use a new code"
    )


def new_recovery_code() -> str:
    """A random code such as `7k2m-q9xd-4hfa` (60 bits), for people to copy."""
    symbols = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(sum(RECOVERY_GROUPS)))
    parts, start = [], 0
    for size in RECOVERY_GROUPS:
        parts.append(symbols[start : start + size])
        start += size
    return "-".join(parts)


def normalise_recovery_code(typed: str) -> str | None:
    """The canonical symbols of a typed code (case, spaces, hyphens and o/i/l forgiven), or
    None when it cannot be a recovery code."""
    raw = "".join(ch for ch in typed.lower() if ch not in " -\t").translate(_RECOVERY_READ)
    if len(raw) != sum(RECOVERY_GROUPS) or not set(raw) <= set(RECOVERY_ALPHABET):
        return None
    return raw
