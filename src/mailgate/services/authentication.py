"""One authentication entry point for SMTP, IMAP, POP3 and the web: a decision with a reason.

`authenticate` always does the same work: one account lookup and one password verification
(against a dummy hash when the address is unknown or malformed), so a caller cannot tell an
unknown user from a wrong password by timing. The password is checked *before* the account's
state, so only someone who knows the password learns that the account is locked or expired;
the protocol edges do not even tell them (every refusal is the same reply), but the reason is
kept for logs and for the web portal, which may explain it after a correct password.

`may_send_as` answers the submission question "may this account use this envelope sender":
its own address, an alias with the account among its direct targets, or a group the account is
a member or moderator of. Nothing else (no domain-wide wildcards, no delegation yet).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from mailgate.domain.access import Actor
from mailgate.domain.directory import Account, AccountState
from mailgate.domain.errors import InvalidInput
from mailgate.domain.names import Address
from mailgate.domain.ports import Clock, PasswordHasher, UnitOfWorkFactory
from mailgate.services.identity import actor_for

log = logging.getLogger(__name__)
MAX_CREDENTIAL_LENGTH = 1024


class AuthProtocol(enum.StrEnum):
    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"
    WEB = "web"


class AuthReason(enum.StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"  # unknown user or wrong password: never told apart
    NOT_ACTIVATED = "not_activated"  # pending_activation
    FIRST_LOGIN_PENDING = "first_login_pending"  # active, but required actions remain
    LOCKED = "locked"
    SUSPENDED = "suspended"
    EXPIRED = "expired"  # state expired, or past its end date before the sweep caught it
    DISABLED = "disabled"


_STATE_REASONS = {
    AccountState.PENDING_ACTIVATION: AuthReason.NOT_ACTIVATED,
    AccountState.LOCKED: AuthReason.LOCKED,
    AccountState.SUSPENDED: AuthReason.SUSPENDED,
    AccountState.EXPIRED: AuthReason.EXPIRED,
    AccountState.DISABLED: AuthReason.DISABLED,
}


@dataclass(frozen=True, slots=True)
class AuthDecision:
    allowed: bool
    reason: AuthReason
    account: Account | None = None  # only when allowed
    actor: Actor | None = None  # only when allowed

    @classmethod
    def deny(cls, reason: AuthReason) -> AuthDecision:
        return cls(False, reason)


def usability(account: Account, today_ordinal: int) -> AuthReason:
    """Why an account whose password matched may not sign in, or OK."""
    if account.state is not AccountState.ACTIVE:
        return _STATE_REASONS[account.state]
    if account.expires_on is not None and account.expires_on.toordinal() < today_ordinal:
        return AuthReason.EXPIRED
    if account.required_actions and not account.skipped_first_login:
        return AuthReason.FIRST_LOGIN_PENDING
    return AuthReason.OK


def _key(username: str) -> str | None:
    if not username or len(username) > MAX_CREDENTIAL_LENGTH:
        return None
    try:
        return Address.parse(username).key
    except InvalidInput:
        return None


@dataclass(slots=True)
class AuthenticationService:
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher

    async def authenticate(
        self, username: str, password: str, protocol: AuthProtocol | str, client_ip: str
    ) -> AuthDecision:
        """Check a user name (the account address) and password for one protocol."""
        key = _key(username)
        account = None
        if key is not None:
            async with self.uow(write=False) as uow:
                account = await uow.accounts.by_key(key)
        # Hashing runs off the event loop and outside any transaction; unknown users pay the
        # same price on the dummy hash.
        stored = account.password_hash if account is not None else None
        ok = await self.hasher.verify(stored, password[:MAX_CREDENTIAL_LENGTH])
        if account is None or not ok:
            decision = AuthDecision.deny(AuthReason.BAD_CREDENTIALS)
        else:
            reason = usability(account, self.clock.now().date().toordinal())
            if reason is not AuthReason.OK:
                decision = AuthDecision.deny(reason)
            else:
                async with self.uow(write=False) as uow:
                    actor = await actor_for(uow, account, client_ip)
                decision = AuthDecision(True, AuthReason.OK, account, actor)
        log.info(
            "auth %s user=%r ip=%s result=%s",
            AuthProtocol(protocol).value,
            key or "<invalid>",
            client_ip,
            decision.reason.value,
        )
        return decision

    async def may_send_as(self, account: Account, sender: str) -> bool:
        """Whether `account` may use `sender` as its envelope (and From) address."""
        try:
            wanted = Address.parse(sender)
        except InvalidInput:
            return False
        if wanted.key == account.address_key:
            return True
        async with self.uow(write=False) as uow:
            kind = await uow.addresses.kind_of(wanted.key)
            if kind == "alias":
                alias = await uow.aliases.by_key(wanted.key)
                targets = alias.targets if alias else []
            elif kind == "group":
                group = await uow.groups.by_key(wanted.key)
                targets = [*group.members, *group.moderators] if group else []
            else:
                return False
        return account.address_key in {_key(t) for t in targets}
