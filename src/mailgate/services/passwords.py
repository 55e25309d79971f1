"""Checking a new password: the person's context words (with the pinyin of a Chinese name), the
policy's rules from the domain, and an optional k-anonymity breach check.

    checker = PasswordChecker(breach_checker_from(BreachCheckConfig(...)))
    result = await checker.check(password, policy, password_context_for(address, roster=r,
                                 organisation=org), has_second_factor=True)
    if not result.ok: show [p.message_in(account.language) for p in result.problems]
    else: hash result.normalised

The breach check follows the "range" API of Have I Been Pwned's Pwned Passwords: only the first
5 hex digits of the password's SHA-1 leave the server (with `Add-Padding: true`, so the answer's
size does not tell the prefix either); the full hash is compared here. It runs only when the
policy enables it, a base URL is configured, the password passed every local rule, and the service
answers within the timeout: an unreachable service never blocks a password change.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pypinyin import Style, lazy_pinyin, pinyin

from mailgate.domain.directory import Organisation, RosterEntry
from mailgate.domain.passwords import (
    BlockList,
    PasswordContext,
    PasswordPolicy,
    PasswordProblem,
    ProblemCode,
    check_password,
    normalise_password,
)

log = logging.getLogger(__name__)

_MAX_READINGS = 4  # pinyin spellings kept for one name (heteronym surnames: 曾 zeng/ceng)
_MAX_RESPONSE = 2 * 1024 * 1024


# --- context -------------------------------------------------------------------------------


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\U00020000" <= ch <= "\U0003134f"


def name_pinyin(name_zh: str) -> tuple[str, ...]:
    """Pinyin spellings of a Chinese name without tones, family name first and last, the two
    parts separated by a space: 张伟 -> ("zhang wei", "wei zhang"); each reading of the family
    name's first character is tried (单 -> dan/chan/shan). () for a name without Han."""
    han = "".join(ch for ch in name_zh if _is_han(ch))
    if not han:
        return ()
    readings = pinyin(han[0], style=Style.NORMAL, heteronym=True, errors="ignore")
    first = list(dict.fromkeys(readings[0] if readings else []))[:_MAX_READINGS]
    rest = "".join(lazy_pinyin(han[1:], style=Style.NORMAL, errors="ignore"))
    spellings: list[str] = []
    for family in first:
        spellings.append(f"{family} {rest}".strip())
        if rest:
            spellings.append(f"{rest} {family}")
    return tuple(dict.fromkeys(s.casefold() for s in spellings))[: _MAX_READINGS * 2]


def password_context_for(
    address: str,
    *,
    roster: RosterEntry | None = None,
    organisation: Organisation | None = None,
    display_name: str = "",
    extra_words: Iterable[str] = (),
) -> PasswordContext:
    """The context words of the person who owns (or will own) `address`: their names from the
    roster (or the account's display name), the pinyin of the Chinese name, the employee ID,
    the local part, the domain and the organisation's name and slug."""
    local_part, _, domain = address.rpartition("@")
    name_zh = roster.name_zh if roster is not None else ""
    name_latin = roster.name_latin if roster is not None else ""
    if not name_zh and not name_latin and display_name:
        if any(_is_han(ch) for ch in display_name):
            name_zh = display_name
        else:
            name_latin = display_name
    return PasswordContext(
        name_zh=name_zh,
        name_latin=name_latin,
        name_pinyin=name_pinyin(name_zh),
        employee_id=roster.employee_id if roster is not None else "",
        local_part=local_part,
        domain=domain,
        org_name=organisation.name if organisation is not None else "",
        org_slug=organisation.slug if organisation is not None else "",
        extra_words=tuple(extra_words),
    )


# --- breach check --------------------------------------------------------------------------


class BreachCheckUnavailable(Exception):
    """The breach service could not be asked or gave no usable answer."""


