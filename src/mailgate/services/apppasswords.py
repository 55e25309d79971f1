"""App passwords for mail clients (R11; Tencent Exmail's 客户端专用密码).

Generated, never chosen (20 random lowercase letters in groups of four, about 94 bits), shown
once, stored as an argon2id hash next to a non-secret lookup hint (the first group), named after
the device, limited to some of IMAP/POP3/SMTP, optionally expiring, revocable one by one or all
at once. `AuthenticationService.authenticate` checks them; this service manages them. Callers
are the account itself or admins with ACCOUNT_WRITE (ACCOUNT_READ to list); every change is
audited. A password reset calls `revoke_all_app_passwords`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mailgate.domain.access import SYSTEM, Actor, Permission
from mailgate.domain.directory import Account
from mailgate.domain.errors import Conflict, InvalidInput, NotFound
from mailgate.domain.names import Address
from mailgate.domain.ports import Clock, PasswordHasher, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.security import (
    AppPassword,
    MailScope,
    app_password_hint,
    format_scopes,
    generate_app_password,
    normalise_app_password,
    parse_scopes,
)
from mailgate.services.audit import record

MAX_NAME = 100
MAX_ACTIVE = 50


@dataclass(frozen=True, slots=True)
class CreatedAppPassword:
    app_password: AppPassword
    password: str  # shown once, never stored


async def account_for(
    uow: UnitOfWork, actor: Actor, address: str, permission: Permission
) -> Account:
    """The account at `address` if the actor is that account or holds `permission` over it;
    NotFound otherwise (existence stays private)."""
    try:
        key = Address.parse(address).key
    except InvalidInput:
        key = None
    account = await uow.accounts.by_key(key) if key else None
    if account is None or not (
        actor.account_id == account.id or actor.can(permission, account.org_id)
    ):
        raise NotFound(f"there is no account {address!r} you may manage")
    return account


def _scopes(scopes: str | frozenset[MailScope]) -> frozenset[MailScope]:
    if isinstance(scopes, frozenset):
        if not scopes:
            raise InvalidInput("name at least one scope: imap, pop3, smtp")
        return scopes
    try:
        return parse_scopes(scopes)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


async def revoke_all_in(uow: UnitOfWork, clock: Clock, actor: Actor, account: Account) -> int:
    """Revoke every app password of `account` in the caller's transaction (password reset,
    "this wasn't me", lockdown), audited."""
    count = await uow.app_passwords.revoke_all(account.id, clock.now())
    if count:
        await record(
            uow,
            clock,
            actor,
            "app_password.revoke_all",
            f"account:{account.address_key}",
            account.org_id,
            {"count": count},
        )
    return count


@dataclass(slots=True)
class AppPasswordService:
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher

    async def create(
        self,
        actor: Actor,
        address: str,
        name: str,
        scopes: str | frozenset[MailScope],
        expires_on: date | None = None,
    ) -> CreatedAppPassword:
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME:
            raise InvalidInput(f"name the device in 1 to {MAX_NAME} characters")
        wanted = _scopes(scopes)
        now = self.clock.now()
        if expires_on is not None and expires_on < now.date():
            raise InvalidInput("the expiry date is in the past")
        password = generate_app_password()
        letters = normalise_app_password(password)
        assert letters is not None  # noqa: S101 - we generated it
        digest = await self.hasher.hash(letters)
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            active = await uow.app_passwords.for_account(account.id, include_revoked=False)
            if any(a.name.casefold() == name.casefold() for a in active):
                raise Conflict(f"an app password named {name!r} exists; revoke it first")
            if len(active) >= MAX_ACTIVE:
                raise Conflict(f"at most {MAX_ACTIVE} app passwords; revoke unused ones first")
            created = await uow.app_passwords.add(
                AppPassword(
                    id=0,
                    account_id=account.id,
                    name=name,
                    hint=app_password_hint(letters),
                    password_hash=digest,
                    scopes=wanted,
                    created_at=now,
                    expires_on=expires_on,
                )
            )
            await record(
                uow,
                self.clock,
                actor,
                "app_password.create",
                f"account:{account.address_key}",
                account.org_id,
                {
                    "id": created.id,
                    "name": name,
                    "scopes": format_scopes(wanted),
                    "expires_on": expires_on.isoformat() if expires_on else None,
                },
            )
            await uow.commit()
        return CreatedAppPassword(created, password)

    async def list(
        self, actor: Actor, address: str, *, include_revoked: bool = False
    ) -> list[AppPassword]:
        async with self.uow(write=False) as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_READ)
            return await uow.app_passwords.for_account(account.id, include_revoked=include_revoked)

    async def revoke(self, actor: Actor, address: str, name_or_id: str) -> AppPassword:
        """Revoke one app password named `name_or_id` (or with that id)."""
        wanted = " ".join(name_or_id.split()).casefold()
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            active = await uow.app_passwords.for_account(account.id, include_revoked=False)
            found = [a for a in active if str(a.id) == wanted] or [
                a for a in active if a.name.casefold() == wanted
            ]
            if not found:
                raise NotFound(f"{address} has no app password {name_or_id!r}")
            target = found[0]
            await uow.app_passwords.revoke(account.id, target.id, self.clock.now())
            await record(
                uow,
                self.clock,
                actor,
                "app_password.revoke",
                f"account:{account.address_key}",
                account.org_id,
                {"id": target.id, "name": target.name},
            )
            await uow.commit()
        return target

    async def revoke_all(self, actor: Actor, address: str) -> int:
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            count = await revoke_all_in(uow, self.clock, actor, account)
            await uow.commit()
        return count

    async def revoke_all_app_passwords(self, account_id: int, actor: Actor = SYSTEM) -> int:
        """Revoke every app password of the account (for a password reset); audited."""
        async with self.uow() as uow:
            account = await uow.accounts.get(account_id)
            if account is None:
                raise NotFound(f"there is no account {account_id}")
            count = await revoke_all_in(uow, self.clock, actor, account)
            await uow.commit()
        return count
