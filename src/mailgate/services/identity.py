"""Who is calling: web sign-in (with its second step), server-side sessions, sudo mode and API
tokens.

Sign-in failures are deliberately uniform: an unknown address, a wrong password and an account
that may not sign in all raise the same AuthenticationFailed after the same password-hash work.
The password check itself is `AuthenticationService.authenticate` (protocol "web"), reached
through the `Authenticator` protocol below, so the portal shares the brute-force limiter and
the login records with SMTP, IMAP and POP3.

After the password (docs/security.md, "Web sessions, second factor at sign-in and sudo mode"):
- an account with a confirmed second factor gets a *pending* session (stage "second_factor")
  that can do nothing but the second step, for 5 minutes and 5 wrong codes; a right code
  replaces it by a full session under a new id;
- an account a failure burst marked (`require_second_factor_on_web`) but without a factor is
  not let in at all (`SignInProtected`): the way out is a password reset or the IT desk;
- every full session remembers when its person last proved the password (`reauth_at`); for
  `sudo_window` after that it may change credentials ("sudo mode"), later it asks again.

Sessions expire server-side (idle and absolute timeouts); accounts that are not active or still
owe first-login steps lose their sessions and API tokens stop working for them.

RESTRICTED SESSIONS: an account whose password was right but that owes an errand first gets a
`RestrictedSession` (after its second factor, when it has one) that ordinary pages never see
(`session()` wants stage "full"):
- stage "password_update": an administrator or "this wasn't me" demands a new password
  (RequiredAction.UPDATE_PASSWORD); only the page that sets it accepts the session;
- stage "activation": the account is pending activation or still owes first-login steps; only
  the /activate pages accept it (they also open one from an activation code).
`restricted(token, stage)` finds such a session while its account still owes that errand;
`finish_errand` turns it into a full session once the account may be used.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from mailgate.domain.access import Actor, operator
from mailgate.domain.directory import Account, AccountState, RequiredAction
from mailgate.domain.errors import AuthenticationFailed, InvalidInput, NotFound
from mailgate.domain.factors import FactorKind, FactorResult, VerifyReason, normalise_totp
from mailgate.domain.names import Address
from mailgate.domain.ports import (
    Clock,
    PasswordHasher,
    UnitOfWork,
    UnitOfWorkFactory,
    WebSessionRecord,
)
from mailgate.domain.security import LoginRecord
from mailgate.services.audit import record
from mailgate.services.throttle import Limiter, counter_keys

SIGN_IN_FAILED = "the address or password is not correct, or this account may not sign in here"
STAGE_FULL = "full"
STAGE_SECOND_FACTOR = "second_factor"
STAGE_PASSWORD_UPDATE = "password_update"  # noqa: S105 - a stage name
STAGE_ACTIVATION = "activation"
SECOND_FACTOR_WITHIN = timedelta(minutes=5)
SECOND_FACTOR_ATTEMPTS = 5
# Login-record reasons of the second step, next to authentication.AuthReason's.
SECOND_FACTOR_OK = "second_factor_ok"
SECOND_FACTOR_FAILED = "second_factor_failed"
SECOND_FACTOR_REQUIRED = "second_factor_required"
MAX_TOKEN_LENGTH = 100


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SecondStep(enum.StrEnum):
    """How a person proves the second factor on the web."""

    TOTP = "totp"
    RECOVERY_CODE = "recovery"
    WEBAUTHN = "webauthn"


@dataclass(frozen=True, slots=True)
class WebSession:
    token: str  # the cookie value, only known to the browser (and to us during the request)
    csrf: str
    actor: Actor
    handle: str = ""  # non-secret name of the session, for lists and forms
    reauth_at: datetime | None = None  # the last password proof (sudo mode)

    @property
    def id_hash(self) -> str:
        return token_hash(self.token)


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """A sign-in whose password was accepted and that still owes its second factor."""

    token: str
    csrf: str
    account_id: int
    address: str
    methods: frozenset[SecondStep]
    failures: int
    expires_at: datetime

    @property
    def attempts_left(self) -> int:
        return max(0, SECOND_FACTOR_ATTEMPTS - self.failures)


@dataclass(frozen=True, slots=True)
class SecondStepOutcome:
    """`session` when the factor was accepted; otherwise `result` says why not (for the person
    who passed the password only) and `ended` tells that the sign-in must start over."""

    session: WebSession | None = None
    result: FactorResult | None = None
    restricted: RestrictedSession | None = None  # accepted, but the account owes an errand
    ended: bool = False
    throttled: bool = False
    attempts_left: int = 0


@dataclass(frozen=True, slots=True)
class Reauthentication:
    """The answer of the sudo prompt: accepted, or refused for the password or the code."""

    accepted: bool
    password_refused: bool = False
    result: FactorResult | None = None  # a refused or missing second factor


@dataclass(frozen=True, slots=True)
class SessionView:
    """A live session as its owner sees it in the list (never the id or the CSRF token)."""

    handle: str
    user_agent: str
    ip: str
    created_at: datetime
    last_seen: datetime
    current: bool


@dataclass(frozen=True, slots=True)
class RestrictedSession:
    """A session for one errand only (see the module docstring); never an admin or user page."""

    token: str
    csrf: str
    account_id: int
    address: str
    stage: str
    language: str = "zh_Hans"

    @property
    def id_hash(self) -> str:
        return token_hash(self.token)


def restricted_stage(account: Account) -> str | None:
    """The errand an account whose password was right owes before a full session, if any."""
    if account.state is AccountState.PENDING_ACTIVATION:
        return STAGE_ACTIVATION
    if account.state is not AccountState.ACTIVE:
        return None
    if RequiredAction.UPDATE_PASSWORD in account.required_actions:
        return STAGE_PASSWORD_UPDATE
    if account.required_actions and not account.skipped_first_login:
        return STAGE_ACTIVATION
    return None


class SignInProtected(AuthenticationFailed):
    """The right password, but a burst of failures requires a second factor on the web and the
    account has none: only a password reset or the IT desk lets the person in."""

    code = "sign_in_protected"

    def __init__(self, message: str, helpdesk_contact: str = "") -> None:
        super().__init__(message)
        self.helpdesk_contact = helpdesk_contact


async def actor_for(uow: UnitOfWork, account: Account, source_ip: str = "") -> Actor:
    grants = await uow.roles.grants_for(account.id)
    return Actor(account.address, account.id, grants, source_ip)


def may_sign_in(account: Account, today: date) -> bool:
    """May use the portal now, or owes an errand a restricted session can do (second step)."""
    return may_use(account, today) or restricted_stage(account) is not None


def may_use(account: Account, today: date) -> bool:
    """Active, not past its end date, and done with the first login (or excused from it)."""
    if account.state is not AccountState.ACTIVE:
        return False
    if account.expires_on is not None and account.expires_on < today:
        return False
    if RequiredAction.UPDATE_PASSWORD in account.required_actions:
        return False
    return not account.required_actions or account.skipped_first_login


class SignInDecision(Protocol):
    @property
    def allowed(self) -> bool: ...
    @property
    def account(self) -> Account | None: ...
    @property
    def actor(self) -> Actor | None: ...
    @property
    def reason(self) -> str: ...


class Authenticator(Protocol):
    """`AuthenticationService` as sign-in needs it (it imports this module, hence a Protocol)."""

    async def authenticate(
        self, username: str, password: str, protocol: str, client_ip: str, client_id: str = ""
    ) -> SignInDecision: ...


class FactorVerifier(Protocol):
    """The verification half of `SecondFactorService`."""

    async def verify_totp(
        self, account_id: int, code: str, *, source_ip: str = ""
    ) -> FactorResult: ...
    async def use_recovery_code(
        self, account_id: int, code: str, *, source_ip: str = ""
    ) -> FactorResult: ...
    async def webauthn_auth_begin(self, account_id: int) -> str: ...
    async def webauthn_auth_finish(
        self, account_id: int, credential: str, *, source_ip: str = ""
    ) -> FactorResult: ...


_NO_CODE = FactorResult(False, VerifyReason.WRONG_CODE, "enter the code of your second factor")


@dataclass(slots=True)
class IdentityService:
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    sudo_window: timedelta = timedelta(minutes=10)
    authenticator: Authenticator | None = None  # set by Services.build
    factors: FactorVerifier | None = None  # set by Services.build
    limiter: Limiter = field(default_factory=Limiter)

    async def act_as(self, address: str, source_ip: str = "") -> Actor:
        """The actor for an account (the CLI's --as): its role grants, nothing more."""
        try:
            key = Address.parse(address).key
        except InvalidInput:
            raise NotFound(f"there is no account {address!r}") from None
        async with self.uow(write=False) as uow:
            account = await uow.accounts.by_key(key)
            if account is None:
                raise NotFound(f"there is no account {address!r}")
            return await actor_for(uow, account, source_ip)

    def local_operator(self, name: str) -> Actor:
        return operator(name)

    # --- sign-in -------------------------------------------------------------------------------

    async def sign_in(
        self, address: str, password: str, *, source_ip: str, user_agent: str
    ) -> WebSession | PendingSignIn | RestrictedSession:
        """Check the password; a full session, or a pending one when a second factor is owed,
        or a restricted one when the account owes an errand (new password, first login).
        AuthenticationFailed for every refusal; SignInProtected (after the right password
        only) when a failure burst demands a second factor the account does not have."""
        if self.authenticator is None:
            raise RuntimeError("IdentityService.authenticator is not wired")
        decision = await self.authenticator.authenticate(
            address, password, "web", source_ip, user_agent
        )
        account, actor = decision.account, decision.actor
        errand = (
            restricted_stage(account)
            if account is not None and decision.reason in _ERRAND_REASONS
            else None
        )
        # Any active account may sign in to the portal (its own /account pages); the admin
        # console checks role grants itself.
        if account is None or (errand is None and (not decision.allowed or actor is None)):
            raise AuthenticationFailed(SIGN_IN_FAILED)
        now = self.clock.now()
        async with self.uow() as uow:
            methods = await _second_steps(uow, account.id)
            if methods:
                token, csrf, _ = await _add_session(
                    uow, account.id, now, user_agent, source_ip, STAGE_SECOND_FACTOR
                )
                await uow.commit()
                expires = now + SECOND_FACTOR_WITHIN
                return PendingSignIn(token, csrf, account.id, account.address, methods, 0, expires)
            if errand is not None:
                restricted = await _open_restricted(
                    uow, account, errand, now, user_agent, source_ip
                )
                await uow.commit()
                return restricted
            assert actor is not None  # noqa: S101 - checked above for sessions without errand
            if await uow.account_security.requires_second_factor_on_web(account.id):
                await uow.logins.add(
                    _login(now, account, source_ip, user_agent, False, SECOND_FACTOR_REQUIRED)
                )
                org = await uow.orgs.get(account.org_id)
                await uow.commit()
                raise SignInProtected(
                    "this account needs a second factor to sign in on the web",
                    org.helpdesk_contact if org is not None else "",
                )
            session = await self._open(uow, account, actor, source_ip, user_agent, {})
            await uow.commit()
        return session

    async def _open(
        self,
        uow: UnitOfWork,
        account: Account,
        actor: Actor,
        source_ip: str,
        user_agent: str,
        summary: dict[str, object],
    ) -> WebSession:
        """A full session under a new id, proven just now (sudo mode starts), audited."""
        now = self.clock.now()
        token, csrf, handle = await _add_session(
            uow, account.id, now, user_agent, source_ip, STAGE_FULL
        )
        await record(
            uow,
            self.clock,
            actor,
            "session.sign_in",
            f"account:{account.address_key}",
            account.org_id,
            {"user_agent": user_agent[:200], **summary},
        )
        return WebSession(token, csrf, actor, handle, now)

    async def pending(self, token: str) -> PendingSignIn | None:
        """The unfinished sign-in behind a cookie value; None when unknown, full or expired."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        now = self.clock.now()
        async with self.uow() as uow:
            found = await uow.web_sessions.find(token_hash(token))
            if found is None or found.stage != STAGE_SECOND_FACTOR:
                return None
            account = await uow.accounts.get(found.account_id)
            expired = now - found.created_at > SECOND_FACTOR_WITHIN
            if expired or account is None or not may_sign_in(account, now.date()):
                await uow.web_sessions.delete(found.id_hash)
                await uow.commit()
                return None
            methods = await _second_steps(uow, account.id)
            if not methods:  # the factors were reset meanwhile: start over
                await uow.web_sessions.delete(found.id_hash)
                await uow.commit()
                return None
        return PendingSignIn(
            token,
            found.csrf,
            account.id,
            account.address,
            methods,
            found.second_factor_failures,
            found.created_at + SECOND_FACTOR_WITHIN,
        )

    async def webauthn_options(self, account_id: int) -> str:
        """A WebAuthn request for the account of a pending sign-in or of a session at the sudo
        prompt (the caller has checked which); NotFound when it has no security key."""
        return await self._verifier().webauthn_auth_begin(account_id)

    async def second_factor(
        self,
        token: str,
        step: SecondStep,
        answer: str,
        *,
        source_ip: str,
        user_agent: str,
    ) -> SecondStepOutcome:
        """Finish a pending sign-in with a TOTP code, a recovery code or a WebAuthn answer.
        A wrong answer counts against the pending session (5, then it ends), the client's IP
        and the (account, IP) pair of the brute-force limiter, and is recorded."""
        pending = await self.pending(token)
        if pending is None:
            return SecondStepOutcome(ended=True)
        account_id = pending.account_id
        async with self.uow(write=False) as uow:
            counters = await uow.throttle.get(counter_keys(account_id, source_ip))
        if self.limiter.blocked(counters, account_id, source_ip, self.clock.now()):
            return await self._refuse(pending, None, source_ip, user_agent, throttled=True)
        result = await self._verify(account_id, step, answer, source_ip)
        if not result.accepted:
            return await self._refuse(pending, result, source_ip, user_agent, throttled=False)
        now = self.clock.now()
        async with self.uow() as uow:
            account = await uow.accounts.get(account_id)
            found = await uow.web_sessions.find(token_hash(token))
            if account is None or found is None or found.stage != STAGE_SECOND_FACTOR:
                return SecondStepOutcome(ended=True)  # used twice at once, or ended meanwhile
            await uow.web_sessions.delete(found.id_hash)
            actor = await actor_for(uow, account, source_ip)
            await uow.logins.add(
                _login(now, account, source_ip, user_agent, True, SECOND_FACTOR_OK)
            )
            errand = restricted_stage(account)
            if errand is not None:
                restricted = await _open_restricted(
                    uow, account, errand, now, user_agent, source_ip
                )
                await uow.commit()
                return SecondStepOutcome(restricted=restricted, result=result)
            session = await self._open(
                uow, account, actor, source_ip, user_agent, {"second_factor": step.value}
            )
            await uow.commit()
        return SecondStepOutcome(session=session, result=result)

    async def _refuse(
        self,
        pending: PendingSignIn,
        result: FactorResult | None,
        source_ip: str,
        user_agent: str,
        *,
        throttled: bool,
    ) -> SecondStepOutcome:
        now = self.clock.now()
        async with self.uow() as uow:
            account = await uow.accounts.get(pending.account_id)
            digest = token_hash(pending.token)
            failures = await uow.web_sessions.count_second_factor_failure(digest)
            if account is not None and not throttled:
                await uow.logins.add(
                    _login(now, account, source_ip, user_agent, False, SECOND_FACTOR_FAILED)
                )
                await self.limiter.count_failure(uow, account, source_ip, now)
            ended = failures == 0 or failures >= SECOND_FACTOR_ATTEMPTS
            if ended:
                await uow.web_sessions.delete(digest)
            await uow.commit()
        left = 0 if ended else SECOND_FACTOR_ATTEMPTS - failures
        return SecondStepOutcome(
            result=result, ended=ended, throttled=throttled, attempts_left=left
        )

    async def _verify(
        self, account_id: int, step: SecondStep, answer: str, source_ip: str
    ) -> FactorResult:
        verifier = self._verifier()
        if not answer.strip():
            return _NO_CODE
        if step is SecondStep.TOTP:
            return await verifier.verify_totp(account_id, answer, source_ip=source_ip)
        if step is SecondStep.RECOVERY_CODE:
            return await verifier.use_recovery_code(account_id, answer, source_ip=source_ip)
        return await verifier.webauthn_auth_finish(account_id, answer, source_ip=source_ip)

    def _verifier(self) -> FactorVerifier:
        if self.factors is None:
            raise RuntimeError("IdentityService.factors is not wired")
        return self.factors

    async def abandon(self, token: str) -> None:
        """Forget an unfinished sign-in (the person starts over)."""
        if token and len(token) <= MAX_TOKEN_LENGTH:
            async with self.uow() as uow:
                found = await uow.web_sessions.find(token_hash(token))
                if found is not None and found.stage == STAGE_SECOND_FACTOR:
                    await uow.web_sessions.delete(found.id_hash)
                    await uow.commit()

    # --- restricted sessions -------------------------------------------------------------------

    async def restricted(self, token: str, stage: str) -> RestrictedSession | None:
        """The restricted session of `stage` behind a cookie value while its account still owes
        that errand; None otherwise (expired or needless rows are removed)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = token_hash(token)
        now = self.clock.now()
        async with self.uow() as uow:
            found = await uow.web_sessions.find(digest)
            if found is None or found.stage != stage:
                return None
            account = await uow.accounts.get(found.account_id)
            if self._expired(found, now) or account is None or restricted_stage(account) != stage:
                await uow.web_sessions.delete(digest)
                await uow.commit()
                return None
            if now - found.last_seen > timedelta(seconds=60):
                await uow.web_sessions.touch(digest, now)
            await uow.commit()
        return RestrictedSession(
            token, found.csrf, account.id, account.address, stage, account.language
        )

    async def open_restricted(
        self, account_id: int, stage: str, *, source_ip: str, user_agent: str
    ) -> RestrictedSession:
        """A restricted session for an account proven another way (an activation code)."""
        async with self.uow() as uow:
            account = await uow.accounts.get(account_id)
            if account is None:
                raise NotFound("there is no such account")
            restricted = await _open_restricted(
                uow, account, stage, self.clock.now(), user_agent, source_ip
            )
            await uow.commit()
        return restricted

    async def finish_errand(
        self, restricted: RestrictedSession, *, source_ip: str, user_agent: str
    ) -> WebSession | None:
        """The full session that replaces a restricted one once its account may be used (its
        errand is done); None while it still owes something."""
        async with self.uow() as uow:
            account = await uow.accounts.get(restricted.account_id)
            if account is None or not may_use(account, self.clock.now().date()):
                return None
            await uow.web_sessions.delete(restricted.id_hash)
            actor = await actor_for(uow, account, source_ip)
            session = await self._open(
                uow, account, actor, source_ip, user_agent, {"after": restricted.stage}
            )
            await uow.commit()
        return session

    async def end_restricted(self, restricted: RestrictedSession) -> None:
        async with self.uow() as uow:
            await uow.web_sessions.delete(restricted.id_hash)
            await uow.commit()

    # --- sessions ------------------------------------------------------------------------------

    async def session(self, token: str, source_ip: str) -> WebSession | None:
        """The live full session for a cookie value, refreshed; None if unknown, pending,
        expired, or the account may not be used any more (then the session ends)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = token_hash(token)
        now = self.clock.now()
        async with self.uow() as uow:
            found = await uow.web_sessions.find(digest)
            if found is None or found.stage != STAGE_FULL:
                return None
            account = await uow.accounts.get(found.account_id)
            if self._expired(found, now) or account is None or not may_use(account, now.date()):
                await uow.web_sessions.delete(digest)
                await uow.commit()
                return None
            actor = await actor_for(uow, account, source_ip)
            if now - found.last_seen > timedelta(seconds=60):
                await uow.web_sessions.touch(digest, now)
            await uow.commit()
        return WebSession(token, found.csrf, actor, found.handle, found.reauth_at)

    def _expired(self, found: WebSessionRecord, now: datetime) -> bool:
        return (
            now - found.last_seen > self.idle_timeout
            or now - found.created_at > self.absolute_timeout
        )

    async def sign_out(self, token: str, actor: Actor) -> None:
        async with self.uow() as uow:
            await uow.web_sessions.delete(token_hash(token))
            await record(uow, self.clock, actor, "session.sign_out", f"account:{actor.name}", None)
            await uow.commit()

    async def list_sessions(self, session: WebSession) -> list[SessionView]:
        """The account's live sessions, the current one marked; expired rows are removed."""
        account_id = _account_id(session)
        now = self.clock.now()
        async with self.uow() as uow:
            await uow.web_sessions.delete_expired(
                account_id,
                idle_before=now - self.idle_timeout,
                created_before=now - self.absolute_timeout,
                pending_before=now - SECOND_FACTOR_WITHIN,
            )
            rows = await uow.web_sessions.for_account(account_id)
            await uow.commit()
        return [
            SessionView(
                r.handle, r.user_agent, r.ip, r.created_at, r.last_seen, r.handle == session.handle
            )
            for r in rows
            if r.stage == STAGE_FULL
        ]

    async def end_session(self, session: WebSession, handle: str) -> bool:
        """End one of the caller's own sessions by its handle; True when it was the current
        one. NotFound for a handle that is not one of theirs."""
        account_id = _account_id(session)
        async with self.uow() as uow:
            if (
                not handle
                or len(handle) > 32
                or not await uow.web_sessions.delete_handle(account_id, handle)
            ):
                raise NotFound("there is no such session of yours")
            await self._audit(uow, session.actor, "session.end", {"handle": handle})
            await uow.commit()
        return handle == session.handle

    async def end_other_sessions(self, session: WebSession) -> int:
        """End every session of the caller's account but this one; how many ended."""
        account_id = _account_id(session)
        async with self.uow() as uow:
            ended = await uow.web_sessions.delete_for_account(account_id, session.id_hash)
            await self._audit(uow, session.actor, "session.end_others", {"ended": ended})
            await uow.commit()
        return ended

    async def rotate(self, session: WebSession) -> WebSession:
        """The same session under a new id and CSRF token (after a privilege change such as a
        new password, which also proves the password: sudo mode restarts)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock.now()
        async with self.uow() as uow:
            if not await uow.web_sessions.rekey(
                session.id_hash, token_hash(token), csrf, stage=STAGE_FULL, reauth_at=now
            ):
                raise AuthenticationFailed("the session has ended; sign in again")
            await uow.commit()
        return WebSession(token, csrf, session.actor, session.handle, now)

    async def _audit(
        self, uow: UnitOfWork, actor: Actor, action: str, summary: dict[str, object]
    ) -> None:
        account = await uow.accounts.get(_account_id_of(actor))
        org_id = account.org_id if account is not None else None
        await record(uow, self.clock, actor, action, f"account:{actor.name}", org_id, summary)

    # --- sudo mode -----------------------------------------------------------------------------

    def sudo_until(self, session: WebSession) -> datetime | None:
        """Until when the session may change credentials without asking again (None: now)."""
        if session.reauth_at is None:
            return None
        until = session.reauth_at + self.sudo_window
        return until if until > self.clock.now() else None

    def in_sudo(self, session: WebSession) -> bool:
        return self.sudo_until(session) is not None

    async def second_steps_of(self, session: WebSession) -> frozenset[SecondStep]:
        """How the session's account can prove its second factor (empty: it has none)."""
        async with self.uow(write=False) as uow:
            return await _second_steps(uow, _account_id(session))

    async def reauthenticate(
        self,
        session: WebSession,
        password: str,
        step: SecondStep | None,
        answer: str,
        *,
        source_ip: str,
        user_agent: str,
    ) -> Reauthentication:
        """The sudo prompt: the password again (throttled and recorded like a sign-in) and,
        when the account has a second factor, that too. Starts sudo mode when both hold."""
        if self.authenticator is None:
            raise RuntimeError("IdentityService.authenticator is not wired")
        account_id = _account_id(session)
        decision = await self.authenticator.authenticate(
            session.actor.name, password, "web", source_ip, user_agent
        )
        account = decision.account
        if not decision.allowed or account is None or account.id != account_id:
            return Reauthentication(False, password_refused=True)
        methods = await self.second_steps_of(session)
        summary: dict[str, object] = {}
        if methods:
            if step is None or step not in methods:
                return Reauthentication(False, result=_NO_CODE)
            result = await self._verify(account_id, step, answer, source_ip)
            if not result.accepted:
                now = self.clock.now()
                async with self.uow() as uow:
                    await uow.logins.add(
                        _login(now, account, source_ip, user_agent, False, SECOND_FACTOR_FAILED)
                    )
                    await self.limiter.count_failure(uow, account, source_ip, now)
                    await uow.commit()
                return Reauthentication(False, result=result)
            summary["second_factor"] = step.value
        async with self.uow() as uow:
            await uow.web_sessions.set_reauth(session.id_hash, self.clock.now())
            await self._audit(uow, session.actor, "session.reauthenticate", summary)
            await uow.commit()
        return Reauthentication(True)

    # --- API tokens ----------------------------------------------------------------------------

    async def create_api_token(
        self, actor: Actor, address: str, name: str, expires_on: date | None = None
    ) -> str:
        """A bearer token for the JSON API acting as `address`; shown once, stored hashed.
        Listing and revoking tokens is `services.api_tokens.ApiTokenService`."""
        key = Address.parse(address).key
        async with self.uow() as uow:
            account = await uow.accounts.by_key(key)
            if account is None or not (actor.account_id == account.id or actor.is_platform_admin):
                raise NotFound(f"there is no account {address!r} you may create tokens for")
            token = "mgt_" + secrets.token_urlsafe(32)
            await uow.api_tokens.add(
                token_hash(token), account.id, name.strip() or "api", expires_on, self.clock.now()
            )
            await record(
                uow,
                self.clock,
                actor,
                "api_token.create",
                f"account:{key}",
                account.org_id,
                {"name": name, "expires_on": expires_on.isoformat() if expires_on else None},
            )
            await uow.commit()
        return token

    async def api_actor(self, token: str, source_ip: str) -> Actor:
        """The actor behind a bearer token; AuthenticationFailed when unknown or expired, or
        when its account may not be used (inactive, or still owing first-login steps)."""
        async with self.uow(write=False) as uow:
            found = await uow.api_tokens.get(token_hash(token)) if len(token) < 200 else None
            if found is None:
                raise AuthenticationFailed("the API token is not valid")
            account_id, expires_on = found
            today = self.clock.now().date()
            account = await uow.accounts.get(account_id)
            if (expires_on is not None and expires_on < today) or account is None:
                raise AuthenticationFailed("the API token is not valid")
            if not may_use(account, today):
                raise AuthenticationFailed("the API token is not valid")
            return await actor_for(uow, account, source_ip)


async def _add_session(
    uow: UnitOfWork, account_id: int, now: datetime, user_agent: str, ip: str, stage: str
) -> tuple[str, str, str]:
    """A new session row; (cookie value, CSRF token, handle). A full one is proven now."""
    token, csrf, handle = (
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(32),
        secrets.token_hex(12),
    )
    reauth_at = now if stage == STAGE_FULL else None
    await uow.web_sessions.add(
        token_hash(token),
        account_id,
        csrf,
        now,
        user_agent,
        ip,
        handle=handle,
        stage=stage,
        reauth_at=reauth_at,
    )
    return token, csrf, handle


_ERRAND_REASONS = frozenset({"password_update_required", "not_activated", "first_login_pending"})


async def _open_restricted(
    uow: UnitOfWork, account: Account, stage: str, now: datetime, user_agent: str, ip: str
) -> RestrictedSession:
    token, csrf, _ = await _add_session(uow, account.id, now, user_agent, ip, stage)
    return RestrictedSession(token, csrf, account.id, account.address, stage, account.language)


async def _second_steps(uow: UnitOfWork, account_id: int) -> frozenset[SecondStep]:
    factors = await uow.factors.for_account(account_id, confirmed_only=True)
    kinds = {f.kind for f in factors}
    steps = set()
    if FactorKind.TOTP in kinds:
        steps.add(SecondStep.TOTP)
    if FactorKind.WEBAUTHN in kinds:
        steps.add(SecondStep.WEBAUTHN)
    if steps and await uow.recovery_codes.unused(account_id):
        steps.add(SecondStep.RECOVERY_CODE)
    return frozenset(steps)


def _account_id(session: WebSession) -> int:
    return _account_id_of(session.actor)


def _account_id_of(actor: Actor) -> int:
    if actor.account_id is None:
        raise NotFound("this caller has no account of its own")
    return actor.account_id


def _login(
    now: datetime, account: Account, ip: str, user_agent: str, success: bool, reason: str
) -> LoginRecord:
    return LoginRecord(
        occurred_at=now,
        account_id=account.id,
        org_id=account.org_id,
        username=account.address,
        protocol="web",
        ip=ip,
        client_id=user_agent[:400],
        success=success,
        reason=reason,
    )


def code_step(answer: str) -> SecondStep:
    """What a typed code is: six digits are an authenticator code, anything else is taken for
    a recovery code (those have twelve symbols, so the two never overlap)."""
    return SecondStep.TOTP if normalise_totp(answer) is not None else SecondStep.RECOVERY_CODE
