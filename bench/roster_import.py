"""Benchmark: import a generated roster CSV through `services.roster.import_csv`.

This is the code path of `mailgate roster import FILE.csv --org SLUG`. It runs on SQLite (a
temporary data dir) and/or PostgreSQL (a temporary database at MAILGATE_BENCH_PG_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432, dropped afterwards), and prints the rows, seconds
and rows/s of a first import, of a second, unchanged (idempotent) import, and of a third
import that changes about 98% of the rows.

    python bench/roster_import.py --rows 100000 --backend both
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from mailgate.domain.access import operator
from mailgate.services import demo_data
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.services.hashing import Argon2Hasher
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import open_database, sqlite_url
from mailgate.storage.migrate import upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory

PG_URL = os.environ.get("MAILGATE_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")

# The demo's names, and more for a realistic spread over 100,000 people.
SURNAMES = [
    *demo_data.SURNAMES,
    ("许", "Xu"),
    ("韩", "Han"),
    ("冯", "Feng"),
    ("邓", "Deng"),
    ("曹", "Cao"),
    ("彭", "Peng"),
    ("曾", "Zeng"),
    ("萧", "Xiao"),
    ("田", "Tian"),
    ("董", "Dong"),
    ("潘", "Pan"),
    ("欧阳", "Ouyang"),
    ("司马", "Sima"),
    ("诸葛", "Zhuge"),
    ("上官", "Shangguan"),
]
GIVEN = [
    *demo_data.GIVEN_NAMES,
    ("雨桐", "Yutong"),
    ("欣怡", "Xinyi"),
    ("梓轩", "Zixuan"),
    ("思远", "Siyuan"),
    ("晓东", "Xiaodong"),
    ("建国", "Jianguo"),
    ("海燕", "Haiyan"),
]
CENTRES = ["研发中心", "产品中心", "市场中心", "运营中心", "职能中心"]
DEPARTMENTS = ["平台部", "移动开发部", "数据部", "测试部", "架构部", "华北区", "华东区", "华南区"]
TEAMS = ["一组", "二组", "三组", "四组"]
POSITIONS = [
    "工程师",
    "高级工程师",
    "资深工程师",
    "技术专家",
    "产品经理",
    "项目经理",
    "市场专员",
    "销售代表",
    "HR 专员",
    "会计",
    "出纳",
    "IT 支持",
    "部门经理",
    "总监",
    "实习生",
]
REGIONS = [
    ("BJ", "北京"),
    ("SH", "上海"),
    ("HF", "合肥"),
    ("SZ", "深圳"),
    ("GZ", "广州"),
    ("HZ", "杭州"),
    ("CD", "成都"),
    ("WH", "武汉"),
]
TYPES = ["full_time"] * 14 + ["part_time", "contractor", "contractor", "intern", "partner"]
COLUMNS = [
    "employee_id",
    "name_zh",
    "name_latin",
    "org_unit",
    "position",
    "region",
    "employment_type",
    "supervisor_id",
    "mobile",
    "status",
    "start_date",
    "end_date",
]


def generate_csv(rows: int, seed: int = 20261128) -> bytes:
    """A realistic roster: Chinese and Latin names, a 3-level unit tree, supervisors, regions."""
    rnd = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(rows):
        zh_s, la_s = rnd.choice(SURNAMES)
        zh_g, la_g = rnd.choice(GIVEN)
        unit = "/".join(
            (rnd.choice(CENTRES), rnd.choice(DEPARTMENTS), rnd.choice(TEAMS))[: rnd.randint(1, 3)]
        )
        etype = rnd.choice(TYPES)
        # The first 1% are managers without a supervisor; everyone else reports to one of them.
        supervisor = "" if i < max(rows // 100, 1) else f"E{rnd.randrange(max(rows // 100, 1)):07d}"
        year = rnd.randint(2005, 2025)
        start = f"{year}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        end = f"{year + 2}-06-30" if etype in ("contractor", "intern") else ""
        writer.writerow(
            [
                f"E{i:07d}",
                zh_s + zh_g,
                f"{la_s} {la_g}",
                unit,
                rnd.choice(POSITIONS),
                rnd.choice(REGIONS)[0],
                etype,
                supervisor,
                f"1{rnd.choice('3578')}{rnd.randrange(10**9):09d}",
                "on_leave" if rnd.random() < 0.02 else "active",
                start,
                end,
            ]
        )
    return out.getvalue().encode("utf-8")


@asynccontextmanager
async def database_url(backend: str) -> AsyncIterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as data_dir:
            yield sqlite_url(Path(data_dir) / "mailgate.db")
        return
    admin_dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://").rstrip("/") + "/postgres"
    name = f"mg_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"{PG_URL.rstrip('/')}/{name}"
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def run(backend: str, data: bytes, rows: int) -> None:
    async with database_url(backend) as url:
        db = open_database(url)
        try:
            await upgrade(db)
            blobs = FileBlobStore(Path(tempfile.mkdtemp(prefix="mailgate-bench-blobs-")))
            services = Services.build(
                SqlUnitOfWorkFactory(db), SystemClock(), Argon2Hasher(time_cost=1), blobs
            )
            actor = operator("bench")
            await services.organisations.create(actor, "bench", "Bench Corp")
            for code, name in REGIONS:
                await services.organisations.add_region(actor, "bench", code, name)
            # The third pass puts everyone active on leave: the update path (~98% of rows).
            passes = (
                ("first import", data),
                ("second import (unchanged)", data),
                ("third import (updates)", data.replace(b",active,", b",on_leave,")),
            )
            for label, payload in passes:
                start = time.perf_counter()
                report = await services.roster.import_csv(actor, "bench", payload)
                seconds = time.perf_counter() - start
                print(
                    f"{backend:<10} {label:<26} rows={rows:>7} created={report.created:>7} "
                    f"updated={report.updated:>3} unchanged={report.unchanged:>7} "
                    f"rejected={len(report.rejected):>3} seconds={seconds:7.2f} "
                    f"rows/s={rows / seconds:>9,.0f}",
                    flush=True,
                )
                assert not report.rejected, report.rejected[:3]
        finally:
            await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    start = time.perf_counter()
    data = generate_csv(args.rows)
    print(
        f"generated {args.rows} rows ({len(data) / 1e6:.1f} MB) in "
        f"{time.perf_counter() - start:.2f} s",
        flush=True,
    )
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        asyncio.run(run(backend, data, args.rows))


if __name__ == "__main__":
    main()
