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

Account security (issue #5, docs/security.md):
- brute-force throttling per (account, client IP) pair and per IP (`services.throttle`): while
  throttled the password is not checked, the same dummy hash work is spent, and the decision
  is the same BAD_CREDENTIALS as a wrong password (the cause `throttled` is kept for the record);
- app passwords for IMAP/POP3/SMTP: input shaped like one is also checked against the account's
  app passwords with the same hint (one extra hash for everybody who types such a shape, so the
  timing does not tell whether the account exists);
- with a second factor enrolled, the main password no longer opens IMAP/POP3/SMTP
  (APP_PASSWORD_REQUIRED, only ever told to someone who typed the right password);
- every attempt is written to the login records, in the same transaction as the counters;
- a main password that verifies against a hash made with older argon2id parameters is hashed
  again and stored in the same success transaction (rehash on login).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from mailgate.domain.access import Actor
from mailgate.domain.directory import Account, AccountState, RequiredAction
from mailgate.domain.errors import InvalidInput
from mailgate.domain.names import Address
from mailgate.domain.passwords import normalise_password
from mailgate.domain.ports import Clock, PasswordHasher, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.security import (
    AppPassword,
    FailureCounter,
    LoginRecord,
    anonymised_username,
    app_password_hint,
    normalise_app_password,
)
from mailgate.services.identity import actor_for
from mailgate.services.throttle import Limiter, counter_keys

log = logging.getLogger(__name__)
MAX_CREDENTIAL_LENGTH = 1024


class AuthProtocol(enum.StrEnum):
    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"
    WEB = "web"
    API = "api"


MAIL_PROTOCOLS = frozenset({AuthProtocol.SMTP, AuthProtocol.IMAP, AuthProtocol.POP3})
MAX_CLIENT_ID_LENGTH = 400


class AuthReason(enum.StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"  # unknown user or wrong password: never told apart
    NOT_ACTIVATED = "not_activated"  # pending_activation
    FIRST_LOGIN_PENDING = "first_login_pending"  # active, but required actions remain
    # An administrator or "this wasn't me" demands a new password: the web lets the person
    # choose one (services.identity restricted sessions), mail protocols and the API refuse.
    PASSWORD_UPDATE_REQUIRED = "password_update_required"  # noqa: S105 - a reason code
    LOCKED = "locked"
    SUSPENDED = "suspended"
    EXPIRED = "expired"  # state expired, or past its end date before the sweep caught it
    DISABLED = "disabled"
    # The right main password, but a second factor is enrolled: mail clients need an app
    # password (the reply names the portal page /account/app-passwords).
    APP_PASSWORD_REQUIRED = "app_password_required"  # noqa: S105 - a reason code
    # The right password, but the account's policy does not allow this protocol (issue #6:
    # Account.allowed_protocols; the API counts as "web").
    PROTOCOL_NOT_ALLOWED = "protocol_not_allowed"
    # Causes kept in login records only; decisions carry BAD_CREDENTIALS for all of them.
    UNKNOWN_USER = "unknown_user"
    BAD_PASSWORD = "bad_password"  # noqa: S105 - a reason code, not a password
    APP_PASSWORD_UNUSABLE = "app_password_unusable"  # noqa: S105 - expired, or out of scope
    THROTTLED = "throttled"


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
    # When allowed; also on refusals after the right password (locked, not activated ...), so
    # the web can offer the errand a restricted session allows. Protocol edges use `allowed`.
    account: Account | None = None
    actor: Actor | None = None  # only when allowed
    cause: AuthReason | None = None  # what the login record keeps when it differs from reason
    app_password: str = ""  # name of the app password that was used

    @classmethod
    def deny(cls, reason: AuthReason, cause: AuthReason | None = None) -> AuthDecision:
        return cls(False, reason, cause=cause)

    @property
    def logged_reason(self) -> AuthReason:
        return self.cause or self.reason


def protocol_allowed(account: Account, protocol: AuthProtocol) -> bool:
    """Whether the account's allowed protocols cover `protocol` (API tokens count as web)."""
    return account.may_use("web" if protocol is AuthProtocol.API else protocol.value)


def usability(account: Account, today_ordinal: int) -> AuthReason:
    """Why an account whose password matched may not sign in, or OK."""
    if account.state is not AccountState.ACTIVE:
        return _STATE_REASONS[account.state]
    if account.expires_on is not None and account.expires_on.toordinal() < today_ordinal:
        return AuthReason.EXPIRED
    if RequiredAction.UPDATE_PASSWORD in account.required_actions:
        return AuthReason.PASSWORD_UPDATE_REQUIRED
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
class _Facts:
    """What the read transaction of one attempt found."""

    account: Account | None = None
    counters: list[FailureCounter] = field(default_factory=list)
    candidates: list[AppPassword] = field(default_factory=list)
    second_factor: bool = False


class SignInObserver(Protocol):
    """Told about authentications: services.alerts (new device or network, failure bursts)."""

    async def signed_in(
        self,
        uow: UnitOfWork,
        account: Account,
        protocol: str,
        ip: str,
        client_id: str,
        now: datetime,
    ) -> Callable[[], None] | None:
        """In the transaction of a successful authentication, before its commit; returns what
        to start once it committed (None: nothing). Must stay cheap: it is on the login path."""
        ...

    def alert_raised(self) -> None:
        """After the commit of a failed authentication that stored a security alert."""
        ...


@dataclass(slots=True)
class AuthenticationService:
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    limiter: Limiter = field(default_factory=Limiter)
    observer: SignInObserver | None = None  # services.alerts, set by Services.build

    async def authenticate(
        self,
        username: str,
        password: str,
        protocol: AuthProtocol | str,
        client_ip: str,
        client_id: str = "",
    ) -> AuthDecision:
        """Check a user name (the account address) and password for one protocol.

        `client_id` identifies the client software for the login record (web: the User-Agent;
        IMAP: the ID the client sent)."""
        proto = AuthProtocol(protocol)
        now = self.clock.now()
        password = password[:MAX_CREDENTIAL_LENGTH]
        key = _key(username)
        letters = normalise_app_password(password) if proto in MAIL_PROTOCOLS else None
        facts = await self._read(key, letters, proto, client_ip)
        account = facts.account
        # Hashing runs off the event loop and outside any transaction. Everybody pays one
        # hash, plus one per app-password candidate (at least one) for app-password shapes.
        extra = max(1, len(facts.candidates)) if letters is not None else 0
        matched: AppPassword | None = None
        if self.limiter.blocked(facts.counters, account.id if account else None, client_ip, now):
            for _ in range(1 + extra):
                await self.hasher.verify(None, password)
            decision = AuthDecision.deny(AuthReason.BAD_CREDENTIALS, AuthReason.THROTTLED)
        else:
            stored = account.password_hash if account is not None else None
            # Passwords are hashed in their NFKC form (domain.passwords.normalise_password), so
            # "，" typed on one keyboard and "," on another are the same password.
            main_ok = await self.hasher.verify(stored, normalise_password(password))
            if letters is not None:
                matched = await self._match_app_password(facts.candidates, letters)
            decision = self._decide(facts, proto, main_ok, matched, now)
        if decision.allowed and account is not None:
            new_hash = (
                None
                if decision.app_password
                else await self._rehash(account, normalise_password(password))
            )
            decision = await self._succeed(
                decision, facts, matched, proto, client_ip, client_id, now, new_hash
            )
        else:
            await self._fail(decision, facts, username, proto, client_ip, client_id, now)
        log.info(
            "auth %s user=%r ip=%s result=%s",
            proto.value,
            key or "<invalid>",
            client_ip,
            decision.logged_reason.value,
        )
        return decision

    async def _read(
        self, key: str | None, letters: str | None, proto: AuthProtocol, ip: str
    ) -> _Facts:
        facts = _Facts()
        async with self.uow(write=False) as uow:
            if key is not None:
                facts.account = await uow.accounts.by_key(key)
            account_id = facts.account.id if facts.account is not None else None
            facts.counters = await uow.throttle.get(counter_keys(account_id, ip))
            if account_id is not None and letters is not None:
                hint = app_password_hint(letters)
                facts.candidates = await uow.app_passwords.candidates(account_id, hint)
            if account_id is not None and proto in MAIL_PROTOCOLS:
                facts.second_factor = await uow.account_security.has_second_factor(account_id)
        return facts

    async def _match_app_password(
        self, candidates: list[AppPassword], letters: str
    ) -> AppPassword | None:
        if not candidates:
            await self.hasher.verify(None, letters)
            return None
        found = None
        for candidate in candidates:  # almost always one
            if await self.hasher.verify(candidate.password_hash, letters):
                found = candidate
        return found

    def _decide(
        self,
        facts: _Facts,
        proto: AuthProtocol,
        main_ok: bool,
        matched: AppPassword | None,
        now: datetime,
    ) -> AuthDecision:
        account = facts.account
        if account is None:
            return AuthDecision.deny(AuthReason.BAD_CREDENTIALS, AuthReason.UNKNOWN_USER)
        if matched is not None and not main_ok:
            if not matched.usable(proto.value, now.date()):
                return AuthDecision.deny(
                    AuthReason.BAD_CREDENTIALS, AuthReason.APP_PASSWORD_UNUSABLE
                )
            reason = usability(account, now.date().toordinal())
            if reason is not AuthReason.OK:
                return AuthDecision(False, reason, account)
            if not protocol_allowed(account, proto):
                return AuthDecision.deny(AuthReason.PROTOCOL_NOT_ALLOWED)
            return AuthDecision(True, AuthReason.OK, account, app_password=matched.name)
        if not main_ok:
            return AuthDecision.deny(AuthReason.BAD_CREDENTIALS, AuthReason.BAD_PASSWORD)
        reason = usability(account, now.date().toordinal())
        if reason is not AuthReason.OK:
            return AuthDecision(False, reason, account)
        if not protocol_allowed(account, proto):
            return AuthDecision.deny(AuthReason.PROTOCOL_NOT_ALLOWED)
        if proto in MAIL_PROTOCOLS and facts.second_factor:
            return AuthDecision.deny(AuthReason.APP_PASSWORD_REQUIRED)
        return AuthDecision(True, AuthReason.OK, account)

    async def _rehash(self, account: Account, password: str) -> str | None:
        """A new hash of a main password that verified against a hash made with other
        parameters (argon2id settings changed), else None."""
        stored = account.password_hash
        if stored is None or not self.hasher.needs_rehash(stored):
            return None
        return await self.hasher.hash(password)

    async def _succeed(
        self,
        decision: AuthDecision,
        facts: _Facts,
        matched: AppPassword | None,
        proto: AuthProtocol,
        ip: str,
        client_id: str,
        now: datetime,
        new_hash: str | None = None,
    ) -> AuthDecision:
        account = facts.account
        assert account is not None  # noqa: S101 - only allowed decisions come here
        async with self.uow() as uow:
            if new_hash is not None:
                fresh = await uow.accounts.get(account.id)
                if fresh is not None and fresh.password_hash == account.password_hash:
                    fresh.password_hash = new_hash  # unless it was changed meanwhile
                    await uow.accounts.update(fresh)
            await uow.logins.add(
                _record(now, account, account.address, decision, proto, ip, client_id, matched)
            )
            await self.limiter.reset(uow, facts.counters, account.id, ip)
            if matched is not None:
                await uow.app_passwords.mark_used(matched.id, now, ip)
            actor = await actor_for(uow, account, ip)
            follow_up = None
            if self.observer is not None:
                follow_up = await self.observer.signed_in(uow, account, proto, ip, client_id, now)
            await uow.commit()
        if follow_up is not None:
            follow_up()
        return AuthDecision(True, AuthReason.OK, account, actor, app_password=decision.app_password)

    async def _fail(
        self,
        decision: AuthDecision,
        facts: _Facts,
        username: str,
        proto: AuthProtocol,
        ip: str,
        client_id: str,
        now: datetime,
    ) -> None:
        account = facts.account
        shown = account.address if account is not None else anonymised_username(username)
        async with self.uow() as uow:
            await uow.logins.add(_record(now, account, shown, decision, proto, ip, client_id, None))
            raised = False
            if decision.reason is AuthReason.BAD_CREDENTIALS and decision.cause in _COUNTED:
                raised = await self.limiter.count_failure(uow, account, ip, now)
            await uow.commit()
        if raised and self.observer is not None:
            self.observer.alert_raised()

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


_COUNTED = frozenset(
    {AuthReason.UNKNOWN_USER, AuthReason.BAD_PASSWORD, AuthReason.APP_PASSWORD_UNUSABLE}
)


def _record(
    now: datetime,
    account: Account | None,
    username: str,
    decision: AuthDecision,
    protocol: AuthProtocol,
    ip: str,
    client_id: str,
    matched: AppPassword | None,
) -> LoginRecord:
    return LoginRecord(
        occurred_at=now,
        account_id=account.id if account is not None else None,
        org_id=account.org_id if account is not None else None,
        username=username,
        protocol=protocol.value,
        ip=ip,
        client_id=client_id[:MAX_CLIENT_ID_LENGTH],
        success=decision.allowed,
        reason=decision.logged_reason.value,
        app_password_id=matched.id if matched is not None else None,
        app_password_name=matched.name if matched is not None else "",
    )
