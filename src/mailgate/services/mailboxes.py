"""Mailbox sessions: everything our IMAP and POP3 servers ask of the mail store.

One call, one transaction. Callers are authenticated sessions: every method takes the
account id (from `AuthenticationService`) and refuses folders of other accounts with NotFound.
Changes are published on the `MailboxEvents` bus after they commit, so other sessions (IDLE)
learn of them without polling. Folder names are Unicode (NFC) with "/" as the delimiter; the
servers translate modified UTF-7 and sequence numbers. UID sets come resolved (no `*`).

Errors: NotFound (no such folder: IMAP `NO [TRYCREATE]` / `[NONEXISTENT]`), Conflict (folder
exists: `[ALREADYEXISTS]`), InvalidInput (bad name, flag or keyword: `BAD`/`NO`),
RuleViolation (INBOX may not be deleted, a folder not moved into itself: `NO`),
QuotaExceeded (`NO [OVERQUOTA]`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mailgate.domain.errors import Conflict, InvalidInput, NotFound, QuotaExceeded, RuleViolation
from mailgate.domain.mail import HIERARCHY_DELIMITER, Mailbox, SpecialUse, header_fields
from mailgate.domain.mailbox import (
    INBOX,
    MAX_KEYWORDS_PER_MESSAGE,
    AppendResult,
    ChangeKind,
    Changes,
    CopyResult,
    FolderStatus,
    MessageMeta,
    MessageState,
    NewAppend,
    Pop3Listing,
    QuotaUsage,
    SearchCriteria,
    Snapshot,
    StoreMode,
    StoreResult,
    UidSet,
    apply_store,
    folder_name,
    keywords,
    parents_of,
    system_flags,
)
from mailgate.domain.ports import (
    BlobStore,
    Clock,
    MailboxEvents,
    MailboxSubscription,
    NewMessage,
    UnitOfWork,
    UnitOfWorkFactory,
)
from mailgate.services.groupcommit import GroupCommitter
from mailgate.services.textindex import searchable_text


async def _folder(uow: UnitOfWork, account_id: int, name: str, lock: bool = False) -> Mailbox:
    box = await uow.mailboxes.by_name(account_id, folder_name(name), lock=lock)
    if box is None:
        raise NotFound(f"no folder {name!r}")
    return box


async def _selected(uow: UnitOfWork, account_id: int, mailbox_id: int, lock: bool) -> Mailbox:
    box = await uow.mailboxes.get(account_id, mailbox_id, lock=lock)
    if box is None:
        raise NotFound("the folder no longer exists")
    return box


@dataclass(slots=True)
class MailboxService:
    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore
    committer: GroupCommitter
    events: MailboxEvents

    # --- folders (LIST, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE) --------------------------

    async def folders(self, account_id: int) -> list[FolderStatus]:
        """Every folder with special-use, subscription and STATUS counts, in creation order."""
        async with self.uow(write=False) as uow:
            return await uow.mailboxes.statuses(account_id)

    async def status(self, account_id: int, name: str) -> FolderStatus:
        async with self.uow(write=False) as uow:
            box = await _folder(uow, account_id, name)
            return (await uow.mailboxes.statuses(account_id, box.id))[0]

    async def create(
        self, account_id: int, name: str, special_use: SpecialUse | None = None
    ) -> int:
        """Create a folder (and missing parents); returns its id. Raises Conflict, InvalidInput."""
        name = folder_name(name)
        async with self.uow() as uow:
            if await uow.mailboxes.by_name(account_id, name) is not None:
                raise Conflict(f"the folder {name!r} exists")
            mailbox_id = await self._create_path(uow, account_id, name, special_use)
            await uow.commit()
        return mailbox_id

    async def _create_path(
        self, uow: UnitOfWork, account_id: int, name: str, special_use: SpecialUse | None
    ) -> int:
        for parent in parents_of(name):
            if await uow.mailboxes.by_name(account_id, parent) is None:
                await uow.mailboxes.create(
                    account_id, parent, None, await self._uv(uow, account_id)
                )
        uv = await self._uv(uow, account_id)
        return await uow.mailboxes.create(account_id, name, special_use, uv)

    async def _uv(self, uow: UnitOfWork, account_id: int) -> int:
        return await uow.mailboxes.next_uidvalidity(account_id, int(self.clock.now().timestamp()))

    async def delete(self, account_id: int, name: str) -> None:
        """Delete a folder and its messages (blob references and quota released); folders
        below it stay. Raises NotFound, RuleViolation (INBOX)."""
        name = folder_name(name)
        if name == INBOX:
            raise RuleViolation("INBOX cannot be deleted")
        async with self.uow() as uow:
            box = await _folder(uow, account_id, name, lock=True)
            await uow.mailboxes.delete(account_id, box.id)
            await uow.commit()
        self.events.publish(box.id, ChangeKind.FOLDER)

    async def rename(self, account_id: int, old: str, new: str) -> None:
        """Rename a folder and the folders below it, each with a new UIDVALIDITY. Renaming
        INBOX moves its messages to a new folder and leaves INBOX empty (RFC 3501 6.3.5).
        Raises NotFound, Conflict (target exists), RuleViolation (into itself)."""
        old, new = folder_name(old), folder_name(new)
        if new == old or new.startswith(old + HIERARCHY_DELIMITER):
            raise RuleViolation("a folder cannot be moved into itself")
        async with self.uow() as uow:
            if old == INBOX:
                boxes = [await _folder(uow, account_id, INBOX, lock=True)]
            else:
                boxes = await uow.mailboxes.subtree(account_id, old, lock=True)
                if not any(b.name == old for b in boxes):
                    raise NotFound(f"no folder {old!r}")
            renamed = {b.id: new + b.name[len(old) :] for b in boxes}
            for target in renamed.values():
                if await uow.mailboxes.by_name(account_id, target) is not None:
                    raise Conflict(f"the folder {target!r} exists")
            for parent in parents_of(new):
                if await uow.mailboxes.by_name(account_id, parent) is None:
                    uv = await self._uv(uow, account_id)
                    await uow.mailboxes.create(account_id, parent, None, uv)
            if old == INBOX:
                inbox = boxes[0]
                uv = await self._uv(uow, account_id)
                target_id = await uow.mailboxes.create(account_id, new, None, uv)
                await uow.mailboxes.transfer_all(inbox, target_id)
            else:
                for box in boxes:
                    uv = await self._uv(uow, account_id)
                    await uow.mailboxes.rename(box.id, renamed[box.id], uv)
            await uow.commit()
        for box in boxes:
            self.events.publish(
                box.id, ChangeKind.EXPUNGED if box.name == INBOX else ChangeKind.FOLDER
            )

    async def set_subscribed(self, account_id: int, name: str, subscribed: bool) -> None:
        """SUBSCRIBE / UNSUBSCRIBE of an existing folder. Raises NotFound."""
        async with self.uow() as uow:
            box = await _folder(uow, account_id, name)
            await uow.mailboxes.set_subscribed(box.id, subscribed)
            await uow.commit()

    # --- a selected mailbox -------------------------------------------------------------------

    async def select(self, account_id: int, name: str) -> Snapshot:
        """SELECT / EXAMINE: counters and every message's (uid, modseq, flags, keywords)."""
        async with self.uow(write=False) as uow:
            box = await _folder(uow, account_id, name)
            snap = await uow.mailboxes.snapshot(account_id, box.id)
        if snap is None:
            raise NotFound(f"no folder {name!r}")
        return snap

    async def snapshot(self, account_id: int, mailbox_id: int) -> Snapshot:
        """A fresh snapshot of an already selected mailbox. Raises NotFound."""
        async with self.uow(write=False) as uow:
            snap = await uow.mailboxes.snapshot(account_id, mailbox_id)
        if snap is None:
            raise NotFound("the folder no longer exists")
        return snap

    def watch(self, mailbox_id: int) -> MailboxSubscription:
        """Change notifications for a selected mailbox (close it on UNSELECT/LOGOUT)."""
        return self.events.subscribe(mailbox_id)

    async def fetch(self, account_id: int, mailbox_id: int, uids: UidSet) -> list[MessageMeta]:
        """Metadata of the messages in `uids`, in UID order (expunged ones are absent)."""
        async with self.uow(write=False) as uow:
            await _selected(uow, account_id, mailbox_id, lock=False)
            return await uow.mailboxes.metadata(mailbox_id, uids)

    async def body(self, blob_id: str) -> bytes:
        """The message bytes exactly as stored (from `MessageMeta.blob_id`). Raises NotFound."""
        return await self.blobs.get(blob_id)

    async def cache_mime(self, account_id: int, message_ids: Sequence[int], mime: str) -> None:
        """Keep the server's MIME structure (JSON) of these messages (copies of one body)."""
        async with self.uow() as uow:
            await uow.mailboxes.cache_mime(account_id, message_ids, mime)
            await uow.commit()

    async def cache_mimes(self, account_id: int, items: Sequence[tuple[int, str]]) -> None:
        """Like `cache_mime` for many messages, (message id, JSON) each, in one transaction."""
        if not items:
            return
        async with self.uow() as uow:
            for message_id, mime in items:
                await uow.mailboxes.cache_mime(account_id, [message_id], mime)
            await uow.commit()

    async def store(
        self,
        account_id: int,
        mailbox_id: int,
        uids: UidSet,
        mode: StoreMode,
        flags: int = 0,
        kws: Sequence[str] = (),
        unchanged_since: int | None = None,
    ) -> StoreResult:
        """STORE (±)FLAGS with optional UNCHANGEDSINCE: every changed message gets one new
        MODSEQ. Raises NotFound, InvalidInput (unknown flag bits, bad keywords)."""
        flags, new_kws = system_flags(flags), keywords(kws)
        if len(new_kws) > MAX_KEYWORDS_PER_MESSAGE:
            raise InvalidInput("too many keywords on one message")
        async with self.uow() as uow:
            box = await _selected(uow, account_id, mailbox_id, lock=True)
            failed: list[int] = []
            rows: list[tuple[int, int, tuple[str, ...]]] = []
            after: list[tuple[bool, MessageState]] = []
            for msg_id, st in await uow.mailboxes.states(mailbox_id, uids):
                if unchanged_since is not None and st.modseq > unchanged_since:
                    failed.append(st.uid)
                    continue
                f, k = apply_store(mode, st.flags, st.keywords, flags, new_kws)
                changed = f != st.flags or k != st.keywords
                if changed:
                    rows.append((msg_id, f, k))
                after.append((changed, MessageState(st.uid, st.modseq, f, k)))
            highest = box.highestmodseq
            if rows:
                highest = await uow.mailboxes.bump_modseq(mailbox_id)
                await uow.mailboxes.write_states(rows, highest)
                await uow.commit()
        if rows:
            self.events.publish(mailbox_id, ChangeKind.FLAGS)
        states = [st._replace(modseq=highest) if changed else st for changed, st in after]
        return StoreResult(states, failed, highest)

    async def expunge(
        self, account_id: int, mailbox_id: int, uids: UidSet | None = None
    ) -> list[int]:
        """EXPUNGE (uids None) / UID EXPUNGE: remove the \\Deleted messages; returns their UIDs."""
        return await self._expunge(account_id, mailbox_id, uids, only_deleted=True)

    async def _expunge(
        self, account_id: int, mailbox_id: int, uids: UidSet | None, only_deleted: bool
    ) -> list[int]:
        async with self.uow() as uow:
            await _selected(uow, account_id, mailbox_id, lock=True)
            gone = await uow.mailboxes.expunge(account_id, mailbox_id, uids, only_deleted)
            await uow.commit()
        if gone:
            self.events.publish(mailbox_id, ChangeKind.EXPUNGED)
        return gone

    async def copy(self, account_id: int, mailbox_id: int, uids: UidSet, target: str) -> CopyResult:
        """COPY to another folder of the account. Raises NotFound (TRYCREATE), QuotaExceeded."""
        return await self._copy(account_id, mailbox_id, uids, target, move=False)

    async def move(self, account_id: int, mailbox_id: int, uids: UidSet, target: str) -> CopyResult:
        """MOVE (RFC 6851): copy and expunge the sources in one transaction. Raises NotFound."""
        return await self._copy(account_id, mailbox_id, uids, target, move=True)

    async def _copy(
        self, account_id: int, mailbox_id: int, uids: UidSet, target: str, move: bool
    ) -> CopyResult:
        async with self.uow() as uow:
            dest = await _folder(uow, account_id, target)
            for box_id in sorted({mailbox_id, dest.id}):
                await _selected(uow, account_id, box_id, lock=True)
            dest = await _selected(uow, account_id, dest.id, lock=False)
            pairs = await uow.mailboxes.copy(account_id, mailbox_id, dest.id, uids, not move)
            gone: list[int] = []
            if move and pairs:
                moved = UidSet.of(src for src, _ in pairs)
                gone = await uow.mailboxes.expunge(account_id, mailbox_id, moved, False)
            await uow.commit()
        if pairs:
            self.events.publish(dest.id, ChangeKind.APPENDED)
        if gone:
            self.events.publish(mailbox_id, ChangeKind.EXPUNGED)
        return CopyResult(dest.uidvalidity, pairs, gone)

    async def changes(
        self, account_id: int, mailbox_id: int, since: int, uids: UidSet | None = None
    ) -> Changes:
        """CONDSTORE CHANGEDSINCE / QRESYNC: states with MODSEQ > `since` and UIDs expunged
        after it (tombstones are dropped when UIDVALIDITY changes). Raises NotFound."""
        async with self.uow(write=False) as uow:
            box = await _selected(uow, account_id, mailbox_id, lock=False)
            changed, gone = await uow.mailboxes.changes(mailbox_id, since, uids)
        return Changes(box.uidvalidity, box.highestmodseq, changed, gone)

    async def search(self, account_id: int, mailbox_id: int, criteria: SearchCriteria) -> list[int]:
        """UIDs matching every criterion (a conjunction), ascending. Raises NotFound."""
        async with self.uow(write=False) as uow:
            await _selected(uow, account_id, mailbox_id, lock=False)
            return await uow.mailboxes.search(mailbox_id, criteria)

    # --- APPEND, quota ------------------------------------------------------------------------

    async def append(
        self, account_id: int, name: str, messages: Sequence[NewAppend]
    ) -> AppendResult:
        """APPEND / MULTIAPPEND (all or nothing), durable on return. Raises NotFound (TRYCREATE),
        QuotaExceeded, InvalidInput (flags, keywords, naive internal date, nothing given)."""
        if not messages:
            raise InvalidInput("nothing to append")
        now = self.clock.now()
        for m in messages:
            system_flags(m.flags)
            if len(keywords(m.keywords)) > MAX_KEYWORDS_PER_MESSAGE:
                raise InvalidInput("too many keywords on one message")
            if m.internal_date is not None and m.internal_date.tzinfo is None:
                raise InvalidInput("the internal date needs a time zone")
        async with self.uow(write=False) as uow:
            box = await _folder(uow, account_id, name)
            quota, used = (await uow.mail.quota([account_id]))[account_id]
        if used + sum(len(m.data) for m in messages) > quota:  # checked again at the commit
            raise QuotaExceeded("the mailbox is full")
        items: list[NewMessage] = []
        for m in messages:
            blob_id = await self.blobs.put(m.data)
            items.append(
                NewMessage(
                    mailbox_id=box.id,
                    account_id=account_id,
                    blob_id=blob_id,
                    size=len(m.data),
                    flags=m.flags,
                    keywords=list(keywords(m.keywords)),
                    internal_date=m.internal_date or now,
                    headers=header_fields(m.data),
                    text=await searchable_text(m.data),
                    enforce_quota=True,
                )
            )
        placed = await self.committer.append(items)
        for m in messages:  # see DeliveryService.deliver: a racing GC may have taken the file
            await self.blobs.put(m.data)
        return AppendResult(box.id, box.uidvalidity, [uid for _, uid in placed])

    async def quota(self, account_id: int) -> QuotaUsage:
        """GETQUOTA / GETQUOTAROOT: STORAGE in KiB (used rounded up) and the MESSAGE count."""
        async with self.uow(write=False) as uow:
            quota, used, count = await uow.mailboxes.usage(account_id)
        return QuotaUsage(math.ceil(used / 1024), quota // 1024, count)

    # --- POP3 ---------------------------------------------------------------------------------

    async def pop3_listing(self, account_id: int) -> Pop3Listing:
        """The INBOX maildrop at login: (uid, size, blob id) in UID order; a UIDL is
        f"{uidvalidity}.{uid}"."""
        async with self.uow(write=False) as uow:
            box = await _folder(uow, account_id, INBOX)
            rows = await uow.mailboxes.listing(box.id)
        return Pop3Listing(box.id, box.uidvalidity, rows)

    async def pop3_delete(self, account_id: int, mailbox_id: int, uids: Sequence[int]) -> list[int]:
        """UPDATE state: expunge these messages whatever their flags (ones an IMAP session
        removed meanwhile are skipped); returns the UIDs removed."""
        if not uids:
            return []
        return await self._expunge(account_id, mailbox_id, UidSet.of(uids), only_deleted=False)
