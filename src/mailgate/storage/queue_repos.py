"""The outbound queue and the DKIM keys in SQL (SQLAlchemy Core).

A queued message counts one reference in `blobs`, exactly like a stored message, so the mail
store's garbage collector keeps its body until the queue releases it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mailgate.domain.errors import Conflict
from mailgate.domain.queue import DkimKey, QueueItem, QueueRecipient, RecipientState
from mailgate.storage.tables import (
    blobs,
    dkim_keys,
    domains,
    outbound_messages,
    outbound_recipients,
)

_PENDING = [RecipientState.QUEUED.value, RecipientState.DEFERRED.value]


def _recipient(r: Mapping[Any, Any]) -> QueueRecipient:
    return QueueRecipient(
        id=r["id"],
        address=r["address"],
        domain=r["domain"],
        state=RecipientState(r["state"]),
        attempts=r["attempts"],
        next_attempt=r["next_attempt_at"],
        last_error=r["last_error"],
        status=r["status"],
    )


def _item(r: Mapping[Any, Any]) -> QueueItem:
    return QueueItem(
        id=r["id"],
        mail_from=r["mail_from"],
        blob_id=r["blob_id"],
        size=r["size"],
        created_at=r["created_at"],
        org_id=r["org_id"],
    )


class SqlQueueRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _blob_refs(self, blob_id: str, size: int, delta: int) -> None:
        if delta < 0:
            await self.conn.execute(
                update(blobs).where(blobs.c.id == blob_id).values(refcount=blobs.c.refcount + delta)
            )
            return
        dialect = self.conn.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(blobs)
        stmt = ins.values(
            id=blob_id, size=size, refcount=delta, created_at=datetime.now(UTC)
        ).on_conflict_do_update(
            index_elements=[blobs.c.id], set_={"refcount": blobs.c.refcount + ins.excluded.refcount}
        )
        await self.conn.execute(stmt)

    async def add(
        self,
        mail_from: str,
        blob_id: str,
        size: int,
        org_id: int | None,
        created_at: datetime,
        recipients: Sequence[tuple[str, str]],
    ) -> int:
        await self._blob_refs(blob_id, size, 1)
        res = await self.conn.execute(
            outbound_messages.insert().values(
                mail_from=mail_from,
                blob_id=blob_id,
                size=size,
                org_id=org_id,
                created_at=created_at,
                released=False,
            )
        )
        assert res.inserted_primary_key is not None  # noqa: S101
        item_id = int(res.inserted_primary_key[0])
        await self.conn.execute(
            outbound_recipients.insert(),
            [
                {
                    "message_id": item_id,
                    "address": address,
                    "domain": domain,
                    "state": RecipientState.QUEUED.value,
                    "attempts": 0,
                    "next_attempt_at": created_at,
                    "last_error": "",
                    "status": "",
                }
                for address, domain in recipients
            ],
        )
        return item_id

    async def _with_recipients(self, items: list[QueueItem]) -> list[QueueItem]:
        if not items:
            return items
        q = (
            select(outbound_recipients)
            .where(outbound_recipients.c.message_id.in_([i.id for i in items]))
            .order_by(outbound_recipients.c.id)
        )
        by_item: defaultdict[int, list[QueueRecipient]] = defaultdict(list)
        for r in (await self.conn.execute(q)).mappings():
            by_item[int(r["message_id"])].append(_recipient(r))
        for item in items:
            item.recipients = by_item[item.id]
        return items

    async def get(self, item_id: int) -> QueueItem | None:
        q = select(outbound_messages).where(outbound_messages.c.id == item_id)
        row = (await self.conn.execute(q)).mappings().first()
        if row is None:
            return None
        return (await self._with_recipients([_item(row)]))[0]

    async def due(self, now: datetime, limit: int) -> list[QueueItem]:
        due_ids = (
            select(outbound_recipients.c.message_id)
            .where(
                outbound_recipients.c.state.in_(_PENDING),
                outbound_recipients.c.next_attempt_at <= now,
            )
            .distinct()
        )
        q = (
            select(outbound_messages)
            .where(outbound_messages.c.id.in_(due_ids))
            .order_by(outbound_messages.c.id)
            .limit(limit)
        )
        rows = (await self.conn.execute(q)).mappings()
        return await self._with_recipients([_item(r) for r in rows])

    async def list(
        self, org_ids: frozenset[int] | None, include_done: bool, offset: int, limit: int
    ) -> tuple[list[QueueItem], int]:
        q = select(outbound_messages)
        if org_ids is not None:
            q = q.where(outbound_messages.c.org_id.in_(org_ids))
        if not include_done:
            q = q.where(outbound_messages.c.released.is_(False))
        total = await self.conn.scalar(select(func.count()).select_from(q.subquery()))
        q = q.order_by(outbound_messages.c.id).offset(offset).limit(limit)
        rows = (await self.conn.execute(q)).mappings()
        return await self._with_recipients([_item(r) for r in rows]), int(total or 0)

    async def update_recipients(self, recipients: Sequence[QueueRecipient]) -> None:
        if not recipients:
            return
        await self.conn.execute(
            update(outbound_recipients)
            .where(outbound_recipients.c.id == bindparam("r_id"))
            .values(
                state=bindparam("r_state"),
                attempts=bindparam("r_attempts"),
                next_attempt_at=bindparam("r_next"),
                last_error=bindparam("r_error"),
                status=bindparam("r_status"),
            ),
            [
                {
                    "r_id": r.id,
                    "r_state": r.state.value,
                    "r_attempts": r.attempts,
                    "r_next": r.next_attempt,
                    "r_error": r.last_error[:500],
                    "r_status": r.status[:16],
                }
                for r in recipients
            ],
        )

    async def release(self, item_id: int) -> bool:
        res = await self.conn.execute(
            update(outbound_messages)
            .where(outbound_messages.c.id == item_id, outbound_messages.c.released.is_(False))
            .values(released=True)
            .returning(outbound_messages.c.blob_id, outbound_messages.c.size)
        )
        row = res.first()
        if row is None:
            return False
        await self._blob_refs(str(row[0]), int(row[1]), -1)
        return True

    async def delete(self, item_id: int) -> None:
        await self.release(item_id)
        await self.conn.execute(
            delete(outbound_recipients).where(outbound_recipients.c.message_id == item_id)
        )
        await self.conn.execute(delete(outbound_messages).where(outbound_messages.c.id == item_id))


class SqlDkimKeyRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, key: DkimKey) -> None:
        domain_id = await self.conn.scalar(select(domains.c.id).where(domains.c.name == key.domain))
        if domain_id is None:
            raise Conflict(f"the domain {key.domain} is not registered")
        try:
            await self.conn.execute(
                dkim_keys.insert().values(
                    domain_id=domain_id,
                    selector=key.selector,
                    private_key=key.private_pem,
                    public_key=key.public_b64,
                    created_at=key.created_at,
                )
            )
        except IntegrityError as exc:
            raise Conflict(f"{key.domain} already has a DKIM key {key.selector!r}") from exc

    async def for_domain(self, ascii_domain: str) -> DkimKey | None:
        q = (
            select(dkim_keys, domains.c.name)
            .join(domains, domains.c.id == dkim_keys.c.domain_id)
            .where(domains.c.name == ascii_domain)
            .order_by(dkim_keys.c.id.desc())
            .limit(1)
        )
        r = (await self.conn.execute(q)).mappings().first()
        if r is None:
            return None
        return DkimKey(r["name"], r["selector"], r["private_key"], r["public_key"], r["created_at"])
