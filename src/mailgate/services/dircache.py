"""A short-lived cache of directory lookups for the mail hot path (RCPT and delivery).

Every MX and submission recipient needs "which organisation owns this domain, what is this
address, which INBOX does that account have". Asking the database for each costs more than the
rest of the delivery. Entries live `ttl` seconds; every committed directory change made through
this process's services clears the cache at once (the services that change the directory get a
unit-of-work factory that bumps it after each commit). Changes made by another process (the CLI
next to a running server, another node) are seen within `ttl` seconds, as with Postfix's and
Dovecot's own lookup caches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

from mailgate.domain.directory import Group
from mailgate.domain.ports import UnitOfWork, UnitOfWorkFactory

DEFAULT_TTL = 5.0
MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class AccountEntry:
    account_id: int
    receiving: bool
    forward: str | None = None  # a verified forwarding target the policy allows
    keep_copy: bool = True  # with `forward`: whether the INBOX keeps a copy too


@dataclass(frozen=True, slots=True)
class ListEntry:
    """An alias (targets) or a group (targets are its members)."""

    targets: tuple[str, ...]
    group: Group | None = None


Entry = AccountEntry | ListEntry | None
_MISSING: Any = object()


class DirectoryCache:
    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._data: dict[tuple[str, object], tuple[float, object]] = {}
        self.hits = 0
        self.misses = 0

    def bump(self) -> None:
        """Forget everything: the directory changed."""
        self._data.clear()

    def get(self, kind: str, key: object, ttl: float | None = None) -> Any:
        """The cached value, or `MISSING` (`ttl` overrides the default age limit)."""
        found = self._data.get((kind, key))
        if found is None or self._clock() - found[0] > (self.ttl if ttl is None else ttl):
            self.misses += 1
            return _MISSING
        self.hits += 1
        return found[1]

    def forget(self, kind: str, key: object) -> None:
        self._data.pop((kind, key), None)

    def put(self, kind: str, key: object, value: object) -> None:
        if len(self._data) >= MAX_ENTRIES:
            self._data.clear()
        self._data[(kind, key)] = (self._clock(), value)


MISSING = _MISSING


class _BumpingUnitOfWork:
    """Delegates to a unit of work and bumps the cache after each successful commit."""

    def __init__(self, inner: UnitOfWork, cache: DirectoryCache) -> None:
        self._inner = inner
        self._cache = cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def commit(self) -> None:
        await self._inner.commit()
        self._cache.bump()

    async def __aenter__(self) -> UnitOfWork:
        await self._inner.__aenter__()
        return cast(UnitOfWork, self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)


class BumpingUnitOfWorkFactory:
    """The unit-of-work factory for services that change the directory."""

    def __init__(self, inner: UnitOfWorkFactory, cache: DirectoryCache) -> None:
        self._inner = inner
        self._cache = cache

    def __call__(self, *, write: bool = True) -> UnitOfWork:
        uow = self._inner(write=write)
        return cast(UnitOfWork, _BumpingUnitOfWork(uow, self._cache)) if write else uow
