"""Administrators' security actions on one account (issue #5, item 10).

Lock and unlock (the account state machine of `AccountService.change_state`), force a password
change (`RequiredAction.UPDATE_PASSWORD`; what it does at sign-in is the authentication's
business), reset the second factors (`SecondFactorService.reset_second_factors`, naming who proved
the person's identity and how), end every web session, revoke every app password, and
**lockdown**: all of these but the factor reset at once, in one transaction, which also revokes
every API token (services.api_tokens) and removes the account's mail forwarding — an intruder's
favourite ways to keep access and to keep reading the mail after the password is changed.

Who may do what follows `domain.access`: ACCOUNT_WRITE over the account's organisation for every
action but unlocking, which ACCOUNT_UNLOCK allows (the helpdesk may unlock, nothing more here).
Accounts the actor may not read are not found. Nobody locks or locks down their own account.
Lock and lockdown need a reason; every action is audited in its own transaction with the actor,
the reason and the effect, and the person is notified afterwards (their mailbox and verified
recovery contacts); a lockdown is also reported to the organisation's administrators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailgate.domain.access import Actor, Permission
from mailgate.domain.audit import AuditEvent
from mailgate.domain.directory import Account, AccountAction, AccountState, RequiredAction
from mailgate.domain.errors import InvalidInput, PermissionDenied
from mailgate.domain.notices import NoticeKind
from mailgate.domain.ports import Clock, Notifier, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.recovery import CodePurpose
from mailgate.services import api_tokens
from mailgate.services.accounts import AccountService, account_for
from mailgate.services.apppasswords import revoke_all_in
from mailgate.services.audit import record
from mailgate.services.factors import SecondFactorService
from mailgate.services.notice_texts import admin_lockdown_reason

MAX_REASON = 500
# The account page shows the account's latest audit events found among this many of its
# organisation's newest ones (the audit log has no index by target).
AUDIT_SCAN = 500
# Steps that already make the person choose a new password at the next sign-in.
NEW_PASSWORD_STEPS = frozenset({RequiredAction.SET_PASSWORD, RequiredAction.UPDATE_PASSWORD})


@dataclass(frozen=True, slots=True)
class LockdownResult:
    account: Account
    state_before: AccountState
    sessions_ended: int
    app_passwords_revoked: int
    api_tokens_revoked: int = 0
    forwarding_removed: bool = False


@dataclass(frozen=True, slots=True)
class SessionView:
    """A web session as an administrator sees it: never its id or CSRF token."""

    handle: str
    stage: str
    created_at: datetime
    last_seen: datetime
    user_agent: str
    ip: str


def check_reason(reason: str, *, required: bool) -> str:
    """The reason with its whitespace tidied; InvalidInput when required and empty, or too long."""
    text = " ".join(reason.split())
    if required and not text:
        raise InvalidInput("give a reason: it is kept in the audit log and told to the person")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"keep the reason under {MAX_REASON} characters")
    return text


def require_new_password(account: Account) -> bool:
    """Make the account choose a new password at its next sign-in; False if it already must."""
    if NEW_PASSWORD_STEPS & set(account.required_actions):
        return False
    account.required_actions = [*account.required_actions, RequiredAction.UPDATE_PASSWORD]
    return True


async def remove_forwarding_in(
    uow: UnitOfWork, clock: Clock, actor: Actor, account: Account, why: str
) -> bool:
    """Remove the account's forwarding, verified or still pending, in the caller's transaction
    (lockdown, "this wasn't me"), spending its unused confirmation codes; audited as
    `forwarding.remove` with `why`. False when there was none. The caller's unit-of-work
    factory must clear the delivery path's directory cache on commit."""
    forwarding = await uow.forwarding.get(account.id)
    if forwarding is None or not await uow.forwarding.delete(account.id):
        return False
    now = clock.now()
    for old in await uow.one_time_codes.live(account.id, CodePurpose.FORWARDING_VERIFY, None, now):
        await uow.one_time_codes.spend(old.id, now)
    await record(
        uow,
        clock,
        actor,
        "forwarding.remove",
        f"account:{account.address_key}",
        account.org_id,
        {"target": forwarding.target, "verified": forwarding.verified, "by": why},
    )
    return True


