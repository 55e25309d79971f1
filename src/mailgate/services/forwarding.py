"""Mail forwarding of an account (domain.forwarding; issue #5: a change needs sudo mode).

The account itself sets one forwarding target, proves it with a 6-digit code sent to that
address (single use, 10 minutes, 5 wrong guesses, stored as an HMAC digest only; at most five
codes an hour so the page cannot flood an outside address), and removes it. A target is never
the account itself nor anything whose mail comes back to it (a loop), and must be allowed by
the policy setting `forwarding`. Administrators with ACCOUNT_WRITE over the account may see and
remove a forwarding (a departing employee's mail going outside) but never set one.

Every change is audited in its transaction and told to the owner on every channel (mailbox and
verified recovery contacts, NoticeKind.FORWARDING_CHANGED). The service's unit-of-work factory
bumps the delivery path's directory cache on commit, so mail follows a change at once.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Account
from mailgate.domain.errors import InvalidInput, NotFound, RuleViolation
from mailgate.domain.forwarding import Forwarding, ForwardingScope, may_forward, target_tag
from mailgate.domain.names import Address
from mailgate.domain.notices import NoticeKind
from mailgate.domain.ports import Clock, Notifier, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.recovery import (
    CODE_ATTEMPTS,
    VERIFY_CODE_LIFETIME,
    CodePurpose,
    OneTimeCode,
    code_digest,
    new_code,
)
from mailgate.services.accounts import account_for
from mailgate.services.audit import record
from mailgate.services.delivery import DeliveryService, RecipientVerdict
from mailgate.services.notice_texts import word
from mailgate.services.policies import PolicyService, forwarding_scope
from mailgate.services.recovery import (
    AlreadyVerified,
    CodeRefused,
    CodeShape,
    TooManyCodes,
    match_code,
    normalise_code,
)

log = logging.getLogger(__name__)
CODES_PER_HOUR = 5
PURPOSE = CodePurpose.FORWARDING_VERIFY


class ForwardingOff(RuleViolation):
    """The organisation's policy does not allow this account to forward at all."""

    code = "forwarding_off"


class InternalOnly(RuleViolation):
    """The policy allows forwarding only to addresses of the organisation's own domains."""

    code = "forwarding_internal_only"


class OwnAddress(InvalidInput):
    code = "forwarding_own_address"


class ForwardingLoop(InvalidInput):
    """Mail for the target comes back to this account (an alias, a group or a forwarding)."""

    code = "forwarding_loop"


class UnknownTarget(InvalidInput):
    """The target is in one of our domains, but nothing there receives mail."""

    code = "forwarding_unknown_target"