class BreachChecker(Protocol):
    async def breach_count(self, sha1_hex: str) -> int:
        """How often the password with this SHA-1 (40 hex digits) appears in known breaches; 0
        when never. Implementations send at most its first 5 hex digits anywhere.
        Raises BreachCheckUnavailable when the service cannot answer."""
        ...


@dataclass(frozen=True, slots=True)
class BreachCheckConfig:
    """Settings of the breach check, off by default. `base_url` is the API root, e.g.
    https://api.pwnedpasswords.com (the prefix goes to `{base_url}/range/{prefix}`)."""

    enabled: bool = False
    base_url: str = ""
    timeout_seconds: float = 2.0


class RangeApiBreachChecker:
    """A `BreachChecker` for a Pwned-Passwords-style range API over HTTP(S)."""

    def __init__(self, base_url: str, timeout_seconds: float = 2.0) -> None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"breach check base URL must be http(s): {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds

    async def breach_count(self, sha1_hex: str) -> int:
        digest = sha1_hex.upper()
        if len(digest) != 40 or any(ch not in "0123456789ABCDEF" for ch in digest):
            raise ValueError("expected a SHA-1 digest as 40 hex digits")
        prefix, suffix = digest[:5], digest[5:]
        try:
            body = await asyncio.wait_for(
                asyncio.to_thread(self._fetch, f"{self.base_url}/range/{prefix}"),
                self.timeout_seconds + 1,
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise BreachCheckUnavailable(f"breach check failed: {exc.__class__.__name__}") from exc
        return _count_in_range(body, suffix)

    def _fetch(self, url: str) -> str:
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            url, headers={"Add-Padding": "true", "User-Agent": "mailgate-password-check"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
            data: bytes = response.read(_MAX_RESPONSE + 1)
        if len(data) > _MAX_RESPONSE:
            raise ValueError("breach check answer too large")
        return data.decode("ascii")


def _count_in_range(body: str, suffix: str) -> int:
    """The count for `suffix` in a range answer (`SUFFIX:COUNT` per line; padding lines have
    count 0)."""
    for line in body.splitlines():
        candidate, _, count = line.strip().partition(":")
        if candidate.upper() == suffix:
            try:
                return int(count)
            except ValueError:
                raise BreachCheckUnavailable("malformed breach check answer") from None
    return 0


def breach_checker_from(config: BreachCheckConfig) -> BreachChecker | None:
    """The configured checker, or None when the breach check is off."""
    if not config.enabled or not config.base_url:
        return None
    return RangeApiBreachChecker(config.base_url, config.timeout_seconds)


# --- the checker ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The verdict on a candidate password. `normalised` is the exact text to hash (NFKC,
    complete); `breach_checked` tells whether a breach service was asked and answered."""

    normalised: str
    problems: tuple[PasswordProblem, ...]
    breach_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


class PasswordChecker:
    def __init__(
        self, breach_checker: BreachChecker | None = None, block_list: BlockList | None = None
    ) -> None:
        self._breach_checker = breach_checker
        self._block_list = block_list

    async def check(
        self,
        password: str,
        policy: PasswordPolicy,
        context: PasswordContext | None = None,
        has_second_factor: bool = False,
    ) -> PasswordCheck:
        normalised = normalise_password(password)
        problems = check_password(
            normalised, policy, context, has_second_factor, block_list=self._block_list
        )
        if problems or not policy.breach_check_enabled or self._breach_checker is None:
            return PasswordCheck(normalised, tuple(problems))
        digest = hashlib.sha1(normalised.encode("utf-8"), usedforsecurity=False).hexdigest()
        try:
            count = await self._breach_checker.breach_count(digest)
        except BreachCheckUnavailable as exc:
            log.warning("password breach check skipped: %s", exc)
            return PasswordCheck(normalised, ())
        if count > 0:
            return PasswordCheck(normalised, (PasswordProblem.of(ProblemCode.BREACHED),), True)
        return PasswordCheck(normalised, (), True)
