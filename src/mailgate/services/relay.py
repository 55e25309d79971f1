"""The outbound worker: takes due messages from the queue, delivers them per remote domain,
records each recipient's outcome, and bounces what failed for good.

`process_due()` is one pass (tests call it directly, with a clock they advance); `run()` repeats
it until `stop()`, waking early when something is enqueued. A pass writes each message's outcome
in its own transaction, so a crash mid-pass at worst repeats a delivery attempt (SMTP's
at-least-once), never loses a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from mailgate.domain.errors import NotFound
from mailgate.domain.ports import BlobStore, Clock, Resolver, UnitOfWorkFactory
from mailgate.domain.queue import (
    PENDING_STATES,
    QueueItem,
    RecipientState,
    after_attempt,
)
from mailgate.services.delivery import DeliveryService, RecipientVerdict
from mailgate.services.dsn import FailedRecipient, build_dsn
from mailgate.services.outbound import OutboundService
from mailgate.services.smtpclient import Reply, SmtpTransport

log = logging.getLogger(__name__)


@dataclass(slots=True)
class OutboundWorker:
    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore
    delivery: DeliveryService
    outbound: OutboundService
    resolver: Resolver | None = None
    transport: SmtpTransport = field(init=False)
    _stopping: bool = field(default=False, init=False)
    bounces: int = field(default=0, init=False)  # for tests and metrics

    def __post_init__(self) -> None:
        self.transport = SmtpTransport(self.outbound.config, self.resolver)

    async def process_due(self) -> int:
        """Attempt every due message once; returns how many messages were attempted."""
        config = self.outbound.config
        async with self.uow(write=False) as uow:
            items = await uow.queue.due(self.clock.now(), config.batch)
        limit = asyncio.Semaphore(config.concurrency)

        async def one(item: QueueItem) -> None:
            async with limit:
                try:
                    await self._attempt(item)
                except Exception:
                    log.exception("outbound: attempt on queued message %d failed", item.id)

        async with asyncio.TaskGroup() as tasks:
            for item in items:
                tasks.create_task(one(item))
        return len(items)

    run_once = process_due

    async def run(self) -> None:
        """Process the queue until `stop()`; waits `poll_interval` or for an enqueue between."""
        self._stopping = False
        queued = self.outbound.queued
        while not self._stopping:
            queued.clear()
            try:
                await self.process_due()
            except Exception:
                log.exception("outbound: queue pass failed")
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queued.wait(), self.outbound.config.poll_interval)

    def stop(self) -> None:
        self._stopping = True
        self.outbound.queued.set()

    async def _attempt(self, item: QueueItem) -> None:
        now = self.clock.now()
        due = [r for r in item.recipients if r.state in PENDING_STATES and r.next_attempt <= now]
        if not due:
            return
        data = b""
        try:
            data = await self.blobs.get(item.blob_id)
        except NotFound:
            replies = {r.address: Reply(554, "5.3.0 the queued message body is lost") for r in due}
        else:
            by_domain: defaultdict[str, list[str]] = defaultdict(list)
            for r in due:
                by_domain[r.domain].append(r.address)
            sends = [
                self.transport.send(domain, item.mail_from, rcpts, data)
                for domain, rcpts in sorted(by_domain.items())
            ]
            replies = {}
            for result in await asyncio.gather(*sends):
                replies.update(result)
        policy = self.outbound.config.retry
        failed: list[FailedRecipient] = []
        now = self.clock.now()
        for r in due:
            reply = replies[r.address]
            r.attempts += 1
            if reply.ok:
                r.state, r.last_error, r.status = RecipientState.DELIVERED, reply.describe(), ""
                continue
            outcome = after_attempt(
                item, r, reply.temporary, reply.describe(), reply.status, policy, now
            )
            r.state, r.last_error, r.status = outcome.state, outcome.error, outcome.status
            if outcome.state is RecipientState.DEFERRED:
                r.next_attempt = now + policy.delay(r.attempts)
            else:
                failed.append(FailedRecipient(r.address, r.status, r.last_error, reply.host, now))
        async with self.uow() as uow:
            await uow.queue.update_recipients(due)
            if item.done:
                await uow.queue.release(item.id)
            await uow.commit()
        if failed and item.mail_from:  # never bounce a bounce
            await self._bounce(item, failed, data)

    async def _bounce(
        self, item: QueueItem, failed: list[FailedRecipient], original: bytes
    ) -> None:
        dsn = build_dsn(
            self.outbound.config.hostname,
            item.mail_from,
            original,
            failed,
            item.created_at,
            self.clock.now(),
        )
        resolution = await self.delivery.resolve(item.mail_from, None, len(dsn))
        if resolution.verdict is RecipientVerdict.LOCAL and resolution.account_ids:
            await self.delivery.deliver("", resolution.account_ids, dsn)
        elif resolution.verdict is RecipientVerdict.REMOTE:
            await self.outbound.enqueue("", [item.mail_from], dsn)
        else:
            log.warning(
                "outbound: bounce for queued message %d dropped: sender %s is %s",
                item.id,
                item.mail_from,
                resolution.verdict.value,
            )
            return
        self.bounces += 1
