"""Setting a new main password: the policy check, the hash and what must happen with it.

Three ways lead here, all ending in `_store`, one transaction that writes the hash, clears the
password steps an account owed (set_password of the first login, update_password forced by an
administrator or by "this wasn't me"), ends web sessions and is audited:

- `change_password`: the person, signed in, with their current password or a fresh
  re-authentication (sudo mode, proven by the caller); other sessions end, theirs stays;
- `reset_password`: after a proven self-service reset (services.recovery); every session and
  every app password ends, pending reset codes are spent, the failure-burst flag is cleared;
- `set_password` (the forced first login of issue #6 uses it): as `change_password` without
  the current password, for accounts that owe the set_password step.

The new password is checked against the password policy the account's policies resolve to
(services.policies; the built-in default without any) by domain.passwords: length in code
points, block lists, the person's context words with the pinyin of their name, optional breach
check;
`PasswordRejected.problems` say why, in any language. The person is notified afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailgate.domain.access import Actor
from mailgate.domain.directory import Account, RequiredAction
from mailgate.domain.errors import AuthenticationFailed, InvalidInput, NotFound
from mailgate.domain.notices import NoticeKind
from mailgate.domain.passwords import PasswordPolicy, PasswordProblem
from mailgate.domain.ports import Clock, Notifier, PasswordHasher, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.recovery import CodePurpose
from mailgate.services.apppasswords import revoke_all_in
from mailgate.services.audit import record
from mailgate.services.identity import Authenticator
from mailgate.services.passwords import PasswordCheck, PasswordChecker, password_context_for
from mailgate.services.policies import PolicyService, password_policy

PASSWORD_STEPS = frozenset({RequiredAction.SET_PASSWORD, RequiredAction.UPDATE_PASSWORD})


class PasswordRejected(InvalidInput):
    """The new password breaks the policy; `problems` has every reason."""

    code = "password_rejected"

    def __init__(self, problems: tuple[PasswordProblem, ...]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(slots=True)
class CredentialService:
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    checker: PasswordChecker
    notices: Notifier
    authenticator: Authenticator
    policies: PolicyService | None = None  # None: the built-in `policy` for everyone
    policy: PasswordPolicy = field(default_factory=PasswordPolicy)

    async def policy_for(self, account: Account) -> PasswordPolicy:
        """The password policy bound to the account's organisation, unit, position ..."""
        if self.policies is None:
            return self.policy
        return password_policy(await self.policies.resolve_for_account(account))

    async def check(self, account: Account, password: str) -> PasswordCheck:
        """The policy's verdict on `password` as the new password of `account`."""
        async with self.uow(write=False) as uow:
            roster = await uow.roster.by_id(account.roster_id) if account.roster_id else None
            org = await uow.orgs.get(account.org_id)
            second_factor = await uow.account_security.has_second_factor(account.id)
        context = password_context_for(
            account.address, roster=roster, organisation=org, display_name=account.display_name
        )
        policy = await self.policy_for(account)
        return await self.checker.check(password, policy, context, second_factor)

    async def _hash_checked(self, account: Account, password: str) -> str:
        verdict = await self.check(account, password)
        if not verdict.ok:
            raise PasswordRejected(verdict.problems)
        return await self.hasher.hash(verdict.normalised)

    async def change_password(
        self,
        actor: Actor,
        new_password: str,
        *,
        current_password: str | None,
        keep_session_hash: str | None,
        client_ip: str,
        user_agent: str = "",
    ) -> None:
        """The signed-in person's new password. `current_password` None means the caller has
        verified a fresh re-authentication (sudo mode). AuthenticationFailed for a wrong
        current password (throttled and recorded like any sign-in), PasswordRejected."""
        account = await self._own(actor)
        if current_password is not None:
            decision = await self.authenticator.authenticate(
                account.address, current_password, "web", client_ip, user_agent
            )
            if not decision.allowed:
                raise AuthenticationFailed("the current password is not correct")
        password_hash = await self._hash_checked(account, new_password)
        async with self.uow() as uow:
            await self._store(uow, actor, account.id, password_hash, "account.password_change")
            await uow.web_sessions.delete_for_account(account.id, keep_session_hash)
            await uow.commit()
        await self.notices.to_account(account, NoticeKind.PASSWORD_CHANGED)

    async def set_password(self, actor: Actor, new_password: str) -> None:
        """The first password of an account that owes the set_password step (first login)."""
        account = await self._own(actor)
        if RequiredAction.SET_PASSWORD not in account.required_actions:
            raise InvalidInput("this account already has a password; change it instead")
        password_hash = await self._hash_checked(account, new_password)
        async with self.uow() as uow:
            await self._store(uow, actor, account.id, password_hash, "account.password_set")
            await uow.commit()

    async def reset_password(
        self, actor: Actor, account_id: int, new_password: str, *, client_ip: str
    ) -> None:
        """A new password after a proven self-service reset (the caller checked the code and
        the second factor): every session and app password ends, the person is notified."""
        async with self.uow(write=False) as uow:
            found = await uow.accounts.get(account_id)
        if found is None:
            raise NotFound("there is no such account")
        password_hash = await self._hash_checked(found, new_password)
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._store(
                uow, actor, account_id, password_hash, "account.password_reset"
            )
            await uow.web_sessions.delete_for_account(account_id)
            await revoke_all_in(uow, self.clock, actor, account)
            await uow.one_time_codes.revoke(account_id, CodePurpose.PASSWORD_RESET, now)
            await uow.account_security.set_requires_second_factor_on_web(account_id, False, now)
            await uow.commit()
        await self.notices.to_account(account, NoticeKind.PASSWORD_RESET, {"ip": client_ip})

    async def _own(self, actor: Actor) -> Account:
        if actor.account_id is None:
            raise NotFound("this caller has no account of its own")
        async with self.uow(write=False) as uow:
            account = await uow.accounts.get(actor.account_id)
        if account is None:
            raise NotFound("this caller has no account of its own")
        return account

    async def _store(
        self, uow: UnitOfWork, actor: Actor, account_id: int, password_hash: str, action: str
    ) -> Account:
        account = await uow.accounts.get(account_id)
        if account is None:
            raise NotFound("there is no such account")
        account.password_hash = password_hash
        account.required_actions = [
            step for step in account.required_actions if step not in PASSWORD_STEPS
        ]
        await uow.accounts.update(account)
        await record(
            uow, self.clock, actor, action, f"account:{account.address_key}", account.org_id
        )
        return account
