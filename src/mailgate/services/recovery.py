"""Recovery contacts: a backup e-mail address or mobile phone per account (issue #5 item 6).

The account itself adds, verifies, re-sends codes for and removes its contacts (the web page
asks for sudo mode first); administrators with ACCOUNT_READ over the account may list them for
the helpdesk. A contact counts only once verified with a 6-digit code (domain.recovery) sent to
it: single use, 10 minutes, 5 wrong guesses and it is spent, stored as an HMAC digest only. A
new code spends the older codes of that contact; codes are rate limited per account (one per
contact a minute, five an hour) so the page cannot be used to flood somebody's phone.

Verifying a contact clears the first-login step `verify_recovery_contact`, is audited and tells
the person on every channel (mailbox and verified contacts); removing one does too, and also
tells the removed contact when it had been verified. A verified contact is where self-service
password reset codes go (services.reset); it is never a second factor.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Account, RequiredAction
from mailgate.domain.errors import InvalidInput, NotFound, PermissionDenied, RuleViolation
from mailgate.domain.names import Address
from mailgate.domain.notices import NoticeKind
from mailgate.domain.ports import Clock, Notifier, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.recovery import (
    CODE_ATTEMPTS,
    MAX_CONTACTS,
    VERIFY_CODE_LIFETIME,
    CodePurpose,
    ContactKind,
    OneTimeCode,
    RecoveryContact,
    code_digest,
    new_code,
    normalise_contact,
)
from mailgate.services.accounts import account_for
from mailgate.services.audit import record

log = logging.getLogger(__name__)
RESEND_INTERVAL = timedelta(seconds=60)  # between two codes for the same contact
CODES_PER_HOUR = 5  # verification codes per account
_CODE_SHAPE = re.compile(r"\d{6}")


class TooManyCodes(RuleViolation):
    """A code was asked for too soon after the last one, or too often this hour."""

    code = "too_many_codes"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds


class CodeRefused(InvalidInput):
    """The code is not right, or it expired or was used up; `attempts_left` for this code."""

    code = "code_refused"

    def __init__(self, message: str, attempts_left: int) -> None:
        super().__init__(message)
        self.attempts_left = attempts_left


class NoSmsProvider(InvalidInput):
    """A phone contact was asked for but this Mailgate has no SMS provider."""

    code = "no_sms_provider"


class OwnMailbox(InvalidInput):
    """The account's own address cannot be its recovery address."""

    code = "own_mailbox"


class TooManyContacts(InvalidInput):
    code = "too_many_contacts"


class AlreadyVerified(InvalidInput):
    code = "already_verified"


class CodeShape(InvalidInput):
    """What was typed is not six digits (nothing is counted against the code)."""

    code = "code_shape"


def code_key(secret_key: bytes | None) -> bytes:
    """The HMAC key of one-time codes, derived from the server's secret key (random for this
    process when none is configured: codes then die with the process)."""
    if not secret_key:
        return os.urandom(32)
    return hmac.new(secret_key, b"mailgate/one-time-code/v1", hashlib.sha256).digest()


def normalise_code(text: str) -> str | None:
    """The six digits of a typed code (spaces and dashes forgiven), or None."""
    compact = re.sub(r"[\s\-]", "", text)[:20]
    return compact if _CODE_SHAPE.fullmatch(compact) else None


def match_code(key: bytes, codes: list[OneTimeCode], typed: str) -> OneTimeCode | None:
    """The live code `typed` is, comparing digests in constant time."""
    found = None
    for code in codes:
        expected = code_digest(key, code.purpose, code.account_id, typed)
        if hmac.compare_digest(expected, code.digest):
            found = code
    return found


def _same_mailbox(value: str, account: Account) -> bool:
    try:
        return Address.parse(value.strip()).key == account.address_key
    except InvalidInput:
        return False


async def by_address(uow: UnitOfWork, address: str) -> Account | None:
    try:
        key = Address.parse(address).key
    except InvalidInput:
        return None
    return await uow.accounts.by_key(key)


