"""Group commit: concurrent deliveries share one transaction, so they share one fsync.

Callers hand in their messages and wait; a single drainer task takes everything queued, writes it
in one transaction and commits. While a commit is in flight new work queues up and goes into the
next one, so the batch size grows with the load by itself and a lone message is not delayed.
A batch that fails is retried one delivery at a time, so one bad delivery fails alone.
"""

from __future__ import annotations

import asyncio
import logging

from mailgate.domain.mailbox import ChangeKind
from mailgate.domain.ports import MailboxEvents, NewMessage, UnitOfWorkFactory

log = logging.getLogger(__name__)
Placement = list[tuple[int, int]]


class GroupCommitter:
    def __init__(
        self, uow: UnitOfWorkFactory, max_batch: int = 500, events: MailboxEvents | None = None
    ) -> None:
        self._uow = uow
        self._events = events  # told about every mailbox that got messages, after the commit
        self._max_batch = max_batch
        self._pending: list[tuple[list[NewMessage], asyncio.Future[Placement]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # for tests and benchmarks
        self.committed = 0

    async def append(self, items: list[NewMessage]) -> Placement:
        """Store `items` durably; returns (mailbox id, uid) for each, in order."""
        future: asyncio.Future[Placement] = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _commit(self, items: list[NewMessage]) -> Placement:
        async with self._uow() as uow:
            placed = await uow.mail.append(items)
            await uow.commit()
        self.batches += 1
        self.committed += len(items)
        if self._events is not None:
            for mailbox_id in sorted({box for box, _ in placed}):
                self._events.publish(mailbox_id, ChangeKind.APPENDED)
        return placed

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            self._pending = self._pending[self._max_batch :]
            items = [item for job, _ in batch for item in job]
            try:
                placed = await self._commit(items)
            except Exception:
                log.warning("group commit of %d deliveries failed; retrying singly", len(batch))
                for job, future in batch:
                    try:
                        result = await self._commit(job)
                    except Exception as exc:
                        if not future.done():
                            future.set_exception(exc)
                    else:
                        if not future.done():
                            future.set_result(result)
                continue
            start = 0
            for job, future in batch:
                if not future.done():
                    future.set_result(placed[start : start + len(job)])
                start += len(job)
