"""The devices and networks accounts have signed in from (`known_sign_ins`, services.alerts).

Every successful authentication reads here once, through the unique index
(account_id, kind, digest); it writes only for something new or for a `last_seen` more than a
day old, so the mail login path stays one indexed read in the common case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from mailgate.storage.tables import known_sign_ins


def _upsert(conn: AsyncConnection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        known_sign_ins
    )


class SqlKnownSignInRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def seen(
        self, account_id: int, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], datetime]:
        if not keys:
            return {}
        t = known_sign_ins.c
        q = select(t.kind, t.digest, t.last_seen).where(
            t.account_id == account_id,
            or_(*(and_(t.kind == kind, t.digest == digest) for kind, digest in keys)),
        )
        rows = (await self.conn.execute(q)).all()
        return {(r.kind, r.digest): r.last_seen for r in rows}

    async def any_for(self, account_id: int) -> bool:
        q = select(exists().where(known_sign_ins.c.account_id == account_id))
        return bool(await self.conn.scalar(q))

    async def remember(self, account_id: int, kind: str, digest: str, when: datetime) -> bool:
        stmt = (
            _upsert(self.conn)
            .values(
                account_id=account_id, kind=kind, digest=digest, first_seen=when, last_seen=when
            )
            .on_conflict_do_nothing(
                index_elements=[
                    known_sign_ins.c.account_id,
                    known_sign_ins.c.kind,
                    known_sign_ins.c.digest,
                ]
            )
        )
        res = await self.conn.execute(stmt)
        return bool(res.rowcount)

    async def touch(self, account_id: int, kind: str, digest: str, when: datetime) -> None:
        t = known_sign_ins.c
        await self.conn.execute(
            update(known_sign_ins)
            .where(t.account_id == account_id, t.kind == kind, t.digest == digest)
            .values(last_seen=when)
        )

    async def forget(self, account_id: int, keys: Sequence[tuple[str, str]]) -> int:
        if not keys:
            return 0
        t = known_sign_ins.c
        res = await self.conn.execute(
            delete(known_sign_ins).where(
                t.account_id == account_id,
                or_(*(and_(t.kind == kind, t.digest == digest) for kind, digest in keys)),
            )
        )
        return int(res.rowcount or 0)
