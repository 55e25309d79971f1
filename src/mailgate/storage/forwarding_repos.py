"""The repository of account forwarding (domain.forwarding)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mailgate.domain.forwarding import Forwarding
from mailgate.storage.tables import account_forwarding


class SqlForwardingRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, account_id: int) -> Forwarding | None:
        c = account_forwarding.c
        q = select(account_forwarding).where(c.account_id == account_id)
        r = (await self.conn.execute(q)).mappings().first()
        if r is None:
            return None
        return Forwarding(
            account_id=r["account_id"],
            target=r["target"],
            keep_copy=bool(r["keep_copy"]),
            created_at=r["created_at"],
            verified_at=r["verified_at"],
        )

    async def put(self, forwarding: Forwarding) -> None:
        await self.delete(forwarding.account_id)
        await self.conn.execute(
            account_forwarding.insert().values(
                account_id=forwarding.account_id,
                target=forwarding.target,
                keep_copy=forwarding.keep_copy,
                created_at=forwarding.created_at,
                verified_at=forwarding.verified_at,
            )
        )

    async def mark_verified(self, account_id: int, when: datetime) -> None:
        c = account_forwarding.c
        await self.conn.execute(
            update(account_forwarding).where(c.account_id == account_id).values(verified_at=when)
        )

    async def delete(self, account_id: int) -> bool:
        c = account_forwarding.c
        result = await self.conn.execute(
            delete(account_forwarding).where(c.account_id == account_id)
        )
        return bool(result.rowcount)
