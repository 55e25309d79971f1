"""Repositories for the audit log, web sessions and API tokens."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from mailgate.domain.audit import GENESIS, AuditEvent
from mailgate.domain.ports import API_TOKEN_HANDLE_LENGTH, ApiTokenRecord, WebSessionRecord
from mailgate.storage.tables import api_tokens, audit_events, web_sessions

# Any constant: PostgreSQL's advisory lock number that serialises audit appenders.
AUDIT_LOCK_KEY = 0x6D61696C  # "mail"


def _event(r: Mapping[Any, Any]) -> AuditEvent:
    return AuditEvent(
        seq=r["seq"],
        occurred_at=r["occurred_at"],
        actor=r["actor"],
        action=r["action"],
        target=r["target"],
        org_id=r["org_id"],
        summary=json.loads(r["summary"]),
        source_ip=r["source_ip"],
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )


class SqlAuditRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock_tail(self) -> tuple[int, str]:
        if self.conn.dialect.name == "postgresql":
            await self.conn.execute(text(f"SELECT pg_advisory_xact_lock({AUDIT_LOCK_KEY})"))
        # SQLite: the writer transaction began IMMEDIATE and already holds the write lock.
        q = select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc())
        row = (await self.conn.execute(q.limit(1))).first()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    async def append(self, event: AuditEvent) -> None:
        await self.conn.execute(
            audit_events.insert().values(
                seq=event.seq,
                occurred_at=event.occurred_at,
                actor=event.actor,
                action=event.action,
                target=event.target,
                org_id=event.org_id,
                summary=json.dumps(event.summary, sort_keys=True, ensure_ascii=False),
                source_ip=event.source_ip,
                prev_hash=event.prev_hash,
                hash=event.hash,
            )
        )

    async def scan(self) -> AsyncIterator[tuple[int, AuditEvent]]:
        result = await self.conn.stream(select(audit_events).order_by(audit_events.c.id))
        async for r in result.mappings():
            yield r["id"], _event(r)

    async def list(
        self, org_ids: frozenset[int] | None, offset: int, limit: int
    ) -> tuple[list[AuditEvent], int]:
        cond: list[ColumnElement[bool]] = (
            [] if org_ids is None else [audit_events.c.org_id.in_(org_ids)]
        )
        total = await self.conn.scalar(select(func.count()).select_from(audit_events).where(*cond))
        q = select(audit_events).where(*cond).order_by(audit_events.c.seq.desc())
        found = [
            _event(r) for r in (await self.conn.execute(q.offset(offset).limit(limit))).mappings()
        ]
        return found, int(total or 0)


def _session(r: Mapping[Any, Any]) -> WebSessionRecord:
    return WebSessionRecord(
        id_hash=r["id_hash"],
        handle=r["handle"],
        account_id=r["account_id"],
        csrf=r["csrf"],
        stage=r["stage"],
        created_at=r["created_at"],
        last_seen=r["last_seen"],
        user_agent=r["user_agent"],
        ip=r["ip"],
        reauth_at=r["reauth_at"],
        second_factor_failures=r["second_factor_failures"],
    )


class SqlWebSessionRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(
        self,
        id_hash: str,
        account_id: int,
        csrf: str,
        created: datetime,
        user_agent: str,
        ip: str,
        *,
        handle: str = "",
        stage: str = "full",
        reauth_at: datetime | None = None,
    ) -> None:
        await self.conn.execute(
            web_sessions.insert().values(
                id_hash=id_hash,
                handle=handle or secrets.token_hex(12),
                account_id=account_id,
                csrf=csrf,
                stage=stage,
                created_at=created,
                last_seen=created,
                reauth_at=reauth_at,
                second_factor_failures=0,
                user_agent=user_agent[:400],
                ip=ip[:64],
            )
        )

    async def get(self, id_hash: str) -> tuple[int, str, datetime, datetime] | None:
        found = await self.find(id_hash)
        if found is None:
            return None
        return (found.account_id, found.csrf, found.created_at, found.last_seen)

    async def find(self, id_hash: str) -> WebSessionRecord | None:
        q = select(web_sessions).where(web_sessions.c.id_hash == id_hash)
        r = (await self.conn.execute(q)).mappings().first()
        return _session(r) if r else None

    async def for_account(self, account_id: int) -> list[WebSessionRecord]:
        c = web_sessions.c
        q = (
            select(web_sessions)
            .where(c.account_id == account_id)
            .order_by(c.last_seen.desc(), c.created_at.desc(), c.handle)
        )
        return [_session(r) for r in (await self.conn.execute(q)).mappings()]

    async def delete_expired(
        self,
        account_id: int,
        *,
        idle_before: datetime,
        created_before: datetime,
        pending_before: datetime,
    ) -> int:
        c = web_sessions.c
        q = delete(web_sessions).where(
            c.account_id == account_id,
            or_(
                c.last_seen < idle_before,
                c.created_at < created_before,
                and_(c.stage != "full", c.created_at < pending_before),
            ),
        )
        return int((await self.conn.execute(q)).rowcount or 0)

    async def delete_handle(self, account_id: int, handle: str) -> bool:
        c = web_sessions.c
        q = delete(web_sessions).where(c.account_id == account_id, c.handle == handle)
        return bool((await self.conn.execute(q)).rowcount)

    async def rekey(
        self, old_hash: str, new_hash: str, csrf: str, *, stage: str, reauth_at: datetime | None
    ) -> bool:
        q = (
            update(web_sessions)
            .where(web_sessions.c.id_hash == old_hash)
            .values(id_hash=new_hash, csrf=csrf, stage=stage, reauth_at=reauth_at)
        )
        return bool((await self.conn.execute(q)).rowcount)

    async def set_reauth(self, id_hash: str, when: datetime) -> None:
        await self.conn.execute(
            update(web_sessions).where(web_sessions.c.id_hash == id_hash).values(reauth_at=when)
        )

    async def count_second_factor_failure(self, id_hash: str) -> int:
        c = web_sessions.c
        q = (
            update(web_sessions)
            .where(c.id_hash == id_hash)
            .values(second_factor_failures=c.second_factor_failures + 1)
            .returning(c.second_factor_failures)
        )
        row = (await self.conn.execute(q)).first()
        return int(row[0]) if row else 0

    async def touch(self, id_hash: str, when: datetime) -> None:
        await self.conn.execute(
            update(web_sessions).where(web_sessions.c.id_hash == id_hash).values(last_seen=when)
        )

    async def delete(self, id_hash: str) -> None:
        await self.conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))

    async def delete_for_account(self, account_id: int, except_hash: str | None = None) -> int:
        q = delete(web_sessions).where(web_sessions.c.account_id == account_id)
        if except_hash is not None:
            q = q.where(web_sessions.c.id_hash != except_hash)
        return int((await self.conn.execute(q)).rowcount or 0)


class SqlApiTokenRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(
        self,
        token_hash: str,
        account_id: int,
        name: str,
        expires_on: date | None,
        created_at: datetime,
    ) -> None:
        await self.conn.execute(
            api_tokens.insert().values(
                token_hash=token_hash,
                account_id=account_id,
                name=name,
                expires_on=expires_on,
                created_at=created_at,
            )
        )

    async def get(self, token_hash: str) -> tuple[int, date | None] | None:
        q = select(api_tokens).where(api_tokens.c.token_hash == token_hash)
        r = (await self.conn.execute(q)).mappings().first()
        return (r["account_id"], r["expires_on"]) if r else None

    async def list_for_account(self, account_id: int) -> list[ApiTokenRecord]:
        c = api_tokens.c
        q = (
            select(api_tokens)
            .where(c.account_id == account_id)
            .order_by(c.created_at.desc().nulls_last(), c.name, c.token_hash)
        )
        return [
            ApiTokenRecord(
                handle=r["token_hash"][:API_TOKEN_HANDLE_LENGTH],
                account_id=r["account_id"],
                name=r["name"],
                created_at=r["created_at"],
                expires_on=r["expires_on"],
            )
            for r in (await self.conn.execute(q)).mappings()
        ]

    async def delete(self, handle: str, account_id: int) -> bool:
        c = api_tokens.c
        q = delete(api_tokens).where(
            c.account_id == account_id, c.token_hash.startswith(handle, autoescape=True)
        )
        return bool((await self.conn.execute(q)).rowcount)

    async def delete_for_account(self, account_id: int) -> int:
        q = delete(api_tokens).where(api_tokens.c.account_id == account_id)
        return int((await self.conn.execute(q)).rowcount or 0)
