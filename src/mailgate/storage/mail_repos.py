"""The mail store's SQL side: mailboxes, message metadata, blob reference counts, quota usage.

SQLAlchemy Core throughout: delivery and IMAP are hot paths.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from mailgate.domain.errors import QuotaExceeded
from mailgate.domain.mail import HeaderFields, Mailbox, SpecialUse, StoredMessage
from mailgate.domain.mailbox import MessageText
from mailgate.domain.ports import NewMessage
from mailgate.storage.tables import accounts, blob_texts, blobs, mailboxes, messages


def _mailbox(r: Mapping[Any, Any]) -> Mailbox:
    return Mailbox(
        id=r["id"],
        account_id=r["account_id"],
        name=r["name"],
        special_use=SpecialUse(r["special_use"]) if r["special_use"] else None,
        uidvalidity=r["uidvalidity"],
        uidnext=r["uidnext"],
        highestmodseq=r["highestmodseq"],
        subscribed=r["subscribed"],
    )


def _message(r: Mapping[Any, Any]) -> StoredMessage:
    return StoredMessage(
        id=r["id"],
        mailbox_id=r["mailbox_id"],
        uid=r["uid"],
        modseq=r["modseq"],
        flags=r["flags"],
        keywords=list(r["keywords"]),
        internal_date=r["internal_date"],
        size=r["size"],
        blob_id=r["blob_id"],
        headers=HeaderFields(
            subject=r["subject"],
            from_=r["from_"],
            to=r["to"],
            cc=r["cc"],
            message_id=r["message_id"],
            date=r["date"],
        ),
    )


class SqlMailRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def create_folders(
        self, account_id: int, folders: Sequence[tuple[str, str | None]], uidvalidity: int
    ) -> None:
        await self.conn.execute(
            mailboxes.insert(),
            [
                {
                    "account_id": account_id,
                    "name": name,
                    "special_use": special,
                    "uidvalidity": uidvalidity,
                    "uidnext": 1,
                    "highestmodseq": 1,
                    "subscribed": True,
                }
                for name, special in folders
            ],
        )

    async def mailboxes(self, account_id: int) -> list[Mailbox]:
        q = select(mailboxes).where(mailboxes.c.account_id == account_id).order_by(mailboxes.c.id)
        return [_mailbox(r) for r in (await self.conn.execute(q)).mappings()]

    async def mailbox(self, account_id: int, name: str) -> Mailbox | None:
        q = select(mailboxes).where(mailboxes.c.account_id == account_id, mailboxes.c.name == name)
        row = (await self.conn.execute(q)).mappings().first()
        return _mailbox(row) if row else None

    async def inbox_ids(self, account_ids: Sequence[int]) -> dict[int, int]:
        q = select(mailboxes.c.account_id, mailboxes.c.id).where(
            mailboxes.c.account_id.in_(account_ids), mailboxes.c.name == "INBOX"
        )
        return {int(a): int(m) for a, m in (await self.conn.execute(q)).all()}

    async def quota(self, account_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        q = select(accounts.c.id, accounts.c.quota, accounts.c.quota_used).where(
            accounts.c.id.in_(account_ids)
        )
        return {int(i): (int(qt), int(u)) for i, qt, u in (await self.conn.execute(q)).all()}

    async def _add_blob_refs(self, counts: Counter[str], sizes: dict[str, int]) -> None:
        now = datetime.now(UTC)
        rows = [
            {"id": b, "size": sizes[b], "refcount": n, "created_at": now}
            for b, n in sorted(counts.items())  # one lock order for every writer
        ]
        dialect = self.conn.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(blobs)
        stmt = ins.on_conflict_do_update(
            index_elements=[blobs.c.id], set_={"refcount": blobs.c.refcount + ins.excluded.refcount}
        )
        await self.conn.execute(stmt, rows)

    async def append(self, items: Sequence[NewMessage]) -> list[tuple[int, int]]:
        if not items:
            return []
        per_box = Counter(i.mailbox_id for i in items)
        next_uid: dict[int, int] = {}
        next_modseq: dict[int, int] = {}
        for box_id, n in sorted(per_box.items()):
            stmt = (
                update(mailboxes)
                .where(mailboxes.c.id == box_id)
                .values(
                    uidnext=mailboxes.c.uidnext + n,
                    highestmodseq=mailboxes.c.highestmodseq + n,
                )
                .returning(mailboxes.c.uidnext, mailboxes.c.highestmodseq)
            )
            uidnext, highest = (await self.conn.execute(stmt)).one()
            next_uid[box_id] = int(uidnext) - n
            next_modseq[box_id] = int(highest) - n + 1
        rows: list[dict[str, Any]] = []
        placed: list[tuple[int, int]] = []
        usage: defaultdict[int, int] = defaultdict(int)
        for item in items:
            uid = next_uid[item.mailbox_id]
            next_uid[item.mailbox_id] += 1
            modseq = next_modseq[item.mailbox_id]
            next_modseq[item.mailbox_id] += 1
            h = item.headers
            rows.append(
                {
                    "mailbox_id": item.mailbox_id,
                    "uid": uid,
                    "modseq": modseq,
                    "flags": item.flags,
                    "keywords": item.keywords,
                    "internal_date": item.internal_date,
                    "size": item.size,
                    "blob_id": item.blob_id,
                    "subject": h.subject,
                    "from_": h.from_,
                    "to": h.to,
                    "cc": h.cc,
                    "message_id": h.message_id,
                    "date": h.date,
                }
            )
            placed.append((item.mailbox_id, uid))
            usage[item.account_id] += item.size
        await self._add_blob_refs(
            Counter(i.blob_id for i in items), {i.blob_id: i.size for i in items}
        )
        await self.conn.execute(messages.insert(), rows)
        texts = {i.blob_id: i.text for i in items if i.text is not None}
        if texts:
            await self._add_texts(texts)
        enforced = {i.account_id for i in items if i.enforce_quota}
        if enforced:
            await self._charge_checked(usage, enforced)
        else:
            await self.conn.execute(
                update(accounts)
                .where(accounts.c.id == bindparam("b_id"))
                .values(quota_used=accounts.c.quota_used + bindparam("b_delta")),
                [{"b_id": a, "b_delta": d} for a, d in usage.items()],
            )
        return placed

    async def _add_texts(self, texts: Mapping[str, MessageText]) -> None:
        dialect = self.conn.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(blob_texts)
        await self.conn.execute(
            ins.on_conflict_do_nothing(index_elements=[blob_texts.c.blob_id]),
            [{"blob_id": b, "head": t.head, "body": t.body} for b, t in sorted(texts.items())],
        )

    async def _charge_checked(self, usage: Mapping[int, int], enforced: set[int]) -> None:
        """Count usage; raises QuotaExceeded when an enforced account went over its quota."""
        for account_id, delta in sorted(usage.items()):
            stmt = (
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(quota_used=accounts.c.quota_used + delta)
                .returning(accounts.c.quota_used, accounts.c.quota)
            )
            used, quota = (await self.conn.execute(stmt)).one()
            if account_id in enforced and used > quota:
                raise QuotaExceeded("the mailbox is full")

    async def messages(
        self, mailbox_id: int, offset: int, limit: int
    ) -> tuple[list[StoredMessage], int]:
        total = await self.conn.scalar(
            select(func.count()).select_from(messages).where(messages.c.mailbox_id == mailbox_id)
        )
        q = (
            select(messages)
            .where(messages.c.mailbox_id == mailbox_id)
            .order_by(messages.c.uid)
            .offset(offset)
            .limit(limit)
        )
        return [_message(r) for r in (await self.conn.execute(q)).mappings()], int(total or 0)

    async def unreferenced_blobs(self) -> list[str]:
        q = select(blobs.c.id).where(blobs.c.refcount <= 0)
        return [str(b) for b in (await self.conn.execute(q)).scalars()]

    async def known_blobs(self, blob_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(blob_ids), 500):
            chunk = list(blob_ids[start : start + 500])
            q = select(blobs.c.id).where(blobs.c.id.in_(chunk))
            found.update(str(b) for b in (await self.conn.execute(q)).scalars())
        return found

    async def forget_blobs(self, blob_ids: Sequence[str]) -> None:
        if blob_ids:
            await self.conn.execute(
                delete(blobs).where(blobs.c.id.in_(list(blob_ids)), blobs.c.refcount <= 0)
            )