def _not_self(actor: Actor, account: Account, what: str) -> None:
    if actor.account_id == account.id:
        raise PermissionDenied(f"you cannot {what} your own account; ask another administrator")


@dataclass(slots=True)
class AccountAdminService:
    uow: UnitOfWorkFactory
    clock: Clock
    accounts: AccountService
    factors: SecondFactorService
    notices: Notifier
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=12)

    # --- lock and unlock (the account state machine) ------------------------------------------

    async def lock(self, actor: Actor, address: str, reason: str) -> Account:
        """Lock an active account: no sign-in on any protocol until unlocked."""
        reason = check_reason(reason, required=True)
        _not_self(actor, await self.accounts.get(actor, address), "lock")
        account = await self.accounts.change_state(
            actor, address, AccountAction.LOCK, reason=reason
        )
        await self._tell(account, NoticeKind.ACCOUNT_LOCKED, {"reason": reason})
        return account

    async def unlock(self, actor: Actor, address: str, reason: str = "") -> Account:
        """Unlock a locked account (helpdesk may). Steps it still owes, such as a new password
        after a lockdown, stay."""
        reason = check_reason(reason, required=False)
        account = await self.accounts.change_state(
            actor, address, AccountAction.UNLOCK, reason=reason
        )
        await self._tell(account, NoticeKind.ACCOUNT_UNLOCKED)
        return account

    # --- credentials and sessions -------------------------------------------------------------

    async def force_password_change(self, actor: Actor, address: str, reason: str = "") -> bool:
        """Require a new password at the next sign-in; False when the account already owed one
        (nothing changes then, but the request is audited)."""
        reason = check_reason(reason, required=False)
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            changed = require_new_password(account)
            if changed:
                await uow.accounts.update(account)
            await self._audit(
                uow,
                actor,
                "account.force_password_change",
                account,
                {"reason": reason, "already_required": not changed},
            )
            await uow.commit()
        if changed:
            await self._tell(account, NoticeKind.PASSWORD_CHANGE_REQUIRED)
        return changed

    async def reset_second_factors(
        self, actor: Actor, address: str, verified_by: str, method: str
    ) -> int:
        """Remove every second factor and recovery code (SecondFactorService does it, audited
        with who verified the person and how); how many factors were removed."""
        removed = await self.factors.reset_second_factors(actor, address, verified_by, method)
        if removed:
            await self._tell(
                await self.accounts.get(actor, address), NoticeKind.SECOND_FACTORS_RESET
            )
        return removed

    async def revoke_sessions(self, actor: Actor, address: str, reason: str = "") -> int:
        """End every web session of the account; how many were ended."""
        reason = check_reason(reason, required=False)
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            ended = await uow.web_sessions.delete_for_account(account.id)
            await self._audit(
                uow,
                actor,
                "account.revoke_sessions",
                account,
                {"reason": reason, "sessions_ended": ended},
            )
            await uow.commit()
        if ended:
            await self._tell(account, NoticeKind.SESSIONS_REVOKED, {"count": str(ended)})
        return ended

    async def revoke_app_passwords(self, actor: Actor, address: str, reason: str = "") -> int:
        """Revoke every app password of the account; how many were revoked."""
        reason = check_reason(reason, required=False)
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            revoked = await revoke_all_in(uow, self.clock, actor, account)
            await self._audit(
                uow,
                actor,
                "account.revoke_app_passwords",
                account,
                {"reason": reason, "app_passwords_revoked": revoked},
            )
            await uow.commit()
        if revoked:
            await self._tell(account, NoticeKind.APP_PASSWORDS_REVOKED, {"count": str(revoked)})
        return revoked

    # --- lockdown -----------------------------------------------------------------------------

    async def lockdown(self, actor: Actor, address: str, reason: str) -> LockdownResult:
        """Lock the account (when it is active; other states already keep it out), end every
        web session, revoke every app password and API token, remove its mail forwarding and
        require a new password, in one transaction; then tell the person and the
        organisation's administrators."""
        reason = check_reason(reason, required=True)
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            _not_self(actor, account, "lock down")
            before = account.state
            if before is AccountState.ACTIVE:
                account.state = AccountState.LOCKED
            new_password = require_new_password(account)
            await uow.accounts.update(account)
            sessions = await uow.web_sessions.delete_for_account(account.id)
            app_passwords = await revoke_all_in(uow, self.clock, actor, account)
            tokens = await api_tokens.revoke_all_in(uow, self.clock, actor, account)
            forwarding = await remove_forwarding_in(
                uow, self.clock, actor, account, "account.lockdown"
            )
            await self._audit(
                uow,
                actor,
                "account.lockdown",
                account,
                {
                    "reason": reason,
                    "from": before.value,
                    "to": account.state.value,
                    "sessions_ended": sessions,
                    "app_passwords_revoked": app_passwords,
                    "api_tokens_revoked": tokens,
                    "forwarding_removed": forwarding,
                    "update_password": True,
                    "update_password_already_required": not new_password,
                },
            )
            await uow.commit()
        told = admin_lockdown_reason(account.language, reason, await self._desk(account))
        await self._tell(account, NoticeKind.ACCOUNT_LOCKED_DOWN, {"reason": told})
        await self.notices.to_admins(
            account.org_id,
            NoticeKind.LOCKDOWN_BY_ADMIN,
            {
                "account": account.address,
                "actor": actor.name,
                "reason": reason,
                "sessions": str(sessions),
                "app_passwords": str(app_passwords),
                "api_tokens": str(tokens),
                "forwarding": str(int(forwarding)),
            },
        )
        return LockdownResult(account, before, sessions, app_passwords, tokens, forwarding)

    # --- what the account page shows ----------------------------------------------------------

    async def sessions(self, actor: Actor, address: str) -> list[SessionView]:
        """The account's live web sessions (signed in, or still owing the second factor), the
        most recently active first (ACCOUNT_READ)."""
        now = self.clock.now()
        async with self.uow(write=False) as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_READ)
            found = await uow.web_sessions.for_account(account.id)
        return [
            SessionView(s.handle, s.stage, s.created_at, s.last_seen, s.user_agent, s.ip)
            for s in found
            if now - s.last_seen <= self.session_idle
            and now - s.created_at <= self.session_absolute
        ]

    async def audit_events(self, actor: Actor, address: str, limit: int = 20) -> list[AuditEvent]:
        """The newest audit events about the account, for actors who may read its
        organisation's audit log (an empty list for the others)."""
        async with self.uow(write=False) as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_READ)
            if not actor.can(Permission.AUDIT_READ, account.org_id):
                return []
            events, _ = await uow.audit.list(frozenset({account.org_id}), 0, AUDIT_SCAN)
        target = f"account:{account.address_key}"
        return [e for e in events if e.target == target][: max(1, limit)]

    # --- helpers ------------------------------------------------------------------------------

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        account: Account,
        summary: dict[str, object],
    ) -> None:
        target = f"account:{account.address_key}"
        await record(uow, self.clock, actor, action, target, account.org_id, summary)

    async def _desk(self, account: Account) -> str:
        """The organisation's IT desk contact, as the notices quote it."""
        async with self.uow(write=False) as uow:
            org = await uow.orgs.get(account.org_id)
        return org.helpdesk_contact if org is not None else ""

    async def _tell(
        self, account: Account, kind: NoticeKind, params: Mapping[str, str] | None = None
    ) -> None:
        desk = await self._desk(account)
        await self.notices.to_account(account, kind, {"helpdesk": desk, **(params or {})})
