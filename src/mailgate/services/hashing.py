"""argon2id password hashing, off the event loop, with a dummy hash for unknown users."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Hasher:
    """argon2id; parameters live in the hash, so old hashes verify after a parameter change."""

    def __init__(self, time_cost: int = 3, memory_cost_kib: int = 65536, parallelism: int = 4):
        self._ph = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._dummy = self._ph.hash("mailgate dummy password for unknown users")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._ph.hash, password)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._ph.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        return self._ph.check_needs_rehash(stored)


class CachingHasher:
    """Remembers recent successful verifications, like Dovecot's auth cache.

    Mail clients log in again and again (phones every few minutes, Thunderbird per folder
    connection); each argon2id verification costs ~160 ms of CPU here. After a successful
    verification, an HMAC of (stored hash, password) under a per-process random key is kept for
    `ttl` seconds; the same pair verifies from memory. Only successes are cached: a wrong
    password, an unknown user (the dummy hash) and throttled attempts always pay the full cost,
    so timing still tells an attacker nothing. A changed password or a revoked app password has
    a different or no stored hash, so stale entries can never match. `ttl` 0 disables it.
    """

    def __init__(
        self,
        inner: Argon2Hasher,
        ttl: float = 300.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._inner = inner
        self._ttl = ttl
        self._clock = clock
        self.hits = 0
        self._max = max_entries
        self._key = secrets.token_bytes(32)
        self._seen: dict[bytes, float] = {}

    def _digest(self, stored: str, password: str) -> bytes:
        msg = stored.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    async def hash(self, password: str) -> str:
        return await self._inner.hash(password)

    async def verify(self, stored: str | None, password: str) -> bool:
        if stored is not None and self._ttl > 0:
            digest = self._digest(stored, password)
            until = self._seen.get(digest)
            now = self._clock()
            if until is not None and until > now:
                self.hits += 1
                return True
            if await self._inner.verify(stored, password):
                if len(self._seen) >= self._max:
                    self._seen = {d: t for d, t in self._seen.items() if t > now}
                    if len(self._seen) >= self._max:
                        self._seen.clear()
                self._seen[digest] = now + self._ttl
                return True
            return False
        return await self._inner.verify(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        return self._inner.needs_rehash(stored)
