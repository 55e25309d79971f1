"""The mail store for mailbox sessions (IMAP, POP3): folders, flags, expunge, copy, changes.

SQLAlchemy Core only, no ORM objects: SELECT of a 10,000-message folder is one query. Every
change to a mailbox runs with its `mailboxes` row locked (`get(..., lock=True)`; the SQLite
writer is serialised anyway), so MODSEQs and UIDs are allocated without races. Lock order, to
stay free of deadlocks on PostgreSQL (the same as `SqlMailRepo.append`): mailbox rows (ascending
id), then blob rows (ascending id), then the account row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from mailgate.domain.errors import QuotaExceeded
from mailgate.domain.mail import Flag, HeaderFields, Mailbox, SpecialUse
from mailgate.domain.mailbox import (
    FolderStatus,
    MessageMeta,
    MessageState,
    SearchCriteria,
    Snapshot,
    UidSet,
    fold,
)
from mailgate.storage.tables import accounts, blob_texts, blobs, mailboxes, messages, vanished

RANGES_PER_STATEMENT = 200  # SQLite parses `a OR b OR ...` into a tree at most 1000 deep
IDS_PER_STATEMENT = 500


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


def _state(uid: int, modseq: int, flags: int, kws: Any) -> MessageState:
    return MessageState(uid, modseq, flags, tuple(kws) if kws else ())


def _uid_chunks(
    uids: UidSet | None, col: ColumnElement[int] = messages.c.uid
) -> Iterator[ColumnElement[bool] | None]:
    """WHERE clauses covering `uids` a few hundred ranges at a time (None: every UID)."""
    if uids is None:
        yield None
        return
    for start in range(0, len(uids.ranges), RANGES_PER_STATEMENT):
        chunk = uids.ranges[start : start + RANGES_PER_STATEMENT]
        yield or_(*(col == lo if lo == hi else col.between(lo, hi) for lo, hi in chunk))


def _day(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _header_has(head: str, name: str, needle: str) -> bool:
    prefix = fold(name) + ":"
    return any(
        line.startswith(prefix) and needle in line[len(prefix) :] for line in head.split("\n")
    )


class SqlMailboxRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # --- folders ------------------------------------------------------------------------------

    async def get(self, account_id: int, mailbox_id: int, *, lock: bool = False) -> Mailbox | None:
        q = select(mailboxes).where(
            mailboxes.c.id == mailbox_id, mailboxes.c.account_id == account_id
        )
        row = (await self.conn.execute(q.with_for_update() if lock else q)).mappings().first()
        return _mailbox(row) if row else None

    async def by_name(self, account_id: int, name: str, *, lock: bool = False) -> Mailbox | None:
        q = select(mailboxes).where(mailboxes.c.account_id == account_id, mailboxes.c.name == name)
        row = (await self.conn.execute(q.with_for_update() if lock else q)).mappings().first()
        return _mailbox(row) if row else None

    async def subtree(self, account_id: int, name: str, *, lock: bool = False) -> list[Mailbox]:
        """The folder `name` and every folder below it, by id."""
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = (
            select(mailboxes)
            .where(
                mailboxes.c.account_id == account_id,
                or_(mailboxes.c.name == name, mailboxes.c.name.like(escaped + "/%", escape="\\")),
            )
            .order_by(mailboxes.c.id)
        )
        rows = (await self.conn.execute(q.with_for_update() if lock else q)).mappings()
        return [_mailbox(r) for r in rows]

    async def statuses(self, account_id: int, mailbox_id: int | None = None) -> list[FolderStatus]:
        seen = messages.c.flags.op("&")(int(Flag.SEEN))
        deleted = messages.c.flags.op("&")(int(Flag.DELETED))
        counts = (
            select(
                messages.c.mailbox_id.label("mid"),
                func.count().label("n"),
                func.sum(case((seen == 0, 1), else_=0)).label("unseen"),
                func.sum(case((deleted != 0, 1), else_=0)).label("deleted"),
                func.sum(messages.c.size).label("size"),
            )
            .join(mailboxes, mailboxes.c.id == messages.c.mailbox_id)
            .where(mailboxes.c.account_id == account_id)
            .group_by(messages.c.mailbox_id)
        )
        if mailbox_id is not None:
            counts = counts.where(messages.c.mailbox_id == mailbox_id)
        sub = counts.subquery()
        q = (
            select(mailboxes, sub.c.n, sub.c.unseen, sub.c.deleted, sub.c.size)
            .select_from(mailboxes.outerjoin(sub, sub.c.mid == mailboxes.c.id))
            .where(mailboxes.c.account_id == account_id)
            .order_by(mailboxes.c.id)
        )
        if mailbox_id is not None:
            q = q.where(mailboxes.c.id == mailbox_id)
        return [
            FolderStatus(
                id=r["id"],
                name=r["name"],
                special_use=SpecialUse(r["special_use"]) if r["special_use"] else None,
                subscribed=r["subscribed"],
                uidvalidity=r["uidvalidity"],
                uidnext=r["uidnext"],
                highestmodseq=r["highestmodseq"],
                messages=int(r["n"] or 0),
                unseen=int(r["unseen"] or 0),
                deleted=int(r["deleted"] or 0),
                size=int(r["size"] or 0),
            )
            for r in (await self.conn.execute(q)).mappings()
        ]

    async def next_uidvalidity(self, account_id: int, at_least: int) -> int:
        """A UIDVALIDITY above every one the account's folders ever had (locks the account)."""
        current = await self.conn.scalar(
            select(func.max(mailboxes.c.uidvalidity)).where(mailboxes.c.account_id == account_id)
        )
        floor = max(at_least, int(current or 0) + 1)
        nxt = accounts.c.uidvalidity_seq + 1
        stmt = (
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(uidvalidity_seq=case((nxt > floor, nxt), else_=floor))
            .returning(accounts.c.uidvalidity_seq)
        )
        return int((await self.conn.execute(stmt)).scalar_one())

    async def create(
        self,
        account_id: int,
        name: str,
        special_use: SpecialUse | None,
        uidvalidity: int,
        *,
        uidnext: int = 1,
        highestmodseq: int = 1,
    ) -> int:
        stmt = (
            insert(mailboxes)
            .values(
                account_id=account_id,
                name=name,
                special_use=special_use.value if special_use else None,
                uidvalidity=uidvalidity,
                uidnext=uidnext,
                highestmodseq=highestmodseq,
                subscribed=True,
            )
            .returning(mailboxes.c.id)
        )
        return int((await self.conn.execute(stmt)).scalar_one())

    async def delete(self, account_id: int, mailbox_id: int) -> None:
        """Remove a folder and its messages, releasing their blob references and quota."""
        await self._release(account_id, [mailbox_id], None)
        await self.conn.execute(delete(mailboxes).where(mailboxes.c.id == mailbox_id))

    async def rename(self, mailbox_id: int, name: str, uidvalidity: int) -> None:
        """New name and UIDVALIDITY; tombstones of the old UIDVALIDITY are dropped."""
        await self.conn.execute(
            update(mailboxes)
            .where(mailboxes.c.id == mailbox_id)
            .values(name=name, uidvalidity=uidvalidity)
        )
        await self.conn.execute(delete(vanished).where(vanished.c.mailbox_id == mailbox_id))

    async def transfer_all(self, source: Mailbox, target_id: int) -> None:
        """Move every message of `source` (locked) to the new, empty `target_id`, UIDs kept;
        `source` keeps its UIDNEXT and gets tombstones (RENAME INBOX)."""
        modseq = await self.bump_modseq(source.id)
        uids = list(
            (
                await self.conn.execute(
                    select(messages.c.uid).where(messages.c.mailbox_id == source.id)
                )
            ).scalars()
        )
        await self.conn.execute(
            update(messages).where(messages.c.mailbox_id == source.id).values(mailbox_id=target_id)
        )
        if uids:
            await self.conn.execute(
                insert(vanished),
                [{"mailbox_id": source.id, "uid": u, "modseq": modseq} for u in uids],
            )
        await self.conn.execute(
            update(mailboxes)
            .where(mailboxes.c.id == target_id)
            .values(uidnext=source.uidnext, highestmodseq=modseq)
        )

    async def set_subscribed(self, mailbox_id: int, subscribed: bool) -> None:
        await self.conn.execute(
            update(mailboxes).where(mailboxes.c.id == mailbox_id).values(subscribed=subscribed)
        )

    # --- messages -----------------------------------------------------------------------------

    async def snapshot(self, account_id: int, mailbox_id: int) -> Snapshot | None:
        """One statement, so the counters and the rows agree on PostgreSQL too."""
        q = (
            select(
                mailboxes.c.name,
                mailboxes.c.uidvalidity,
                mailboxes.c.uidnext,
                mailboxes.c.highestmodseq,
                messages.c.uid,
                messages.c.modseq,
                messages.c.flags,
                messages.c.keywords,
            )
            .select_from(mailboxes.outerjoin(messages, messages.c.mailbox_id == mailboxes.c.id))
            .where(mailboxes.c.id == mailbox_id, mailboxes.c.account_id == account_id)
            .order_by(messages.c.uid)
        )
        rows = (await self.conn.execute(q)).all()
        if not rows:
            return None
        name, uidvalidity, uidnext, highest = rows[0][:4]
        states = [_state(u, m, f, k) for *_, u, m, f, k in rows if u is not None]
        return Snapshot(mailbox_id, name, uidvalidity, uidnext, highest, states)

    async def states(self, mailbox_id: int, uids: UidSet | None) -> list[tuple[int, MessageState]]:
        """(message id, state) of the messages in `uids`, in UID order."""
        out: list[tuple[int, MessageState]] = []
        cols = (messages.c.id, messages.c.uid, messages.c.modseq, messages.c.flags)
        for clause in _uid_chunks(uids):
            q = select(*cols, messages.c.keywords).where(messages.c.mailbox_id == mailbox_id)
            if clause is not None:
                q = q.where(clause)
            rows = await self.conn.execute(q.order_by(messages.c.uid))
            out.extend((i, _state(u, m, f, k)) for i, u, m, f, k in rows)
        return out

    async def bump_modseq(self, mailbox_id: int) -> int:
        """The mailbox's next MODSEQ (now its HIGHESTMODSEQ)."""
        stmt = (
            update(mailboxes)
            .where(mailboxes.c.id == mailbox_id)
            .values(highestmodseq=mailboxes.c.highestmodseq + 1)
            .returning(mailboxes.c.highestmodseq)
        )
        return int((await self.conn.execute(stmt)).scalar_one())

    async def write_states(
        self, rows: Sequence[tuple[int, int, tuple[str, ...]]], modseq: int
    ) -> None:
        """Set (message id, flags, keywords) with `modseq`."""
        if rows:
            await self.conn.execute(
                update(messages)
                .where(messages.c.id == bindparam("m_id"))
                .values(flags=bindparam("m_flags"), keywords=bindparam("m_kw"), modseq=modseq),
                [{"m_id": i, "m_flags": f, "m_kw": list(k)} for i, f, k in rows],
            )

    async def metadata(self, mailbox_id: int, uids: UidSet | None) -> list[MessageMeta]:
        out: list[MessageMeta] = []
        for clause in _uid_chunks(uids):
            q = select(messages).where(messages.c.mailbox_id == mailbox_id)
            if clause is not None:
                q = q.where(clause)
            for r in (await self.conn.execute(q.order_by(messages.c.uid))).mappings():
                out.append(
                    MessageMeta(
                        id=r["id"],
                        uid=r["uid"],
                        modseq=r["modseq"],
                        flags=r["flags"],
                        keywords=tuple(r["keywords"] or ()),
                        internal_date=r["internal_date"],
                        size=r["size"],
                        blob_id=r["blob_id"],
                        mime=r["mime"],
                        headers=HeaderFields(
                            subject=r["subject"],
                            from_=r["from_"],
                            to=r["to"],
                            cc=r["cc"],
                            message_id=r["message_id"],
                            date=r["date"],
                        ),
                    )
                )
        return out

    async def cache_mime(self, account_id: int, message_ids: Sequence[int], mime: str) -> None:
        owned = select(mailboxes.c.id).where(mailboxes.c.account_id == account_id)
        for start in range(0, len(message_ids), IDS_PER_STATEMENT):
            chunk = list(message_ids[start : start + IDS_PER_STATEMENT])
            await self.conn.execute(
                update(messages)
                .where(messages.c.id.in_(chunk), messages.c.mailbox_id.in_(owned))
                .values(mime=mime)
            )

    async def _charge(self, account_id: int, delta: int, enforce: bool) -> None:
        stmt = (
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(quota_used=accounts.c.quota_used + delta)
            .returning(accounts.c.quota_used, accounts.c.quota)
        )
        used, quota = (await self.conn.execute(stmt)).one()
        if enforce and delta > 0 and used > quota:
            raise QuotaExceeded("the mailbox is full")

    async def _unref(self, blob_counts: Counter[str]) -> None:
        if blob_counts:
            await self.conn.execute(
                update(blobs)
                .where(blobs.c.id == bindparam("b_id"))
                .values(refcount=blobs.c.refcount - bindparam("b_n")),
                [{"b_id": b, "b_n": n} for b, n in sorted(blob_counts.items())],
            )

    async def _release(
        self, account_id: int, mailbox_ids: Sequence[int], ids: Sequence[int] | None
    ) -> None:
        """Drop blob references and quota usage of messages (all of the mailboxes, or `ids`)."""
        q = select(messages.c.blob_id, func.count(), func.sum(messages.c.size)).where(
            messages.c.mailbox_id.in_(list(mailbox_ids))
        )
        counts: Counter[str] = Counter()
        total = 0
        chunks = (
            [None]
            if ids is None
            else [ids[s : s + IDS_PER_STATEMENT] for s in range(0, len(ids), IDS_PER_STATEMENT)]
        )
        for chunk in chunks:
            qq = q if chunk is None else q.where(messages.c.id.in_(list(chunk)))
            for blob_id, n, size in await self.conn.execute(qq.group_by(messages.c.blob_id)):
                counts[blob_id] += int(n)
                total += int(size or 0)
        await self._unref(counts)
        if total:
            await self._charge(account_id, -total, enforce=False)

    async def expunge(
        self, account_id: int, mailbox_id: int, uids: UidSet | None, only_deleted: bool
    ) -> list[int]:
        """Remove messages (those flagged \\Deleted, when `only_deleted`), leave tombstones,
        release blobs and quota. The mailbox must be locked. Returns the UIDs removed."""
        found: list[tuple[int, int]] = []
        for clause in _uid_chunks(uids):
            q = select(messages.c.id, messages.c.uid).where(messages.c.mailbox_id == mailbox_id)
            if clause is not None:
                q = q.where(clause)
            if only_deleted:
                q = q.where(messages.c.flags.op("&")(int(Flag.DELETED)) != 0)
            found.extend((int(i), int(u)) for i, u in await self.conn.execute(q))
        if not found:
            return []
        ids = [i for i, _ in found]
        await self._release(account_id, [mailbox_id], ids)
        for start in range(0, len(ids), IDS_PER_STATEMENT):
            chunk = ids[start : start + IDS_PER_STATEMENT]
            await self.conn.execute(delete(messages).where(messages.c.id.in_(chunk)))
        modseq = await self.bump_modseq(mailbox_id)
        uid_list = sorted(u for _, u in found)
        await self.conn.execute(
            insert(vanished),
            [{"mailbox_id": mailbox_id, "uid": u, "modseq": modseq} for u in uid_list],
        )
        return uid_list

    async def copy(
        self, account_id: int, source_id: int, target_id: int, uids: UidSet, enforce_quota: bool
    ) -> list[tuple[int, int]]:
        """Copy messages with their flags, keywords, dates and cached structure; new UIDs in
        order. Both mailboxes must be locked. Raises QuotaExceeded when `enforce_quota` and the
        copies do not fit."""
        rows: list[dict[str, Any]] = []
        for clause in _uid_chunks(uids):
            q = select(messages).where(messages.c.mailbox_id == source_id)
            if clause is not None:
                q = q.where(clause)
            rows.extend(
                dict(r) for r in (await self.conn.execute(q.order_by(messages.c.uid))).mappings()
            )
        if not rows:
            return []
        n = len(rows)
        stmt = (
            update(mailboxes)
            .where(mailboxes.c.id == target_id)
            .values(uidnext=mailboxes.c.uidnext + n, highestmodseq=mailboxes.c.highestmodseq + 1)
            .returning(mailboxes.c.uidnext, mailboxes.c.highestmodseq)
        )
        uidnext, modseq = (await self.conn.execute(stmt)).one()
        first = int(uidnext) - n
        pairs: list[tuple[int, int]] = []
        for offset, row in enumerate(rows):
            pairs.append((row["uid"], first + offset))
            del row["id"]
            row.update(mailbox_id=target_id, uid=first + offset, modseq=int(modseq))
        counts = Counter(r["blob_id"] for r in rows)
        await self.conn.execute(
            update(blobs)
            .where(blobs.c.id == bindparam("b_id"))
            .values(refcount=blobs.c.refcount + bindparam("b_n")),
            [{"b_id": b, "b_n": c} for b, c in sorted(counts.items())],
        )
        await self._charge(account_id, sum(r["size"] for r in rows), enforce_quota)
        await self.conn.execute(insert(messages), rows)
        return pairs

    async def changes(
        self, mailbox_id: int, since: int, uids: UidSet | None
    ) -> tuple[list[MessageState], list[int]]:
        """States with MODSEQ above `since` and UIDs expunged after it, within `uids`."""
        changed: list[MessageState] = []
        gone: list[int] = []
        cols = (messages.c.uid, messages.c.modseq, messages.c.flags, messages.c.keywords)
        for clause in _uid_chunks(uids):
            q = select(*cols).where(messages.c.mailbox_id == mailbox_id, messages.c.modseq > since)
            if clause is not None:
                q = q.where(clause)
            changed.extend(_state(*r) for r in await self.conn.execute(q.order_by(messages.c.uid)))
        for clause in _uid_chunks(uids, vanished.c.uid):
            v = select(vanished.c.uid).where(
                vanished.c.mailbox_id == mailbox_id, vanished.c.modseq > since
            )
            if clause is not None:
                v = v.where(clause)
            gone.extend(int(u) for u in (await self.conn.execute(v)).scalars())
        return changed, sorted(gone)

    # --- quota, POP3 --------------------------------------------------------------------------

    async def usage(self, account_id: int) -> tuple[int, int, int]:
        """(quota, used) in bytes and the number of messages of the account."""
        quota, used = (
            await self.conn.execute(
                select(accounts.c.quota, accounts.c.quota_used).where(accounts.c.id == account_id)
            )
        ).one()
        count = await self.conn.scalar(
            select(func.count())
            .select_from(messages.join(mailboxes, mailboxes.c.id == messages.c.mailbox_id))
            .where(mailboxes.c.account_id == account_id)
        )
        return int(quota), int(used), int(count or 0)

    async def listing(self, mailbox_id: int) -> list[tuple[int, int, str]]:
        q = (
            select(messages.c.uid, messages.c.size, messages.c.blob_id)
            .where(messages.c.mailbox_id == mailbox_id)
            .order_by(messages.c.uid)
        )
        return [(int(u), int(s), str(b)) for u, s, b in await self.conn.execute(q)]

    # --- search -------------------------------------------------------------------------------

    async def search(self, mailbox_id: int, c: SearchCriteria) -> list[int]:
        """UIDs matching every criterion: SQL for dates, sizes, flags, UIDs and full text;
        Python (case-folded) for header substrings and keywords."""
        m = messages
        where: list[ColumnElement[bool]] = [m.c.mailbox_id == mailbox_id]
        if c.since:
            where.append(m.c.internal_date >= _day(c.since))
        if c.before:
            where.append(m.c.internal_date < _day(c.before))
        if c.on:
            where.append(m.c.internal_date >= _day(c.on))
            where.append(m.c.internal_date < _day(c.on + timedelta(days=1)))
        if c.sent_since:
            where.append(m.c.date >= _day(c.sent_since))
        if c.sent_before:
            where.append(m.c.date < _day(c.sent_before))
        if c.sent_on:
            where.append(m.c.date >= _day(c.sent_on))
            where.append(m.c.date < _day(c.sent_on + timedelta(days=1)))
        if c.larger is not None:
            where.append(m.c.size > c.larger)
        if c.smaller is not None:
            where.append(m.c.size < c.smaller)
        if c.flags_set:
            where.append(m.c.flags.op("&")(c.flags_set) == c.flags_set)
        if c.flags_unset:
            where.append(m.c.flags.op("&")(c.flags_unset) == 0)
        if c.modseq is not None:
            where.append(m.c.modseq >= c.modseq)
        needs_text = bool(c.body or c.text or c.header)
        for term in c.body:
            where.append(blob_texts.c.body.like(_like(fold(term)), escape="\\"))
        for term in c.text:
            pattern = _like(fold(term))
            where.append(
                or_(
                    blob_texts.c.head.like(pattern, escape="\\"),
                    blob_texts.c.body.like(pattern, escape="\\"),
                )
            )
        cols: list[Any] = [m.c.uid, m.c.subject, m.c.from_, m.c.to, m.c.cc, m.c.keywords]
        source: Any = m
        if needs_text:
            cols.append(blob_texts.c.head)
            source = m.join(blob_texts, blob_texts.c.blob_id == m.c.blob_id)
        header_terms = [
            (i, tuple(fold(t) for t in terms))
            for i, terms in ((1, c.subject), (2, c.from_), (3, c.to), (4, c.cc))
            if terms
        ]
        want_kw = [k.casefold() for k in c.keywords_set]
        no_kw = {k.casefold() for k in c.keywords_unset}
        wanted_headers = [(name, fold(v)) for name, v in c.header]
        found: list[int] = []
        for clause in _uid_chunks(c.uids):
            q = select(*cols).select_from(source).where(and_(*where))
            if clause is not None:
                q = q.where(clause)
            for row in await self.conn.execute(q):
                if any(not all(t in fold(row[i]) for t in terms) for i, terms in header_terms):
                    continue
                if want_kw or no_kw:
                    have = {k.casefold() for k in row[5] or ()}
                    if not all(k in have for k in want_kw) or have & no_kw:
                        continue
                if wanted_headers and not all(_header_has(row[6], n, v) for n, v in wanted_headers):
                    continue
                found.append(int(row[0]))
        return sorted(found)
