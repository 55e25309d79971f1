"""Self-service password reset (R15, issue #5 item 7), in the spirit of Ory Kratos' recovery flow.

1. `request_reset(address, client_ip)` answers nothing (None, always) and is meant to run after
   the page has answered, so neither the answer nor its timing tells whether the address exists.
   Only an *active* account (not pending activation, not owing first-login steps, not locked,
   suspended, expired or disabled) with at least one *verified* recovery contact gets anything:
   one 6-digit code and one link token (both 15 minutes, single use, stored as digests; older
   reset codes are spent), sent to every verified contact (the link to e-mail contacts only).
   At most one request a minute and five an hour per account; more are dropped silently.
2. `verify_code(address, code)` or `verify_link(token)` trade a live code for a *reset ticket*:
   a random token (its digest stored as a one-time code, 10 minutes, single use). A wrong code
   counts against that code (5 wrong guesses spend it); the answer is the same `None` for a
   wrong code, an unknown address or an account that may not reset.
3. When the account has a second factor, the ticket must first be upgraded by a TOTP or
   recovery code (`second_factor`): wrong answers count against the ticket (5), and against the
   sign-in brute-force limiter of the client's IP and the (account, IP) pair exactly like a
   wrong second factor at sign-in; a throttled pair is refused without checking. Nothing here
   ever clears the limiter's counters.
4. `complete(ticket, new_password)`: the policy check first (a rejected password leaves the
   ticket usable), then the ticket is spent and, in the same transaction, every API token of
   the account is revoked (services.api_tokens; a token is a credential like an app password,
   the forwarding stays); then `CredentialService.reset_password` ends every web session,
   revokes every app password, spends what is left of the reset codes and tells the person on
   every channel.

Every step is audited (`reset.*` and `account.password_reset`), before the proof as the
anonymous `self-service reset` actor with the client's IP, afterwards as the account.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from mailgate.domain.access import Actor
from mailgate.domain.directory import Account, AccountState, RequiredAction
from mailgate.domain.errors import InvalidInput, MailgateError
from mailgate.domain.factors import FactorKind, FactorResult, VerifyReason
from mailgate.domain.names import Address
from mailgate.domain.notices import NoticeKind
from mailgate.domain.ports import Clock, Notifier, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.recovery import (
    CODE_ATTEMPTS,
    RESET_CODE_LIFETIME,
    CodePurpose,
    ContactKind,
    OneTimeCode,
    code_digest,
    new_code,
    new_link_token,
    token_digest,
)
from mailgate.services.api_tokens import revoke_all_in as revoke_api_tokens_in
from mailgate.services.audit import record
from mailgate.services.credentials import CredentialService, PasswordRejected
from mailgate.services.factors import SecondFactorService
from mailgate.services.recovery import CodeShape, by_address, match_code, normalise_code
from mailgate.services.throttle import Limiter, counter_keys

log = logging.getLogger(__name__)
RESET = CodePurpose.PASSWORD_RESET
REQUESTS_PER_HOUR = 5
REQUEST_INTERVAL = timedelta(seconds=60)
TICKET_LIFETIME = timedelta(minutes=10)
CODE_TARGET = ""
LINK_TARGET = "link"
TICKET_OWES_FACTOR = "ticket:second_factor"
TICKET_READY = "ticket:ready"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")


class ResetStep(enum.StrEnum):
    SECOND_FACTOR = "second_factor"
    NEW_PASSWORD = "new_password"  # noqa: S105 - a step name


class ResetMethod(enum.StrEnum):
    """How a reset proves the second factor."""

    TOTP = "totp"
    RECOVERY_CODE = "recovery"
    WEBAUTHN = "webauthn"  # enrolled, but a reset cannot use it: the IT desk helps


@dataclass(frozen=True, slots=True)
class ResetTicket:
    """What a live ticket allows: shown only to whoever holds the ticket (they proved a code)."""

    address: str
    language: str
    step: ResetStep
    methods: frozenset[ResetMethod]
    attempts_left: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class FactorOutcome:
    """`ticket` (a new one) when the second factor was accepted; otherwise `result` says why
    not, `ended` that the ticket is gone (start again), `throttled` that the IP must wait."""

    ticket: str | None = None
    result: FactorResult | None = None
    ended: bool = False
    throttled: bool = False
    attempts_left: int = 0


class TicketInvalid(InvalidInput):
    """The reset ticket is unknown, used, expired, or not at the step asked for."""

    code = "reset_ticket_invalid"


def may_reset(account: Account, today: date) -> bool:
    """Active, within its end date, and done with the first login (a password change forced by
    an administrator or by "this wasn't me" is exactly what a reset also gives)."""
    if account.state is not AccountState.ACTIVE:
        return False
    if account.expires_on is not None and account.expires_on < today:
        return False
    owed = [a for a in account.required_actions if a is not RequiredAction.UPDATE_PASSWORD]
    return not owed or account.skipped_first_login


def _anonymous(client_ip: str) -> Actor:
    return Actor("self-service reset", None, (), client_ip)


def _as_account(account: Account, client_ip: str) -> Actor:
    return Actor(account.address, account.id, (), client_ip)


async def _methods(uow: UnitOfWork, account_id: int) -> frozenset[ResetMethod]:
    factors = await uow.factors.for_account(account_id, confirmed_only=True)
    kinds = {f.kind for f in factors}
    methods: set[ResetMethod] = set()
    if FactorKind.TOTP in kinds:
        methods.add(ResetMethod.TOTP)
    if FactorKind.WEBAUTHN in kinds:
        methods.add(ResetMethod.WEBAUTHN)
    if kinds and await uow.recovery_codes.unused(account_id):
        methods.add(ResetMethod.RECOVERY_CODE)
    return frozenset(methods)


@dataclass(slots=True)
class ResetService:
    uow: UnitOfWorkFactory
    clock: Clock
    notices: Notifier
    credentials: CredentialService
    factors: SecondFactorService
    key: bytes
    limiter: Limiter = field(default_factory=Limiter)
    portal_url: str = "https://localhost:8080"

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        account: Account,
        summary: dict[str, Any] | None = None,
    ) -> None:
        target = f"account:{account.address_key}"
        await record(uow, self.clock, actor, f"reset.{action}", target, account.org_id, summary)

    # --- the IT desk ---------------------------------------------------------------------------

    async def helpdesk_contact(self, address: str) -> str:
        """The IT desk contact of the organisation owning the address's domain ("" when the
        domain is not ours or names none). The domain is public, so this tells nothing about
        whether the address exists."""
        try:
            domain = Address.parse(address).domain.ascii
        except InvalidInput:
            return ""
        async with self.uow(write=False) as uow:
            found = await uow.domains.by_name(domain)
            org = await uow.orgs.get(found.org_id) if found is not None else None
        return org.helpdesk_contact.strip() if org is not None else ""

    # --- 1. the request ------------------------------------------------------------------------

    async def request_reset(self, address: str, client_ip: str) -> None:
        """Send a reset code (and link) to every verified contact of an account that may reset;
        nothing at all otherwise. Never raises for a domain problem: it runs after the answer."""
        try:
            await self._request(address, client_ip)
        except MailgateError as exc:
            log.warning("password reset request not completed: %s", exc)

    async def _request(self, address: str, client_ip: str) -> None:
        now = self.clock.now()
        async with self.uow() as uow:
            account = await by_address(uow, address[:320])
            if account is None:
                log.info("password reset asked for an unknown address from %s", client_ip)
                return
            actor = _anonymous(client_ip)
            contacts = [
                c for c in await uow.recovery_contacts.for_account(account.id) if c.verified
            ]
            refused = ""
            if not may_reset(account, now.date()):
                refused = "account_not_usable"
            elif not contacts:
                refused = "no_verified_contact"
            if refused:
                await self._audit(uow, actor, "request_refused", account, {"reason": refused})
                await uow.commit()
                return
            recent = [
                c
                for c in await uow.one_time_codes.created_since(
                    account.id, RESET, now - timedelta(hours=1)
                )
                if c.target == CODE_TARGET
            ]
            if recent and now - recent[0].created_at < REQUEST_INTERVAL:
                log.info("password reset for %s asked again within a minute", account.address_key)
                return
            if len(recent) >= REQUESTS_PER_HOUR:
                log.info("password reset for %s: hourly limit reached", account.address_key)
                return
            await uow.one_time_codes.revoke(account.id, RESET, now)
            code, token = new_code(), new_link_token()
            expires = now + RESET_CODE_LIFETIME
            for target, digest in (
                (CODE_TARGET, code_digest(self.key, RESET, account.id, code)),
                (LINK_TARGET, token_digest(token)),
            ):
                await uow.one_time_codes.add(
                    OneTimeCode(0, account.id, RESET, target, digest, now, expires)
                )
            await self._audit(
                uow, actor, "request", account, {"contacts": [c.masked for c in contacts]}
            )
            await uow.commit()
        minutes = str(int(RESET_CODE_LIFETIME.total_seconds() // 60))
        link = f"{self.portal_url}/reset/link/{token}"
        for contact in contacts:
            params = {"minutes": minutes}
            if contact.kind is ContactKind.EMAIL:
                params["link"] = link
            await self.notices.code(contact, account.language, NoticeKind.RESET_CODE, code, params)

    # --- 2. the proof --------------------------------------------------------------------------

    async def verify_code(self, address: str, typed: str, client_ip: str) -> str | None:
        """A reset ticket for the right live code of the address; None for everything else.
        InvalidInput when `typed` is not 6 digits (nothing is counted then)."""
        code = normalise_code(typed)
        if code is None:
            raise CodeShape("enter the 6 digits of the code")
        now = self.clock.now()
        async with self.uow() as uow:
            account = await by_address(uow, address[:320])
            if account is None or not may_reset(account, now.date()):
                return None
            live = await uow.one_time_codes.live(account.id, RESET, CODE_TARGET, now)
            if not live:
                return None
            found = match_code(self.key, live, code)
            if found is None or not await uow.one_time_codes.spend(found.id, now):
                attempts = [await uow.one_time_codes.count_attempt(c.id) for c in live]
                await self._audit(
                    uow, _anonymous(client_ip), "code_wrong", account, {"attempts": max(attempts)}
                )
                await uow.commit()
                return None
            ticket = await self._issue(uow, account, now)
            await self._audit(uow, _as_account(account, client_ip), "code_accepted", account)
            await uow.commit()
        return ticket

    async def verify_link(self, token: str, client_ip: str) -> str | None:
        """A reset ticket for a live link token; None when it is unknown, used or expired."""
        if not _TOKEN.fullmatch(token):
            return None
        now = self.clock.now()
        async with self.uow() as uow:
            found = await uow.one_time_codes.by_digest(RESET, token_digest(token))
            if found is None or found.target != LINK_TARGET or not found.live(now):
                return None
            account = await uow.accounts.get(found.account_id)
            if account is None or not may_reset(account, now.date()):
                return None
            if not await uow.one_time_codes.spend(found.id, now):
                return None
            ticket = await self._issue(uow, account, now)
            await self._audit(uow, _as_account(account, client_ip), "link_accepted", account)
            await uow.commit()
        return ticket

    async def _issue(self, uow: UnitOfWork, account: Account, now: datetime) -> str:
        """Spend what is left of the account's reset codes and links; a new ticket."""
        await uow.one_time_codes.revoke(account.id, RESET, now)
        owes = bool(await _methods(uow, account.id))
        token = new_link_token()
        await uow.one_time_codes.add(
            OneTimeCode(
                0,
                account.id,
                RESET,
                TICKET_OWES_FACTOR if owes else TICKET_READY,
                token_digest(token),
                now,
                now + TICKET_LIFETIME,
            )
        )
        return token

    async def _ticket_row(
        self, uow: UnitOfWork, token: str, now: datetime
    ) -> tuple[OneTimeCode, Account] | None:
        if not _TOKEN.fullmatch(token):
            return None
        found = await uow.one_time_codes.by_digest(RESET, token_digest(token))
        if found is None or not found.target.startswith("ticket:") or not found.live(now):
            return None
        account = await uow.accounts.get(found.account_id)
        if account is None or not may_reset(account, now.date()):
            return None
        return found, account

    async def ticket(self, token: str) -> ResetTicket | None:
        """What the ticket allows next; None when it is not live (start again)."""
        now = self.clock.now()
        async with self.uow(write=False) as uow:
            found = await self._ticket_row(uow, token, now)
            if found is None:
                return None
            row, account = found
            methods = await _methods(uow, account.id)
        step = ResetStep.NEW_PASSWORD if row.target == TICKET_READY else ResetStep.SECOND_FACTOR
        return ResetTicket(
            account.address,
            account.language,
            step,
            methods,
            CODE_ATTEMPTS - row.attempts,
            row.expires_at,
        )

    # --- 3. the second factor ------------------------------------------------------------------

    async def second_factor(
        self, token: str, method: ResetMethod, answer: str, client_ip: str
    ) -> FactorOutcome:
        """Upgrade a ticket that owes the second factor with a TOTP or recovery code."""
        now = self.clock.now()
        async with self.uow(write=False) as uow:
            found = await self._ticket_row(uow, token, now)
            if found is None or found[0].target != TICKET_OWES_FACTOR:
                return FactorOutcome(ended=True)
            row, account = found
            counters = await uow.throttle.get(counter_keys(account.id, client_ip))
        if self.limiter.blocked(counters, account.id, client_ip, now):
            return FactorOutcome(throttled=True, attempts_left=CODE_ATTEMPTS - row.attempts)
        if not answer.strip():
            result = FactorResult(False, VerifyReason.WRONG_CODE, "enter the code")
        elif method is ResetMethod.TOTP:
            result = await self.factors.verify_totp(account.id, answer, source_ip=client_ip)
        elif method is ResetMethod.RECOVERY_CODE:
            result = await self.factors.use_recovery_code(account.id, answer, source_ip=client_ip)
        else:
            raise InvalidInput("a security key cannot be used for a password reset")
        async with self.uow() as uow:
            if not result.accepted:
                used = await uow.one_time_codes.count_attempt(row.id)
                await self.limiter.count_failure(uow, account, client_ip, now)
                await self._audit(
                    uow,
                    _anonymous(client_ip),
                    "second_factor_failed",
                    account,
                    {"method": method.value, "reason": result.reason.value},
                )
                await uow.commit()
                left = max(0, CODE_ATTEMPTS - used)
                return FactorOutcome(result=result, ended=left == 0, attempts_left=left)
            if not await uow.one_time_codes.spend(row.id, now):
                return FactorOutcome(ended=True)  # used twice at once
            ticket = new_link_token()
            await uow.one_time_codes.add(
                OneTimeCode(
                    0, account.id, RESET, TICKET_READY, token_digest(ticket), now, row.expires_at
                )
            )
            await self._audit(
                uow,
                _as_account(account, client_ip),
                "second_factor_accepted",
                account,
                {"method": method.value},
            )
            await uow.commit()
        return FactorOutcome(ticket=ticket, result=result)

    # --- 4. the new password -------------------------------------------------------------------

    async def complete(self, token: str, new_password: str, client_ip: str) -> str:
        """Set the new password with a ticket that is ready; returns the account's address.
        PasswordRejected (the ticket stays usable), TicketInvalid."""
        now = self.clock.now()
        async with self.uow(write=False) as uow:
            found = await self._ticket_row(uow, token, now)
        if found is None or found[0].target != TICKET_READY:
            raise TicketInvalid("this reset has expired or was already used; start again")
        row, account = found
        verdict = await self.credentials.check(account, new_password)
        if not verdict.ok:
            raise PasswordRejected(verdict.problems)
        actor = _as_account(account, client_ip)
        async with self.uow() as uow:
            if not await uow.one_time_codes.spend(row.id, now):
                raise TicketInvalid("this reset has expired or was already used; start again")
            await revoke_api_tokens_in(uow, self.clock, actor, account)
            await uow.commit()
        await self.credentials.reset_password(actor, account.id, new_password, client_ip=client_ip)
        return account.address
