"""Bearer tokens of the JSON API: list them, revoke one, revoke all of an account's at once.

A token is made by `IdentityService.create_api_token` (the account itself or a platform admin),
shown once and stored only as its SHA-256; `IdentityService.api_actor` checks it on every call
(and refuses it while its account may not be used). Here a token is named by its *handle*, the
first API_TOKEN_HANDLE_LENGTH hex digits of that hash: enough to tell an account's tokens
apart, useless for calling the API.

Who may: the account itself, or an administrator holding ACCOUNT_READ (to list) or
ACCOUNT_WRITE (to revoke) over its organisation — a platform admin over every one. Any other
caller gets NotFound, as if the account did not exist. Every revocation is audited in its
transaction (`api_token.revoke`, `api_token.revoke_all`).

`revoke_all_in` revokes every token of an account inside the caller's transaction: an
administrator's lockdown, "this wasn't me" and a self-service password reset use it, since a
token is a credential like an app password and would otherwise outlive the incident once the
account is usable again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Account
from mailgate.domain.errors import InvalidInput, NotFound
from mailgate.domain.ports import (
    API_TOKEN_HANDLE_LENGTH,
    ApiTokenRecord,
    Clock,
    UnitOfWork,
    UnitOfWorkFactory,
)
from mailgate.services.apppasswords import account_for
from mailgate.services.audit import record

# A handle, or the whole SHA-256 of the token (64 hex digits).
_HANDLE = re.compile(rf"[0-9a-f]{{{API_TOKEN_HANDLE_LENGTH}}}|[0-9a-f]{{64}}")


def check_handle(handle: str) -> str:
    """The handle in its stored form; InvalidInput unless it is one (or a whole token hash)."""
    text = handle.strip().lower()
    if not _HANDLE.fullmatch(text):
        raise InvalidInput(
            f"a token handle is {API_TOKEN_HANDLE_LENGTH} hex digits, as the token list shows it"
        )
    return text


async def revoke_all_in(uow: UnitOfWork, clock: Clock, actor: Actor, account: Account) -> int:
    """Revoke every API token of `account` in the caller's transaction (lockdown, "this
    wasn't me", password reset); audited when there was any. How many were revoked."""
    count = await uow.api_tokens.delete_for_account(account.id)
    if count:
        await record(
            uow,
            clock,
            actor,
            "api_token.revoke_all",
            f"account:{account.address_key}",
            account.org_id,
            {"count": count},
        )
    return count


@dataclass(slots=True)
class ApiTokenService:
    uow: UnitOfWorkFactory
    clock: Clock

    async def list(self, actor: Actor, address: str) -> list[ApiTokenRecord]:
        """The account's tokens, expired ones too, newest first (self or ACCOUNT_READ)."""
        async with self.uow(write=False) as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_READ)
            return await uow.api_tokens.list_for_account(account.id)

    async def revoke(self, actor: Actor, address: str, handle: str) -> ApiTokenRecord:
        """Revoke one token of the account by its handle (self or ACCOUNT_WRITE); the token
        that was revoked. InvalidInput for a malformed handle, NotFound when the account has
        no such token."""
        handle = check_handle(handle)
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            found = [
                t
                for t in await uow.api_tokens.list_for_account(account.id)
                if handle.startswith(t.handle)
            ]
            if not found or not await uow.api_tokens.delete(handle, account.id):
                raise NotFound(f"{address!r} has no API token {handle!r}")
            token = found[0]
            await record(
                uow,
                self.clock,
                actor,
                "api_token.revoke",
                f"account:{account.address_key}",
                account.org_id,
                {"handle": token.handle, "name": token.name},
            )
            await uow.commit()
        return token
