"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, and the services.

PostgreSQL is expected at MAILGATE_TEST_PG_URL (default: postgres on 127.0.0.1:5432, trust
auth). If it is unreachable the PostgreSQL half of the suite fails - it is never skipped.

The migrations run once per backend and test session, into a template (a SQLite file; a
PostgreSQL database used as `CREATE DATABASE ... TEMPLATE`); each test gets a copy of it, which
is several times cheaper than migrating again. The fixtures still call `upgrade`, which finds
the copy at head, and tests/test_storage_schema.py checks the migrated schema.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
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


async def admin_conn() -> asyncpg.Connection:
    dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    return await asyncpg.connect(dsn.rstrip("/") + "/postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class _Templates:
    """The session's migrated template per backend, made on first use."""

    def __init__(self, folder: Path) -> None:
        self.sqlite_file = folder / "template.db"
        self.pg_name = f"mg_template_{uuid.uuid4().hex[:12]}"
        self.made: set[str] = set()

    async def sqlite_copy(self, target: Path) -> None:
        if "sqlite" not in self.made:
            db = open_database(f"sqlite+aiosqlite:///{self.sqlite_file}", pool_size=1)
            await upgrade(db)
            await db.dispose()
            with sqlite3.connect(self.sqlite_file) as conn:  # everything into the main file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.made.add("sqlite")
        shutil.copyfile(self.sqlite_file, target)

    async def pg_copy(self, name: str) -> None:
        conn = await admin_conn()
        try:
            if "postgresql" not in self.made:
                await conn.execute(f'CREATE DATABASE "{self.pg_name}"')
                db = open_database(f"{PG_URL.rstrip('/')}/{self.pg_name}", pool_size=1)
                await upgrade(db)
                await db.dispose()
                self.made.add("postgresql")
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_name}"')
        finally:
            await conn.close()

    async def drop(self) -> None:
        if "postgresql" in self.made:
            conn = await admin_conn()
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            finally:
                await conn.close()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    made = _Templates(tmp_path_factory.mktemp("template"))
    yield made
    asyncio.run(made.drop())


@pytest.fixture
async def db_url(backend: str, tmp_path: Path, templates: _Templates) -> AsyncIterator[str]:
    """A fresh database at the newest schema revision."""
    if backend == "sqlite":
        await templates.sqlite_copy(tmp_path / "mailgate.db")
        yield f"sqlite+aiosqlite:///{tmp_path / 'mailgate.db'}"
        return
    name = f"mg_test_{uuid.uuid4().hex[:12]}"
    await templates.pg_copy(name)
    yield f"{PG_URL.rstrip('/')}/{name}"
    conn = await admin_conn()
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
async def sqlite_url(tmp_path: Path, templates: _Templates) -> str:
    """A fresh SQLite database at the newest schema revision."""
    await templates.sqlite_copy(tmp_path / "mailgate.db")
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
