"""Repositories for account security: limiter counters, login records, app passwords, flags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from mailgate.domain.security import (
    AppPassword,
    FailureCounter,
    LoginFilter,
    LoginRecord,
    SecurityAlert,
    format_scopes,
    parse_scopes,
)
from mailgate.storage.tables import (
    account_security,
    app_passwords,
    auth_failures,
    login_records,
    security_alerts,
)


def _upsert(conn: AsyncConnection, table: Any) -> Any:
    """INSERT ... ON CONFLICT for the connection's dialect (both speak it)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _counter(r: Mapping[Any, Any]) -> FailureCounter:
    return FailureCounter(
        r["account_id"], r["ip"], r["failures"], r["first_failure"], r["last_failure"]
    )


class SqlThrottleRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, keys: Sequence[tuple[int, str]]) -> list[FailureCounter]:
        if not keys:
            return []
        t = auth_failures.c
        q = select(auth_failures).where(or_(*(and_(t.account_id == a, t.ip == i) for a, i in keys)))
        return [_counter(r) for r in (await self.conn.execute(q)).mappings()]

    async def add_failure(
        self, account_id: int, ip: str, now: datetime, reset_before: datetime
    ) -> FailureCounter:
        t = auth_failures.c
        ins = _upsert(self.conn, auth_failures).values(
            account_id=account_id, ip=ip, failures=1, first_failure=now, last_failure=now
        )
        stale = t.last_failure < reset_before
        stmt = ins.on_conflict_do_update(
            index_elements=[t.account_id, t.ip],
            set_={
                "failures": case((stale, 1), else_=t.failures + 1),
                "first_failure": case((stale, ins.excluded.first_failure), else_=t.first_failure),
                "last_failure": ins.excluded.last_failure,
            },
        ).returning(*auth_failures.c)
        row = (await self.conn.execute(stmt)).mappings().one()
        return _counter(row)

    async def clear(self, account_id: int, ip: str) -> None:
        t = auth_failures.c
        await self.conn.execute(delete(auth_failures).where(t.account_id == account_id, t.ip == ip))


def _record(r: Mapping[Any, Any]) -> LoginRecord:
    return LoginRecord(
        occurred_at=r["occurred_at"],
        account_id=r["account_id"],
        org_id=r["org_id"],
        username=r["username"],
        protocol=r["protocol"],
        ip=r["ip"],
        client_id=r["client_id"],
        success=r["success"],
        reason=r["reason"],
        app_password_id=r["app_password_id"],
        app_password_name=r["app_password_name"],
        id=r["id"],
    )


class SqlLoginRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, record: LoginRecord) -> None:
        await self.conn.execute(
            login_records.insert().values(
                occurred_at=record.occurred_at,
                account_id=record.account_id,
                org_id=record.org_id,
                username=record.username[:320],
                protocol=record.protocol[:8],
                ip=record.ip[:64],
                client_id=record.client_id[:400],
                success=record.success,
                reason=record.reason[:32],
                app_password_id=record.app_password_id,
                app_password_name=record.app_password_name[:100],
            )
        )

    async def search(
        self, org_ids: frozenset[int] | None, where: LoginFilter, offset: int, limit: int
    ) -> tuple[list[LoginRecord], int]:
        t = login_records.c
        cond: list[ColumnElement[bool]] = []
        if org_ids is not None:
            cond.append(t.org_id.in_(org_ids))
        if where.account_id is not None:
            cond.append(t.account_id == where.account_id)
        if where.ip is not None:
            cond.append(t.ip == where.ip)
        if where.success is not None:
            cond.append(t.success == where.success)
        if where.reason is not None:
            cond.append(t.reason == where.reason)
        if where.protocol is not None:
            cond.append(t.protocol == where.protocol)
        if where.since is not None:
            cond.append(t.occurred_at >= where.since)
        if where.until is not None:
            cond.append(t.occurred_at < where.until)
        total = await self.conn.scalar(select(func.count()).select_from(login_records).where(*cond))
        q = (
            select(login_records)
            .where(*cond)
            .order_by(t.occurred_at.desc(), t.id.desc())
            .offset(offset)
            .limit(limit)
        )
        found = [_record(r) for r in (await self.conn.execute(q)).mappings()]
        return found, int(total or 0)

    async def failures_since(self, account_id: int, since: datetime) -> tuple[int, int]:
        t = login_records.c
        q = select(func.count(), func.count(t.ip.distinct())).where(
            t.account_id == account_id, t.occurred_at >= since, t.success.is_(False)
        )
        row = (await self.conn.execute(q)).one()
        return int(row[0] or 0), int(row[1] or 0)


def _app_password(r: Mapping[Any, Any]) -> AppPassword:
    return AppPassword(
        id=r["id"],
        account_id=r["account_id"],
        name=r["name"],
        hint=r["hint"],
        password_hash=r["password_hash"],
        scopes=parse_scopes(r["scopes"]),
        created_at=r["created_at"],
        expires_on=r["expires_on"],
        last_used_at=r["last_used_at"],
        last_used_ip=r["last_used_ip"],
        revoked_at=r["revoked_at"],
    )


class SqlAppPasswordRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, app_password: AppPassword) -> AppPassword:
        values = {
            "account_id": app_password.account_id,
            "name": app_password.name,
            "hint": app_password.hint,
            "password_hash": app_password.password_hash,
            "scopes": format_scopes(app_password.scopes),
            "created_at": app_password.created_at,
            "expires_on": app_password.expires_on,
            "last_used_at": None,
            "last_used_ip": "",
            "revoked_at": None,
        }
        res = await self.conn.execute(app_passwords.insert().values(values))
        assert res.inserted_primary_key is not None  # noqa: S101
        return _app_password({"id": res.inserted_primary_key[0], **values})

    async def for_account(self, account_id: int, *, include_revoked: bool) -> list[AppPassword]:
        t = app_passwords.c
        cond: list[ColumnElement[bool]] = [t.account_id == account_id]
        if not include_revoked:
            cond.append(t.revoked_at.is_(None))
        q = select(app_passwords).where(*cond).order_by(t.id)
        return [_app_password(r) for r in (await self.conn.execute(q)).mappings()]

    async def candidates(self, account_id: int, hint: str) -> list[AppPassword]:
        t = app_passwords.c
        q = select(app_passwords).where(
            t.account_id == account_id, t.hint == hint, t.revoked_at.is_(None)
        )
        return [_app_password(r) for r in (await self.conn.execute(q)).mappings()]

    async def revoke(self, account_id: int, app_password_id: int, when: datetime) -> bool:
        t = app_passwords.c
        res = await self.conn.execute(
            update(app_passwords)
            .where(t.id == app_password_id, t.account_id == account_id, t.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        return bool(res.rowcount)

    async def revoke_all(self, account_id: int, when: datetime) -> int:
        t = app_passwords.c
        res = await self.conn.execute(
            update(app_passwords)
            .where(t.account_id == account_id, t.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        return int(res.rowcount or 0)

    async def mark_used(self, app_password_id: int, when: datetime, ip: str) -> None:
        await self.conn.execute(
            update(app_passwords)
            .where(app_passwords.c.id == app_password_id)
            .values(last_used_at=when, last_used_ip=ip[:64])
        )


class SqlAccountSecurityRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _flag(self, account_id: int, column: str) -> bool:
        q = select(account_security.c[column]).where(account_security.c.account_id == account_id)
        return bool(await self.conn.scalar(q))

    async def _set(self, account_id: int, column: str, value: bool, when: datetime) -> None:
        ins = _upsert(self.conn, account_security).values(
            account_id=account_id,
            second_factor_enrolled=False,
            require_second_factor_on_web=False,
            updated_at=when,
        )
        ins = ins.values({column: value})
        await self.conn.execute(
            ins.on_conflict_do_update(
                index_elements=[account_security.c.account_id],
                set_={column: value, "updated_at": when},
            )
        )

    async def has_second_factor(self, account_id: int) -> bool:
        return await self._flag(account_id, "second_factor_enrolled")

    async def set_second_factor_enrolled(
        self, account_id: int, enrolled: bool, when: datetime
    ) -> None:
        await self._set(account_id, "second_factor_enrolled", enrolled, when)

    async def requires_second_factor_on_web(self, account_id: int) -> bool:
        return await self._flag(account_id, "require_second_factor_on_web")

    async def set_requires_second_factor_on_web(
        self, account_id: int, required: bool, when: datetime
    ) -> None:
        await self._set(account_id, "require_second_factor_on_web", required, when)

    async def add_alert(self, alert: SecurityAlert) -> None:
        await self.conn.execute(
            security_alerts.insert().values(
                occurred_at=alert.occurred_at,
                kind=alert.kind,
                account_id=alert.account_id,
                org_id=alert.org_id,
                details=alert.details,
                notified_at=None,
            )
        )

    async def alerts(
        self, org_ids: frozenset[int] | None, offset: int, limit: int
    ) -> tuple[list[SecurityAlert], int]:
        t = security_alerts.c
        cond: list[ColumnElement[bool]] = [] if org_ids is None else [t.org_id.in_(org_ids)]
        total = await self.conn.scalar(
            select(func.count()).select_from(security_alerts).where(*cond)
        )
        q = (
            select(security_alerts)
            .where(*cond)
            .order_by(t.occurred_at.desc(), t.id.desc())
            .offset(offset)
            .limit(limit)
        )
        found = [
            SecurityAlert(
                r["occurred_at"],
                r["kind"],
                r["account_id"],
                r["org_id"],
                dict(r["details"]),
                r["id"],
            )
            for r in (await self.conn.execute(q)).mappings()
        ]
        return found, int(total or 0)

    async def pending_alerts(self, kinds: Sequence[str], limit: int = 100) -> list[SecurityAlert]:
        t = security_alerts.c
        q = (
            select(security_alerts)
            .where(t.notified_at.is_(None), t.kind.in_(kinds))
            .order_by(t.occurred_at, t.id)
            .limit(limit)
        )
        return [
            SecurityAlert(
                r["occurred_at"],
                r["kind"],
                r["account_id"],
                r["org_id"],
                dict(r["details"]),
                r["id"],
            )
            for r in (await self.conn.execute(q)).mappings()
        ]

    async def mark_notified(self, ids: Sequence[int], when: datetime) -> list[int]:
        if not ids:
            return []
        t = security_alerts.c
        stmt = (
            update(security_alerts)
            .where(t.id.in_(ids), t.notified_at.is_(None))
            .values(notified_at=when)
            .returning(t.id)
        )
        return sorted(int(r[0]) for r in (await self.conn.execute(stmt)).all())
