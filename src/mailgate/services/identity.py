"""Who is calling: admin sign-in for the web console, server-side sessions and API tokens.

Sign-in failures are deliberately uniform: an unknown address, a wrong password and an account
that may not sign in all raise the same AuthenticationFailed after the same password-hash work.
The password check itself is `AuthenticationService.authenticate` (protocol "web"), reached
through the `Authenticator` protocol below, so the console shares the brute-force limiter and
the login records with SMTP, IMAP and POP3.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from mailgate.domain.access import Actor, operator
from mailgate.domain.directory import Account, AccountState
from mailgate.domain.errors import AuthenticationFailed, InvalidInput, NotFound
from mailgate.domain.names import Address
from mailgate.domain.ports import Clock, PasswordHasher, UnitOfWork, UnitOfWorkFactory
from mailgate.services.audit import record

SIGN_IN_FAILED = "the address or password is not correct, or this account may not sign in here"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class WebSession:
    token: str  # the cookie value, only known at creation
    csrf: str
    actor: Actor


async def actor_for(uow: UnitOfWork, account: Account, source_ip: str = "") -> Actor:
    grants = await uow.roles.grants_for(account.id)
    return Actor(account.address, account.id, grants, source_ip)


class SignInDecision(Protocol):
    @property
    def allowed(self) -> bool: ...
    @property
    def account(self) -> Account | None: ...
    @property
    def actor(self) -> Actor | None: ...


class Authenticator(Protocol):
    """`AuthenticationService` as sign-in needs it (it imports this module, hence a Protocol)."""

    async def authenticate(
        self, username: str, password: str, protocol: str, client_ip: str, client_id: str = ""
    ) -> SignInDecision: ...


@dataclass(slots=True)
class IdentityService:
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    authenticator: Authenticator | None = None  # set by Services.build

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

    async def sign_in(
        self, address: str, password: str, *, source_ip: str, user_agent: str
    ) -> WebSession:
        """Start a portal session for an active account; AuthenticationFailed for every refusal."""
        if self.authenticator is None:
            raise RuntimeError("IdentityService.authenticator is not wired")
        decision = await self.authenticator.authenticate(
            address, password, "web", source_ip, user_agent
        )
        account, actor = decision.account, decision.actor
        # Any active account may sign in to the portal (its own /account pages); the admin
        # console checks role grants itself.
        if not decision.allowed or account is None or actor is None:
            raise AuthenticationFailed(SIGN_IN_FAILED)
        key = account.address_key
        async with self.uow() as uow:
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            now = self.clock.now()
            await uow.web_sessions.add(
                token_hash(token), account.id, csrf, now, user_agent, source_ip
            )
            await record(
                uow,
                self.clock,
                actor,
                "session.sign_in",
                f"account:{key}",
                account.org_id,
                {"user_agent": user_agent[:200]},
            )
            await uow.commit()
        return WebSession(token, csrf, actor)

    async def session(self, token: str, source_ip: str) -> WebSession | None:
        """The live session for a cookie value, refreshed; None if unknown or expired."""
        if not token or len(token) > 100:
            return None
        digest = token_hash(token)
        now = self.clock.now()
        async with self.uow() as uow:
            found = await uow.web_sessions.get(digest)
            if found is None:
                return None
            account_id, csrf, created, last_seen = found
            account = await uow.accounts.get(account_id)
            expired = now - last_seen > self.idle_timeout or now - created > self.absolute_timeout
            if expired or account is None or account.state is not AccountState.ACTIVE:
                await uow.web_sessions.delete(digest)
                await uow.commit()
                return None
            actor = await actor_for(uow, account, source_ip)
            if now - last_seen > timedelta(seconds=60):
                await uow.web_sessions.touch(digest, now)
            await uow.commit()
        return WebSession(token, csrf, actor)

    async def sign_out(self, token: str, actor: Actor) -> None:
        async with self.uow() as uow:
            await uow.web_sessions.delete(token_hash(token))
            await record(uow, self.clock, actor, "session.sign_out", f"account:{actor.name}", None)
            await uow.commit()

    async def create_api_token(
        self, actor: Actor, address: str, name: str, expires_on: date | None = None
    ) -> str:
        """A bearer token for the JSON API acting as `address`; shown once, stored hashed."""
        key = Address.parse(address).key
        async with self.uow() as uow:
            account = await uow.accounts.by_key(key)
            if account is None or not (actor.account_id == account.id or actor.is_platform_admin):
                raise NotFound(f"there is no account {address!r} you may create tokens for")
            token = "mgt_" + secrets.token_urlsafe(32)
            await uow.api_tokens.add(
                token_hash(token), account.id, name.strip() or "api", expires_on
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
        """The actor behind a bearer token; AuthenticationFailed when unknown or expired."""
        async with self.uow(write=False) as uow:
            found = await uow.api_tokens.get(token_hash(token)) if len(token) < 200 else None
            if found is None:
                raise AuthenticationFailed("the API token is not valid")
            account_id, expires_on = found
            today = self.clock.now().date()
            account = await uow.accounts.get(account_id)
            if (expires_on is not None and expires_on < today) or account is None:
                raise AuthenticationFailed("the API token is not valid")
            if account.state is not AccountState.ACTIVE:
                raise AuthenticationFailed("the API token is not valid")
            return await actor_for(uow, account, source_ip)
