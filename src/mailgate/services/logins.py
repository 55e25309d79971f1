"""Login records (R18): what the user and their admins may see of authentication attempts.

`AuthenticationService.authenticate` writes one record per attempt on every protocol; this
service reads them: an account's recent logins (the account itself, or ACCOUNT_READ admins),
an organisation-wide search for admins, CSV export, and the security alerts raised by the
limiter.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from datetime import datetime

from mailgate.domain.access import Actor, Permission
from mailgate.domain.errors import InvalidInput, NotFound
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.security import LoginFilter, LoginRecord, SecurityAlert
from mailgate.services.apppasswords import account_for

MAX_PAGE = 1000
MAX_EXPORT = 100_000
CSV_COLUMNS = (
    "occurred_at",
    "username",
    "protocol",
    "ip",
    "client_id",
    "result",
    "reason",
    "app_password",
)
PROTOCOLS = ("web", "smtp", "imap", "pop3", "api")


def result_filter(result: str | None) -> tuple[bool | None, str | None]:
    """`success` / `failure` / a reason code (`throttled`, `bad_password` ...)."""
    if result is None or not result.strip():
        return None, None
    value = result.strip().lower()
    if value in ("success", "ok"):
        return True, None
    if value in ("failure", "failed", "fail"):
        return False, None
    if not value.replace("_", "").isalpha() or len(value) > 32:
        raise InvalidInput(f"{result!r} is not a result; use success, failure or a reason code")
    return None, value


def _csv_safe(value: str) -> str:
    """Keep spreadsheets from running client-supplied text (user agents) as formulas."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@dataclass(slots=True)
class LoginService:
    uow: UnitOfWorkFactory
    clock: Clock

    async def recent_logins(self, actor: Actor, address: str, limit: int = 50) -> list[LoginRecord]:
        """Newest first, for the account itself or ACCOUNT_READ admins of its organisation."""
        async with self.uow(write=False) as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_READ)
            found, _ = await uow.logins.search(
                None, LoginFilter(account_id=account.id), 0, max(1, min(limit, MAX_PAGE))
            )
        return found

    async def search_logins(
        self,
        actor: Actor,
        org_slug: str | None,
        *,
        ip: str | None = None,
        result: str | None = None,
        protocol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
        account: str | None = None,
    ) -> tuple[list[LoginRecord], int]:
        """Records of the organisation's accounts (all organisations, and attempts on unknown
        names, only for platform admins with `org_slug` None); `account`: one address only
        (NotFound when the actor may not read it)."""
        where = self._filter(ip, result, protocol, since, until)
        async with self.uow(write=False) as uow:
            scope = await self._scope(uow, actor, org_slug)
            where = await self._one_account(uow, actor, account, where)
            return await uow.logins.search(
                scope, where, max(0, offset), max(1, min(limit, MAX_PAGE))
            )

    async def export_logins_csv(
        self,
        actor: Actor,
        org_slug: str | None,
        *,
        ip: str | None = None,
        result: str | None = None,
        protocol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        account: str | None = None,
    ) -> str:
        where = self._filter(ip, result, protocol, since, until)
        async with self.uow(write=False) as uow:
            scope = await self._scope(uow, actor, org_slug)
            where = await self._one_account(uow, actor, account, where)
            found, _ = await uow.logins.search(scope, where, 0, MAX_EXPORT)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for r in found:
            writer.writerow(
                [
                    r.occurred_at.isoformat(),
                    _csv_safe(r.username),
                    r.protocol,
                    r.ip,
                    _csv_safe(r.client_id),
                    "success" if r.success else "failure",
                    r.reason,
                    _csv_safe(r.app_password_name),
                ]
            )
        return buf.getvalue()

    async def alerts(
        self, actor: Actor, org_slug: str | None, offset: int = 0, limit: int = 50
    ) -> tuple[list[SecurityAlert], int]:
        async with self.uow(write=False) as uow:
            scope = await self._scope(uow, actor, org_slug)
            return await uow.account_security.alerts(scope, offset, min(limit, MAX_PAGE))

    async def requires_second_factor_on_web(self, account_id: int) -> bool:
        """For the web sign-in: a failure burst asked for the second factor on this account."""
        async with self.uow(write=False) as uow:
            return await uow.account_security.requires_second_factor_on_web(account_id)

    @staticmethod
    def _filter(
        ip: str | None,
        result: str | None,
        protocol: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> LoginFilter:
        success, reason = result_filter(result)
        if protocol is not None and protocol.lower() not in PROTOCOLS:
            raise InvalidInput(f"{protocol!r} is not a protocol; use {', '.join(PROTOCOLS)}")
        return LoginFilter(
            ip=ip.strip() if ip and ip.strip() else None,
            success=success,
            reason=reason,
            protocol=protocol.lower() if protocol else None,
            since=since,
            until=until,
        )

    @staticmethod
    async def _one_account(
        uow: UnitOfWork, actor: Actor, address: str | None, where: LoginFilter
    ) -> LoginFilter:
        if address is None or not address.strip():
            return where
        found = await account_for(uow, actor, address.strip(), Permission.ACCOUNT_READ)
        return replace(where, account_id=found.id)

    @staticmethod
    async def _scope(uow: UnitOfWork, actor: Actor, org_slug: str | None) -> frozenset[int] | None:
        if org_slug is None:
            scope = actor.org_scope(Permission.ACCOUNT_READ)
            if scope is not None and not scope:
                actor.require(Permission.ACCOUNT_READ, None)
            return scope
        org = await uow.orgs.by_slug(org_slug)
        if org is None or not actor.can(Permission.ACCOUNT_READ, org.id):
            raise NotFound(f"there is no organisation {org_slug!r} you may read")
        return frozenset({org.id})
