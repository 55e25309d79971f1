"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, and the services.

PostgreSQL is expected at MAILGATE_TEST_PG_URL (default: postgres on 127.0.0.1:5432, trust
auth). If it is unreachable the PostgreSQL half of the suite fails - it is never skipped.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from mailgate.domain.access import Actor, operator
from mailgate.services.alerts import TASK_NAME
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.services.hashing import Argon2Hasher
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database, open_database
from mailgate.storage.migrate import upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory

PG_URL = os.environ.get("MAILGATE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
# Cheap argon2id parameters: tests exercise the logic, bench/ measures the cost.
FAST_HASHER = Argon2Hasher(time_cost=1, memory_cost_kib=8192, parallelism=1)


async def _admin_conn() -> asyncpg.Connection:
    dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    return await asyncpg.connect(dsn.rstrip("/") + "/postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'mailgate.db'}"
        return
    name = f"mg_test_{uuid.uuid4().hex[:12]}"
    conn = await _admin_conn()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield f"{PG_URL.rstrip('/')}/{name}"
    conn = await _admin_conn()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = open_database(db_url, pool_size=5)
    await upgrade(db)
    yield db
    await settle_alerts()
    await db.dispose()


async def settle_alerts() -> None:
    """Wait for the notices sign-ins started after their replies (services.alerts), so none
    outlives the database of its test, whichever Services the test built."""
    pending = [t for t in asyncio.all_tasks() if t.get_name() == TASK_NAME and not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=30)


@pytest.fixture
async def services(database: Database, tmp_path: Path) -> AsyncIterator[Services]:
    blobs = FileBlobStore(tmp_path / "blobs")
    built = Services.build(SqlUnitOfWorkFactory(database), SystemClock(), FAST_HASHER, blobs)
    yield built
    await built.alerts.drain()  # notices a sign-in started after its reply


@pytest.fixture
def root() -> Actor:
    """The local operator, as the CLI acts without --as."""
    return operator("cli:test")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'mailgate.db'}"


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for running the `mailgate` CLI as a subprocess on a fresh data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    env["MAILGATE_DATA_DIR"] = str(tmp_path / "data")
    env["MAILGATE_SECURITY__ARGON2_TIME_COST"] = "1"
    env["MAILGATE_SECURITY__ARGON2_MEMORY_KIB"] = "8192"
    env["MAILGATE_SECURITY__ARGON2_PARALLELISM"] = "1"
    yield env
