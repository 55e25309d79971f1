"""The web sign-in answers an unknown address, a wrong password and a throttled pair with the
same page, in the same time (issue #5 acceptance: median within 10 ms over 50 tries)."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mailgate.domain.access import operator
from mailgate.domain.security import ThrottlePolicy
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.settings import Settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import open_database
from mailgate.storage.migrate import upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.web.app import create_app

from .conftest import BASE_URL, FAST_HASHER, PASSWORD

SIGN_IN = "/admin/signin"
VICTIM = "victim@example.test"
TRIES = 50
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def client(sqlite_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    db = open_database(sqlite_url, pool_size=5)
    await upgrade(db)
    # Many failures from one test client: the per-IP wait would otherwise make every attempt
    # a throttled one; the pair still waits after 5.
    policy = ThrottlePolicy(ip_free_failures=10_000)
    services = Services.build(
        SqlUnitOfWorkFactory(db),
        SystemClock(),
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        throttle=policy,
    )
    await services.setup.seed_demo()
    await services.accounts.create(
        operator("cli:test"), VICTIM, password=PASSWORD, skip_first_login=True
    )
    for n in range(10):
        await services.accounts.create(
            operator("cli:test"), f"w{n}@example.test", password=PASSWORD, skip_first_login=True
        )
    transport = httpx.ASGITransport(create_app(services, Settings(data_dir=tmp_path / "d")))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield c
    await services.alerts.drain()
    await db.dispose()


async def test_unknown_wrong_and_throttled_look_the_same_on_the_web(
    client: httpx.AsyncClient,
) -> None:
    token = _CSRF.search((await client.get(SIGN_IN)).text)
    assert token
    csrf = token.group(1)

    async def attempt(address: str, password: str) -> tuple[int, str, float]:
        start = time.perf_counter()
        answer = await client.post(
            SIGN_IN, data={"address": address, "password": password, "csrf_token": csrf}
        )
        elapsed = time.perf_counter() - start
        return answer.status_code, answer.text.replace(address, "ADDRESS"), elapsed

    for _ in range(5):  # the victim's pair now waits
        await attempt(VICTIM, "wrong password")
    timings: dict[str, list[float]] = {"unknown": [], "wrong": [], "throttled": []}
    pages: dict[str, set[tuple[int, str]]] = {k: set() for k in timings}
    for i in range(TRIES):
        for kind, address, password in (
            ("unknown", f"nobody{i}@example.test", "wrong password"),
            ("wrong", f"w{i % 10}@example.test", "wrong password"),
            ("throttled", VICTIM, PASSWORD),  # the right password, while waiting
        ):
            status, body, elapsed = await attempt(address, password)
            pages[kind].add((status, body))
            timings[kind].append(elapsed)
    assert pages["unknown"] == pages["wrong"] == pages["throttled"]
    assert len(pages["unknown"]) == 1
    ((status, _),) = pages["unknown"]
    assert status == 401
    medians = {k: statistics.median(v) for k, v in timings.items()}
    assert max(medians.values()) - min(medians.values()) < 0.010, medians
