"""argon2id hashing and the cache of recent successful verifications."""

from __future__ import annotations

from mailgate.services.hashing import Argon2Hasher, CachingHasher

FAST = Argon2Hasher(time_cost=1, memory_cost_kib=8192, parallelism=1)


async def test_hashes_are_argon2id_with_their_parameters() -> None:
    stored = await FAST.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert await FAST.verify(stored, "correct horse battery staple")
    assert not await FAST.verify(stored, "correct horse battery stapl")
    assert not await FAST.verify(None, "anything")  # unknown user: dummy hash, always False
    assert not await FAST.verify("not a hash", "anything")


async def test_successes_are_remembered_failures_never() -> None:
    now = [1000.0]
    cache = CachingHasher(FAST, ttl=60, clock=lambda: now[0])
    stored = await cache.hash("a long enough password")
    assert await cache.verify(stored, "a long enough password")
    assert cache.hits == 0
    assert await cache.verify(stored, "a long enough password")
    assert cache.hits == 1
    for _ in range(3):
        assert not await cache.verify(stored, "a wrong password")
    assert not await cache.verify(None, "a long enough password")
    assert cache.hits == 1
    # A new password has a new stored hash: the old entry cannot match it.
    changed = await cache.hash("another long password")
    assert not await cache.verify(changed, "a long enough password")
    now[0] += 61
    assert await cache.verify(stored, "a long enough password")
    assert cache.hits == 1  # expired: verified again with argon2


async def test_a_zero_ttl_disables_the_cache() -> None:
    cache = CachingHasher(FAST, ttl=0)
    stored = await cache.hash("a long enough password")
    for _ in range(2):
        assert await cache.verify(stored, "a long enough password")
    assert cache.hits == 0
