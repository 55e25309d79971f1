"""In-process change notifications for mailbox sessions (IMAP IDLE, other sessions' updates).

Implements `mailgate.domain.ports.MailboxEvents` without I/O: `publish` is synchronous and
cheap (a set union and an `asyncio.Event.set` per subscriber), a subscription costs a few hundred
bytes, and a waiting session sleeps on its event, never polling the database. Changes are
coalesced per subscriber into a set of kinds: the session then asks the store what changed
(`MailboxService.changes`), so nothing is lost when several changes arrive together. Across
several nodes, a PostgreSQL LISTEN/NOTIFY implementation of the same port replaces this one.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from mailgate.domain.mailbox import ChangeKind


class Subscription:
    __slots__ = ("_bus", "_event", "_kinds", "mailbox_id")

    def __init__(self, bus: InProcessEvents, mailbox_id: int) -> None:
        self._bus = bus
        self.mailbox_id = mailbox_id
        self._kinds: set[ChangeKind] = set()
        self._event = asyncio.Event()

    def _notify(self, kind: ChangeKind) -> None:
        self._kinds.add(kind)
        self._event.set()

    def pending(self) -> set[ChangeKind]:
        kinds, self._kinds = self._kinds, set()
        self._event.clear()
        return kinds

    async def wait(self) -> set[ChangeKind]:
        while not self._kinds:
            await self._event.wait()
            self._event.clear()
        return self.pending()

    def close(self) -> None:
        self._bus._drop(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class InProcessEvents:
    def __init__(self) -> None:
        self._subs: defaultdict[int, set[Subscription]] = defaultdict(set)
        self.published = 0  # for tests

    def publish(self, mailbox_id: int, kind: ChangeKind) -> None:
        self.published += 1
        for sub in self._subs.get(mailbox_id, ()):
            sub._notify(kind)

    def subscribe(self, mailbox_id: int) -> Subscription:
        sub = Subscription(self, mailbox_id)
        self._subs[mailbox_id].add(sub)
        return sub

    def _drop(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.mailbox_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.mailbox_id]

    def subscribers(self, mailbox_id: int) -> int:
        return len(self._subs.get(mailbox_id, ()))
