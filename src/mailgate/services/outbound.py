"""The outbound queue seen from the rest of Mailgate: enqueue mail for remote recipients, and the
admin's view of the queue (list, retry now, delete).

`enqueue` is durable when it returns: the DKIM-signed body is fsynced in the blob store and the
queue rows are committed, so the submission server may answer 250 then. The background worker
that empties the queue is `mailgate.services.relay.OutboundWorker`.
"""

from __future__ import annotations

import asyncio
import builtins
from dataclasses import dataclass, field

from mailgate.domain.access import Actor, Permission
from mailgate.domain.errors import InvalidInput, NotFound
from mailgate.domain.mail import header_fields
from mailgate.domain.names import Address
from mailgate.domain.ports import BlobStore, Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.queue import PENDING_STATES, QueueItem, RetryPolicy
from mailgate.services.audit import record
from mailgate.services.dkim import DkimService, sign

MAX_RECIPIENTS = 1000


@dataclass(frozen=True, slots=True)
class Relay:
    """A next hop: host and port, with optional AUTH; `require_tls` refuses to go on in clear."""

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    require_tls: bool = False


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    """The outbound settings in the form services use (built by bootstrap from settings)."""

    hostname: str = "localhost"  # EHLO name and Reporting-MTA of bounces
    transport_map: dict[str, Relay] = field(default_factory=dict)  # domain -> next hop
    smarthost: Relay | None = None  # everything not in the map goes here, when set
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 10
    timeout: float = 60.0
    batch: int = 200
    poll_interval: float = 30.0


def parse_relay(text: str, default_port: int = 25) -> Relay:
    """'host', 'host:port' or '[v6]:port' as a Relay."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or str(default_port)
    else:
        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        port = port or str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"{text!r} is not host:port")
    return Relay(host, int(port))


def _from_domain(data: bytes) -> str | None:
    """The A-label domain of the From header's address, if there is one address."""
    raw = header_fields(data).from_
    addr = raw.rsplit("<", 1)[-1].rstrip(">").strip() if raw else ""
    try:
        return Address.parse(addr).domain.ascii
    except InvalidInput:
        return None


@dataclass(slots=True)
class OutboundService:
    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore
    dkim: DkimService
    config: OutboundConfig = field(default_factory=OutboundConfig)
    # Set on every enqueue so a sleeping worker starts at once.
    queued: asyncio.Event = field(default_factory=asyncio.Event)

    async def enqueue(self, mail_from: str, recipients: list[str], data: bytes) -> None:
        """Queue `data` for remote `recipients`; durable when it returns.

        `mail_from` "" is the null sender (a bounce). Signs with the DKIM key of the From
        header's domain (or else the envelope sender's) when that domain is ours. Raises
        InvalidInput for a malformed address or no recipients.
        """
        if not recipients or len(recipients) > MAX_RECIPIENTS:
            raise InvalidInput(f"a message needs 1 to {MAX_RECIPIENTS} recipients")
        rcpts = [Address.parse(r) for r in recipients]
        sender = Address.parse(mail_from) if mail_from else None
        # Remote local parts are case-sensitive (RFC 5321 2.4): only exact repeats are dropped.
        unique = {r.ascii: (r.ascii, r.domain.ascii) for r in rcpts}
        async with self.uow(write=False) as uow:
            org_id = await self._org_of(uow, sender)
            key = None
            for domain in (_from_domain(data), sender.domain.ascii if sender else None):
                if domain and (key := await uow.dkim.for_domain(domain)):
                    break
        message = sign(data, key) if key else data
        blob_id = await self.blobs.put(message)
        async with self.uow() as uow:
            await uow.queue.add(
                sender.ascii if sender else "",
                blob_id,
                len(message),
                org_id,
                self.clock.now(),
                list(unique.values()),
            )
            await uow.commit()
        # As in delivery: refresh the file in case a collection raced with the commit.
        await self.blobs.put(message)
        self.queued.set()

    async def _org_of(self, uow: UnitOfWork, sender: Address | None) -> int | None:
        if sender is None:
            return None
        domain = await uow.domains.by_name(sender.domain.ascii)
        return domain.org_id if domain else None

    async def _item_for(
        self, uow: UnitOfWork, actor: Actor, item_id: int, permission: Permission
    ) -> QueueItem:
        item = await uow.queue.get(item_id)
        if item is None or not actor.can(Permission.ACCOUNT_READ, item.org_id):
            raise NotFound(f"there is no queued message {item_id}")
        actor.require(permission, item.org_id)
        return item

    async def list(
        self, actor: Actor, include_done: bool = False, offset: int = 0, limit: int = 50
    ) -> tuple[builtins.list[QueueItem], int]:
        """Queued messages of the organisations where the actor manages accounts."""
        scope = actor.org_scope(Permission.ACCOUNT_WRITE)
        async with self.uow(write=False) as uow:
            return await uow.queue.list(scope, include_done, offset, min(limit, 500))

    async def get(self, actor: Actor, item_id: int) -> QueueItem:
        async with self.uow(write=False) as uow:
            return await self._item_for(uow, actor, item_id, Permission.ACCOUNT_WRITE)

    async def retry(self, actor: Actor, item_id: int) -> QueueItem:
        """Make every waiting recipient due now."""
        async with self.uow() as uow:
            item = await self._item_for(uow, actor, item_id, Permission.ACCOUNT_WRITE)
            now = self.clock.now()
            waiting = [r for r in item.recipients if r.state in PENDING_STATES]
            if not waiting:
                raise InvalidInput(f"message {item_id} has no recipient left to try")
            for r in waiting:
                r.next_attempt = now
            await uow.queue.update_recipients(waiting)
            await record(
                uow,
                self.clock,
                actor,
                "queue.retry",
                f"queue:{item_id}",
                item.org_id,
                {"recipients": [r.address for r in waiting]},
            )
            await uow.commit()
        self.queued.set()
        return item

    async def delete(self, actor: Actor, item_id: int) -> None:
        """Drop a message from the queue without a bounce (its blob reference is released)."""
        async with self.uow() as uow:
            item = await self._item_for(uow, actor, item_id, Permission.ACCOUNT_WRITE)
            await uow.queue.delete(item_id)
            await record(
                uow,
                self.clock,
                actor,
                "queue.delete",
                f"queue:{item_id}",
                item.org_id,
                {"mail_from": item.mail_from, "recipients": [r.address for r in item.recipients]},
            )
            await uow.commit()
