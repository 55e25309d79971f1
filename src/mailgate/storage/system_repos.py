"""Repositories for the audit log, web sessions and API tokens."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from mailgate.domain.audit import GENESIS, AuditEvent
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


class SqlWebSessionRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(
        self, id_hash: str, account_id: int, csrf: str, created: datetime, user_agent: str, ip: str
    ) -> None:
        await self.conn.execute(
            web_sessions.insert().values(
                id_hash=id_hash,
                account_id=account_id,
                csrf=csrf,
                created_at=created,
                last_seen=created,
                user_agent=user_agent[:400],
                ip=ip,
            )
        )

    async def get(self, id_hash: str) -> tuple[int, str, datetime, datetime] | None:
        q = select(web_sessions).where(web_sessions.c.id_hash == id_hash)
        r = (await self.conn.execute(q)).mappings().first()
        return (r["account_id"], r["csrf"], r["created_at"], r["last_seen"]) if r else None

    async def touch(self, id_hash: str, when: datetime) -> None:
        await self.conn.execute(
            update(web_sessions).where(web_sessions.c.id_hash == id_hash).values(last_seen=when)
        )

    async def delete(self, id_hash: str) -> None:
        await self.conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))


class SqlApiTokenRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(
        self, token_hash: str, account_id: int, name: str, expires_on: date | None
    ) -> None:
        await self.conn.execute(
            api_tokens.insert().values(
                token_hash=token_hash, account_id=account_id, name=name, expires_on=expires_on
            )
        )

    async def get(self, token_hash: str) -> tuple[int, date | None] | None:
        q = select(api_tokens).where(api_tokens.c.token_hash == token_hash)
        r = (await self.conn.execute(q)).mappings().first()
        return (r["account_id"], r["expires_on"]) if r else None