@dataclass(slots=True)
class RecoveryService:
    uow: UnitOfWorkFactory
    clock: Clock
    notices: Notifier
    key: bytes
    sms_available: bool = False

    # --- who may do what ---------------------------------------------------------------------

    async def _own(self, uow: UnitOfWork, actor: Actor, address: str) -> Account:
        account = await by_address(uow, address)
        if account is not None and actor.account_id == account.id:
            return account
        if account is None or not actor.can(Permission.ACCOUNT_READ, account.org_id):
            raise NotFound(f"there is no account {address!r}")
        raise PermissionDenied("only the account itself can change its recovery contacts")

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        account: Account,
        summary: dict[str, Any] | None = None,
    ) -> None:
        target = f"account:{account.address_key}"
        await record(uow, self.clock, actor, f"recovery.{action}", target, account.org_id, summary)

    # --- reading -------------------------------------------------------------------------------

    async def list(self, actor: Actor, address: str) -> list[RecoveryContact]:
        """The account's contacts, oldest first: for the account itself, or for administrators
        and the helpdesk with ACCOUNT_READ over it."""
        async with self.uow(write=False) as uow:
            account = await by_address(uow, address)
            if account is None or actor.account_id != account.id:
                account = await account_for(uow, actor, address, Permission.ACCOUNT_READ)
            return await uow.recovery_contacts.for_account(account.id)

    # --- changes by the account itself -------------------------------------------------------

    async def add(self, actor: Actor, address: str, kind: ContactKind | str, value: str) -> int:
        """A new, unverified contact, and a code sent to it; returns the contact's id.
        InvalidInput (malformed, the mailbox itself, no SMS provider, too many contacts),
        Conflict (already there), TooManyCodes."""
        try:
            kind = ContactKind(kind)
        except ValueError:
            raise InvalidInput("a recovery contact is an e-mail address or a phone") from None
        if kind is ContactKind.PHONE and not self.sms_available:
            raise NoSmsProvider(
                "text messages cannot be sent: this Mailgate has no SMS provider; add an e-mail "
                "address instead, or ask the administrator to configure one"
            )
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._own(uow, actor, address)
            if kind is ContactKind.EMAIL and _same_mailbox(value, account):
                raise OwnMailbox("the recovery address must be another mailbox than this account")
            stored = normalise_contact(kind, value, account.address)
            existing = await uow.recovery_contacts.for_account(account.id)
            if len(existing) >= MAX_CONTACTS:
                raise TooManyContacts(
                    f"an account can have at most {MAX_CONTACTS} recovery contacts; remove one "
                    "first"
                )
            await self._check_rate(uow, account, None, now)
            contact = await uow.recovery_contacts.add(
                RecoveryContact(0, account.id, kind, stored, now)
            )
            code = await self._new_code(uow, account, contact, now)
            await self._audit(
                uow, actor, "contact_add", account, {"kind": kind.value, "contact": contact.masked}
            )
            await uow.commit()
        await self._send(account, contact, code)
        return contact.id

    async def resend(self, actor: Actor, address: str, contact_id: int) -> None:
        """A new code for an unverified contact (older ones stop working). TooManyCodes when
        asked again within a minute or more than five times an hour."""
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._own(uow, actor, address)
            contact = await self._contact(uow, account, contact_id)
            if contact.verified:
                raise AlreadyVerified("this contact is already verified")
            await self._check_rate(uow, account, contact, now)
            code = await self._new_code(uow, account, contact, now)
            await self._audit(uow, actor, "code_resend", account, {"contact": contact.masked})
            await uow.commit()
        await self._send(account, contact, code)

    async def verify(self, actor: Actor, address: str, contact_id: int, typed: str) -> None:
        """Prove a contact with its code. CodeRefused (wrong, expired or used up: the code
        allows 5 wrong guesses), InvalidInput for something that is not 6 digits."""
        code = normalise_code(typed)
        if code is None:
            raise CodeShape("enter the 6 digits of the code")
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._own(uow, actor, address)
            contact = await self._contact(uow, account, contact_id)
            if contact.verified:
                raise AlreadyVerified("this contact is already verified")
            live = await uow.one_time_codes.live(
                account.id, CodePurpose.VERIFY_CONTACT, str(contact.id), now
            )
            found = match_code(self.key, live, code)
            if found is None or not await uow.one_time_codes.spend(found.id, now):
                left = 0
                for c in live:
                    used = await uow.one_time_codes.count_attempt(c.id)
                    left = max(left, CODE_ATTEMPTS - used)
                await self._audit(
                    uow, actor, "contact_verify_failed", account, {"contact": contact.masked}
                )
                await uow.commit()
                raise CodeRefused(
                    "the code is not correct, or it has expired or been used up; ask for a new "
                    "one if it keeps failing",
                    left,
                )
            await uow.recovery_contacts.mark_verified(contact.id, now)
            if RequiredAction.VERIFY_RECOVERY_CONTACT in account.required_actions:
                account.required_actions = [
                    a
                    for a in account.required_actions
                    if a is not RequiredAction.VERIFY_RECOVERY_CONTACT
                ]
                await uow.accounts.update(account)
            await self._audit(
                uow,
                actor,
                "contact_verify",
                account,
                {"kind": contact.kind.value, "contact": contact.masked},
            )
            await uow.commit()
        await self.notices.to_account(
            account, NoticeKind.RECOVERY_CONTACT_ADDED, {"contact": contact.masked}
        )

    async def remove(self, actor: Actor, address: str, contact_id: int) -> None:
        """Remove a contact; its pending codes die with it. The person is told on every
        channel, the removed contact too when it had been verified."""
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._own(uow, actor, address)
            contact = await self._contact(uow, account, contact_id)
            for code in await uow.one_time_codes.live(
                account.id, CodePurpose.VERIFY_CONTACT, str(contact.id), now
            ):
                await uow.one_time_codes.spend(code.id, now)
            await uow.recovery_contacts.delete(account.id, contact.id)
            await self._audit(
                uow,
                actor,
                "contact_remove",
                account,
                {
                    "kind": contact.kind.value,
                    "contact": contact.masked,
                    "verified": contact.verified,
                },
            )
            await uow.commit()
        if not contact.verified:
            return
        params = {"contact": contact.masked}
        await self.notices.to_account(account, NoticeKind.RECOVERY_CONTACT_REMOVED, params)
        # The removed contact hears it too (someone who took over the mailbox cannot quietly
        # cut the owner off): through the one-contact channel, with no code in it.
        await self.notices.code(
            contact,
            account.language,
            NoticeKind.RECOVERY_CONTACT_REMOVED,
            "",
            {**params, "address": account.address},
        )

    # --- helpers -------------------------------------------------------------------------------

    async def _contact(self, uow: UnitOfWork, account: Account, contact_id: int) -> RecoveryContact:
        contact = await uow.recovery_contacts.get(account.id, contact_id)
        if contact is None:
            raise NotFound("there is no such recovery contact on this account")
        return contact

    async def _check_rate(
        self, uow: UnitOfWork, account: Account, contact: RecoveryContact | None, now: datetime
    ) -> None:
        recent = await uow.one_time_codes.created_since(
            account.id, CodePurpose.VERIFY_CONTACT, now - timedelta(hours=1)
        )
        if contact is not None:
            last = next((c for c in recent if c.target == str(contact.id)), None)
            if last is not None and now - last.created_at < RESEND_INTERVAL:
                wait = RESEND_INTERVAL - (now - last.created_at)
                seconds = max(1, math.ceil(wait.total_seconds()))
                raise TooManyCodes(
                    f"a code was sent a moment ago; wait {seconds} seconds before asking again",
                    seconds,
                )
        if len(recent) >= CODES_PER_HOUR:
            oldest = recent[CODES_PER_HOUR - 1].created_at
            seconds = max(1, math.ceil((oldest + timedelta(hours=1) - now).total_seconds()))
            raise TooManyCodes(
                f"{CODES_PER_HOUR} codes were sent within the last hour; try again in "
                f"{(seconds + 59) // 60} minutes",
                seconds,
            )

    async def _new_code(
        self, uow: UnitOfWork, account: Account, contact: RecoveryContact, now: datetime
    ) -> str:
        for old in await uow.one_time_codes.live(
            account.id, CodePurpose.VERIFY_CONTACT, str(contact.id), now
        ):
            await uow.one_time_codes.spend(old.id, now)
        code = new_code()
        await uow.one_time_codes.add(
            OneTimeCode(
                id=0,
                account_id=account.id,
                purpose=CodePurpose.VERIFY_CONTACT,
                target=str(contact.id),
                digest=code_digest(self.key, CodePurpose.VERIFY_CONTACT, account.id, code),
                created_at=now,
                expires_at=now + VERIFY_CODE_LIFETIME,
            )
        )
        return code

    async def _send(self, account: Account, contact: RecoveryContact, code: str) -> None:
        minutes = str(int(VERIFY_CODE_LIFETIME.total_seconds() // 60))
        await self.notices.code(
            contact, account.language, NoticeKind.VERIFY_CONTACT_CODE, code, {"minutes": minutes}
        )
        log.info("verification code sent to %s for %s", contact.masked, account.address_key)
