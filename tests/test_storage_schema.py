"""Storage: migrations agree with the tables, SQLite pragmas, aware datetimes, revisions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from tests.conftest import PG_URL, admin_conn

from mailgate.storage.database import Database, open_database
from mailgate.storage.migrate import current_revision, head_revision, upgrade
from mailgate.storage.tables import UTCDateTime, domains, metadata


async def test_migrations_match_the_metadata(database: Database) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    async with database.writer.connect() as conn:
        assert await conn.run_sync(diff) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_an_empty_database_migrates_to_head(backend: str, tmp_path: Path) -> None:
    """The fixtures copy a template migrated once per session; here the migrations run on an
    empty database of each backend, as `mailgate db upgrade` does on a first start."""
    name = f"mg_empty_{uuid.uuid4().hex[:12]}"
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    if backend == "postgresql":
        conn = await admin_conn()
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = f"{PG_URL.rstrip('/')}/{name}"
    db = open_database(url, pool_size=1)
    try:
        assert await current_revision(db) is None
        await upgrade(db)
        assert await current_revision(db) == head_revision()
    finally:
        await db.dispose()
        if backend == "postgresql":
            conn = await admin_conn()
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


async def test_revision_is_head_and_upgrade_is_idempotent(database: Database) -> None:
    assert await current_revision(database) == head_revision()
    await upgrade(database)
    assert await current_revision(database) == head_revision()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_pragmas(database: Database) -> None:
    for engine in (database.writer, database.reader):
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
    assert database.is_sqlite


async def test_foreign_keys_are_enforced(database: Database) -> None:
    async with database.writer.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(
                insert(domains).values(
                    name="x.test", unicode_name="x.test", org_id=4242, created_at=datetime.now(UTC)
                )
            )
        await conn.rollback()


async def test_utc_datetime_round_trips_aware_datetimes(database: Database) -> None:
    md = MetaData()
    t = Table("ts_probe", md, Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))
    shanghai = timezone(timedelta(hours=8))
    values = [
        datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(2026, 3, 1, 20, 30, 15, 123456, tzinfo=shanghai),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
    ]
    async with database.writer.connect() as conn:
        await conn.run_sync(md.create_all)
        for i, value in enumerate(values, 1):
            await conn.execute(insert(t).values(id=i, at=value))
        await conn.execute(insert(t).values(id=99, at=None))
        await conn.commit()
    async with database.reader.connect() as conn:
        got = {r[0]: r[1] for r in await conn.execute(select(t.c.id, t.c.at))}
        raw = (await conn.execute(text("SELECT at FROM ts_probe WHERE id = 2"))).scalar()
    for i, value in enumerate(values, 1):
        assert got[i] == value
        assert got[i].tzinfo is UTC
    assert got[99] is None
    if database.is_sqlite:
        assert str(raw).startswith("2026-03-01 12:30:15.123456")  # stored as UTC


def test_naive_datetimes_are_refused() -> None:
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        with pytest.raises(ValueError, match="naive datetime"):
            UTCDateTime().process_bind_param(datetime(2026, 1, 1), dialect)
