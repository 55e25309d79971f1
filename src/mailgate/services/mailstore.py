"""The mail store seen by admins: folders and messages of an account, and garbage collection."""

from __future__ import annotations

from dataclasses import dataclass

from mailgate.domain.access import SYSTEM, Actor, Permission
from mailgate.domain.errors import NotFound
from mailgate.domain.mail import Mailbox, StoredMessage
from mailgate.domain.ports import BlobStore, Clock, UnitOfWorkFactory
from mailgate.services.accounts import account_for
from mailgate.services.audit import record

# A blob file younger than this is never collected: it may belong to a delivery whose
# metadata is about to commit.
GC_GRACE_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class GcReport:
    unreferenced: int  # blobs no message refers to any more, removed
    orphans: int  # files without metadata (left by a crash before commit), removed


@dataclass(slots=True)
class MailStoreService:
    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore

    async def folders(self, actor: Actor, address: str) -> list[Mailbox]:
        async with self.uow(write=False) as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_READ)
            return await uow.mail.mailboxes(account.id)

    async def messages(
        self, actor: Actor, address: str, folder: str = "INBOX", offset: int = 0, limit: int = 50
    ) -> tuple[list[StoredMessage], int]:
        """Message metadata of one folder. Looking into a mailbox is audited."""
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            mailbox = await uow.mail.mailbox(account.id, folder)
            if mailbox is None:
                raise NotFound(f"{address} has no folder {folder!r}")
            found = await uow.mail.messages(mailbox.id, offset, min(limit, 500))
            await record(
                uow,
                self.clock,
                actor,
                "mailbox.inspect",
                f"account:{account.address_key}",
                account.org_id,
                {"folder": folder, "offset": offset},
            )
            await uow.commit()
        return found

    async def read(self, blob_id: str) -> bytes:
        return await self.blobs.get(blob_id)

    async def collect_garbage(
        self, actor: Actor = SYSTEM, grace_seconds: float = GC_GRACE_SECONDS
    ) -> GcReport:
        """Remove blobs nothing refers to and files a crash left without metadata."""
        actor.require(Permission.ORG_CREATE, None)
        old_files = await self.blobs.list_older_than(grace_seconds)
        async with self.uow() as uow:
            # Only blobs untouched for the grace period: a delivery of the same body stores it
            # again (refreshing it) after its commit, so it never loses its file to us.
            dead = sorted(set(await uow.mail.unreferenced_blobs()) & set(old_files))
            await uow.mail.forget_blobs(dead)
            await uow.commit()
        for blob_id in dead:
            await self.blobs.delete(blob_id)
        async with self.uow(write=False) as uow:
            known = await uow.mail.known_blobs(old_files)
        orphans = [b for b in old_files if b not in known and b not in dead]
        for blob_id in orphans:
            await self.blobs.delete(blob_id)
        if dead or orphans:
            async with self.uow() as uow:
                await record(
                    uow,
                    self.clock,
                    actor,
                    "mailstore.gc",
                    "blobs",
                    None,
                    {"unreferenced": len(dead), "orphans": len(orphans)},
                )
                await uow.commit()
        return GcReport(len(dead), len(orphans))
