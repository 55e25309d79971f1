"""Accounts: creation under the directory's invariants, listing, state changes, role grants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mailgate.domain.access import Actor, Permission, Role
from mailgate.domain.directory import (
    FIRST_LOGIN_ACTIONS,
    POOL_STATES,
    Account,
    AccountAction,
    AccountState,
    Domain,
    check_pool,
    next_state,
)
from mailgate.domain.errors import DomainNotOwned, InvalidInput, NotFound
from mailgate.domain.mail import DEFAULT_FOLDERS
from mailgate.domain.names import Address
from mailgate.domain.passwords import normalise_password
from mailgate.domain.ports import Clock, PasswordHasher, UnitOfWork, UnitOfWorkFactory
from mailgate.services.audit import record
from mailgate.services.organisations import check_language, check_time_zone, org_by_slug

# Which permission each state change needs: helpdesk may unlock, nothing more.
ACTION_PERMISSION = dict.fromkeys(AccountAction, Permission.ACCOUNT_WRITE) | {
    AccountAction.UNLOCK: Permission.ACCOUNT_UNLOCK
}


async def owned_domain(uow: UnitOfWork, address: Address, org_id: int | None = None) -> Domain:
    """The registered domain of `address`; DomainNotOwned if missing or owned by another org."""
    domain = await uow.domains.by_name(address.domain.ascii)
    if domain is None:
        raise DomainNotOwned(
            f"{address.domain.unicode} is not a domain of this Mailgate; add it first with "
            "'mailgate domain add'"
        )
    if org_id is not None and domain.org_id != org_id:
        raise DomainNotOwned(
            f"{address.domain.unicode} does not belong to this organisation; an address can only "
            "be in a domain its organisation owns"
        )
    return domain


async def account_for(
    uow: UnitOfWork, actor: Actor, address: str, permission: Permission
) -> Account:
    """The account at `address` if the actor may see it (otherwise NotFound) and act on it."""
    try:
        key = Address.parse(address).key
    except InvalidInput:
        raise NotFound(f"there is no account {address!r}") from None
    account = await uow.accounts.by_key(key)
    if account is None or not actor.can(Permission.ACCOUNT_READ, account.org_id):
        raise NotFound(f"there is no account {address!r}")
    actor.require(permission, account.org_id)
    return account


@dataclass(slots=True)
class AccountService:
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher

    async def create(
        self,
        actor: Actor,
        address: str,
        *,
        display_name: str = "",
        password: str | None = None,
        skip_first_login: bool = False,
        quota: int | None = None,
        expires_on: date | None = None,
        employee_id: str | None = None,
        language: str = "zh_Hans",
        time_zone: str = "Asia/Shanghai",
        org_slug: str | None = None,
    ) -> Account:
        """Create an account; with `org_slug`, its domain must belong to that organisation."""
        parsed = Address.parse(address)
        check_language(language)
        check_time_zone(time_zone)
        if expires_on is not None and expires_on <= self.clock.now().date():
            raise InvalidInput("the expiry date must be in the future")
        if skip_first_login and not password:
            raise InvalidInput("an account that skips the first login needs a password")
        password_hash = await self.hasher.hash(normalise_password(password)) if password else None
        async with self.uow() as uow:
            expected = None
            if org_slug is not None:
                expected = (await org_by_slug(uow, actor, org_slug, Permission.ACCOUNT_WRITE)).id
            domain = await owned_domain(uow, parsed, expected)
            actor.require(Permission.ACCOUNT_WRITE, domain.org_id)
            # Locking the organisation serialises pool checks of concurrent creations.
            org = await uow.orgs.get_for_update(domain.org_id)
            assert org is not None  # noqa: S101 - foreign key
            roster_id = None
            if employee_id:
                entry = await uow.roster.get(org.id, employee_id)
                if entry is None:
                    raise NotFound(f"employee {employee_id} is not in the roster of {org.slug}")
                roster_id = entry.id
                display_name = display_name or entry.display_name
            check_pool(org.account_pool_limit, await uow.accounts.count_in_pool(org.id))
            await uow.addresses.claim(parsed.key, "account", org.id)
            now = self.clock.now()
            account = await uow.accounts.add(
                Account(
                    id=0,
                    address=str(parsed),
                    address_key=parsed.key,
                    org_id=org.id,
                    roster_id=roster_id,
                    display_name=display_name.strip() or parsed.local,
                    state=AccountState.ACTIVE
                    if skip_first_login
                    else AccountState.PENDING_ACTIVATION,
                    quota=quota if quota is not None else org.default_quota,
                    expires_on=expires_on,
                    language=language,
                    time_zone=time_zone,
                    password_hash=password_hash,
                    required_actions=[] if skip_first_login else list(FIRST_LOGIN_ACTIONS),
                    skipped_first_login=skip_first_login,
                    created_at=now,
                )
            )
            await uow.mail.create_folders(
                account.id,
                [(name, special.value if special else None) for name, special in DEFAULT_FOLDERS],
                int(now.timestamp()),
            )
            await record(
                uow,
                self.clock,
                actor,
                "account.create",
                f"account:{parsed.key}",
                org.id,
                {
                    "skip_first_login": skip_first_login,
                    "quota": account.quota,
                    "expires_on": expires_on.isoformat() if expires_on else None,
                    "employee_id": employee_id,
                    "password_set": password is not None,
                },
            )
            await uow.commit()
        return account

    async def get(self, actor: Actor, address: str) -> Account:
        async with self.uow(write=False) as uow:
            return await account_for(uow, actor, address, Permission.ACCOUNT_READ)

    async def own(self, actor: Actor) -> Account:
        """The caller's own account (every signed-in person may read it, no role needed)."""
        if actor.account_id is None:
            raise NotFound("this caller has no account of its own")
        async with self.uow(write=False) as uow:
            account = await uow.accounts.get(actor.account_id)
        if account is None:
            raise NotFound("this caller has no account of its own")
        return account

    async def search(
        self,
        actor: Actor,
        *,
        org_slug: str | None = None,
        query: str = "",
        state: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[Account], int]:
        if state is not None and state not in {s.value for s in AccountState}:
            raise InvalidInput(f"unknown account state {state!r}")
        async with self.uow(write=False) as uow:
            scope = actor.org_scope(Permission.ACCOUNT_READ)
            if org_slug is not None:
                org = await org_by_slug(uow, actor, org_slug, Permission.ACCOUNT_READ)
                scope = frozenset({org.id})
            return await uow.accounts.search(scope, query.strip(), state, offset, min(limit, 500))

    async def change_state(
        self,
        actor: Actor,
        address: str,
        action: AccountAction,
        *,
        reason: str = "",
        new_expiry: date | None = None,
    ) -> Account:
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, ACTION_PERMISSION[action])
            before = account.state
            after = next_state(before, action)
            if action is AccountAction.REACTIVATE:
                if new_expiry is None or new_expiry <= self.clock.now().date():
                    raise InvalidInput(
                        "reactivating an expired account needs a new future end date"
                    )
                account.expires_on = new_expiry
            if before is AccountState.DISABLED and after in POOL_STATES:
                org = await uow.orgs.get_for_update(account.org_id)
                assert org is not None  # noqa: S101
                check_pool(org.account_pool_limit, await uow.accounts.count_in_pool(org.id))
            if action is AccountAction.ACTIVATE:
                # An admin activating by hand waives the first login, as --skip-first-login does.
                if account.password_hash is None:
                    raise InvalidInput("set a password before activating the account by hand")
                account.required_actions = []
                account.skipped_first_login = True
            account.state = after
            await uow.accounts.update(account)
            await record(
                uow,
                self.clock,
                actor,
                f"account.{action.value}",
                f"account:{account.address_key}",
                account.org_id,
                {"from": before.value, "to": after.value, "reason": reason}
                | ({"expires_on": new_expiry.isoformat()} if new_expiry else {}),
            )
            await uow.commit()
        return account

    async def grant_role(
        self, actor: Actor, address: str, role: Role, org_slug: str | None
    ) -> None:
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_READ)
            if role is Role.PLATFORM_ADMIN:
                actor.require(Permission.ORG_CREATE, None)
                org_id = None
            else:
                if org_slug is None:
                    raise InvalidInput(f"the role {role.value} needs an organisation (--org)")
                org = await org_by_slug(uow, actor, org_slug, Permission.ROLE_GRANT)
                org_id = org.id
            await uow.roles.grant(account.id, role, org_id)
            await record(
                uow,
                self.clock,
                actor,
                "role.grant",
                f"account:{account.address_key}",
                org_id if org_id is not None else account.org_id,
                {"role": role.value, "org": org_slug},
            )
            await uow.commit()