@dataclass(slots=True)
class ForwardingService:
    uow: UnitOfWorkFactory  # bumps the directory cache on commit (services.dircache)
    clock: Clock
    notices: Notifier
    policies: PolicyService
    delivery: DeliveryService
    key: bytes

    # --- who -----------------------------------------------------------------------------------

    async def _own(self, uow: UnitOfWork, actor: Actor) -> Account:
        account = await uow.accounts.get(actor.account_id) if actor.account_id else None
        if account is None:
            raise NotFound("this caller has no account of its own")
        return account

    async def _account(
        self, uow: UnitOfWork, actor: Actor, address: str | None, permission: Permission
    ) -> Account:
        """The actor's own account (`address` None or its own), else one it administers."""
        if address is not None:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_READ)
            if account.id != actor.account_id:
                actor.require(permission, account.org_id)
            return account
        return await self._own(uow, actor)

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        account: Account,
        summary: dict[str, Any] | None = None,
    ) -> None:
        target = f"account:{account.address_key}"
        await record(
            uow, self.clock, actor, f"forwarding.{action}", target, account.org_id, summary
        )

    # --- reading -------------------------------------------------------------------------------

    async def get(self, actor: Actor, address: str | None = None) -> Forwarding | None:
        """The forwarding of the actor's own account, or (with ACCOUNT_READ: the IT desk must
        see where someone's mail goes) of `address`."""
        async with self.uow(write=False) as uow:
            account = await self._account(uow, actor, address, Permission.ACCOUNT_READ)
            return await uow.forwarding.get(account.id)

    async def status(
        self, actor: Actor, address: str | None = None
    ) -> tuple[Forwarding, bool] | None:
        """The forwarding (as `get`) and whether the account's policy lets mail go to its target
        now, decided as delivery decides it; None when there is no forwarding."""
        async with self.uow(write=False) as uow:
            account = await self._account(uow, actor, address, Permission.ACCOUNT_READ)
            forwarding = await uow.forwarding.get(account.id)
            if forwarding is None:
                return None
            target = await uow.domains.by_name(Address.parse(forwarding.target).domain.ascii)
            internal = target is not None and target.org_id == account.org_id
            return forwarding, may_forward(await forwarding_scope(uow, account), internal)

    # --- changes -------------------------------------------------------------------------------

    async def set(self, actor: Actor, target: str, keep_copy: bool) -> Forwarding:
        """Forward the actor's own mail to `target` once the code sent there is entered.

        Replaces any earlier forwarding (which stops at once). InvalidInput: a malformed
        address, the account itself, a loop, an unknown local target; ForwardingOff and
        InternalOnly by policy; TooManyCodes after five codes within an hour."""
        address = Address.parse(target.strip())
        now = self.clock.now()
        async with self.uow(write=False) as uow:
            account = await self._own(uow, actor)
            target_domain = await uow.domains.by_name(address.domain.ascii)
        if address.key == account.address_key:
            raise OwnAddress("mail cannot be forwarded to the same mailbox")
        scope = (await self.policies.resolve_for_account(account))["forwarding"]
        internal = target_domain is not None and target_domain.org_id == account.org_id
        if not may_forward(scope, internal):
            if scope == ForwardingScope.NONE:
                raise ForwardingOff("your organisation does not allow forwarding mail")
            raise InternalOnly(
                "your organisation allows forwarding only to addresses of its own domains"
            )
        if target_domain is not None:
            found = await self.delivery.resolve(str(address), None)
            if found.verdict in (RecipientVerdict.UNKNOWN, RecipientVerdict.DISABLED):
                raise UnknownTarget(f"{address} does not receive mail here")
            if await self.delivery.passes_through(str(address), account.address_key):
                raise ForwardingLoop(f"mail for {address} comes back to {account.address}")
        async with self.uow() as uow:
            await self._check_rate(uow, account)
            for old in await uow.one_time_codes.live(account.id, PURPOSE, None, now):
                await uow.one_time_codes.spend(old.id, now)
            forwarding = Forwarding(account.id, str(address), keep_copy, now)
            await uow.forwarding.put(forwarding)
            code = new_code()
            await uow.one_time_codes.add(
                OneTimeCode(
                    id=0,
                    account_id=account.id,
                    purpose=PURPOSE,
                    target=target_tag(forwarding.target),
                    digest=code_digest(self.key, PURPOSE, account.id, code),
                    created_at=now,
                    expires_at=now + VERIFY_CODE_LIFETIME,
                )
            )
            summary = {"target": forwarding.target, "keep_copy": keep_copy}
            await self._audit(uow, actor, "set", account, summary)
            await uow.commit()
        minutes = str(int(VERIFY_CODE_LIFETIME.total_seconds() // 60))
        await self.notices.to_contact(
            NoticeKind.FORWARDING_VERIFY_CODE,
            account.language,
            domain=account.address.rpartition("@")[2],
            email=forwarding.target,
            params={"code": code, "minutes": minutes, "address": account.address},
        )
        await self._tell(account, "forwarding_requested", forwarding.target)
        return forwarding

    async def verify(self, actor: Actor, typed: str) -> Forwarding:
        """Prove the target with its code; from then on mail is forwarded. CodeShape (not six
        digits), CodeRefused (wrong, expired, used up), NotFound, AlreadyVerified."""
        code = normalise_code(typed)
        if code is None:
            raise CodeShape("enter the 6 digits of the code")
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._own(uow, actor)
            forwarding = await uow.forwarding.get(account.id)
            if forwarding is None:
                raise NotFound("this account has no forwarding")
            if forwarding.verified:
                raise AlreadyVerified("this forwarding is already verified")
            live = await uow.one_time_codes.live(
                account.id, PURPOSE, target_tag(forwarding.target), now
            )
            found = match_code(self.key, live, code)
            if found is None or not await uow.one_time_codes.spend(found.id, now):
                left = 0
                for c in live:
                    left = max(left, CODE_ATTEMPTS - await uow.one_time_codes.count_attempt(c.id))
                await self._audit(
                    uow, actor, "verify_failed", account, {"target": forwarding.target}
                )
                await uow.commit()
                raise CodeRefused(
                    "the code is not correct, or it has expired or been used up", left
                )
            await uow.forwarding.mark_verified(account.id, now)
            await self._audit(uow, actor, "verify", account, {"target": forwarding.target})
            await uow.commit()
        await self._tell(account, "forwarding_active", forwarding.target)
        return Forwarding(
            forwarding.account_id,
            forwarding.target,
            forwarding.keep_copy,
            forwarding.created_at,
            now,
        )

    async def remove(self, actor: Actor, address: str | None = None) -> None:
        """Stop forwarding: the actor's own, or (ACCOUNT_WRITE) that of the account at
        `address`. NotFound when there is none."""
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._account(uow, actor, address, Permission.ACCOUNT_WRITE)
            forwarding = await uow.forwarding.get(account.id)
            if forwarding is None or not await uow.forwarding.delete(account.id):
                raise NotFound("this account has no forwarding")
            for old in await uow.one_time_codes.live(account.id, PURPOSE, None, now):
                await uow.one_time_codes.spend(old.id, now)
            summary = {"target": forwarding.target, "verified": forwarding.verified}
            await self._audit(uow, actor, "remove", account, summary)
            await uow.commit()
        await self._tell(account, "forwarding_removed", forwarding.target)

    # --- helpers -------------------------------------------------------------------------------

    async def _check_rate(self, uow: UnitOfWork, account: Account) -> None:
        now = self.clock.now()
        recent = await uow.one_time_codes.created_since(
            account.id, PURPOSE, now - timedelta(hours=1)
        )
        if len(recent) >= CODES_PER_HOUR:
            oldest = recent[CODES_PER_HOUR - 1].created_at
            seconds = max(1, math.ceil((oldest + timedelta(hours=1) - now).total_seconds()))
            raise TooManyCodes(
                f"{CODES_PER_HOUR} codes were sent within the last hour; try again in "
                f"{(seconds + 59) // 60} minutes",
                seconds,
            )

    async def _tell(self, account: Account, change: str, target: str) -> None:
        text = word(change, account.language).format(target=target)
        await self.notices.to_account(account, NoticeKind.FORWARDING_CHANGED, {"change": text})
        log.info("forwarding of %s: %s", account.address_key, change)
