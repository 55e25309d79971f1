"""Roster import through the service, on both backends: good rows in, bad rows named by line,
idempotent re-import, single-row updates, Chinese names, GBK and unknown regions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailgate.domain.access import Actor
from mailgate.domain.errors import InvalidRoster, NotFound
from mailgate.services.container import Services
from mailgate.storage.database import Database
from mailgate.storage.tables import audit_events, org_units, positions, roster_entries

HEADER = (
    "employee_id,name_zh,name_latin,org_unit,position,region,employment_type,supervisor_id,"
    "mobile,status,start_date,end_date\n"
)
ROWS = [
    "E001,张伟,Zhang Wei,研发中心,部门经理,BJ,full_time,,13800138000,active,2020-01-01,",
    "E002,王芳,Wang Fang,研发中心/平台部,工程师,SH,full_time,E001,,active,2021-03-15,",
    "E003,李娜,Li Na,研发中心/平台部,工程师,bj,contractor,E001,,on_leave,2022-07-01,2027-06-30",
    "E004,欧阳子涵,Ouyang Zihan,市场部,市场专员,SH,intern,E001,,active,2024-09-01,2025-08-31",
    "E005,,Alice Chen,市场部,,,part_time,E004,+86 139 0000 0000,,,",
]
BAD = [
    "E006,赵强,,市场部,,BJ,boss,,,,,",  # line 7: employment type
    "E007,孙丽,,市场部,,BJ,full_time,,,,2024-02-30,",  # line 8: date
    "E001,张伟,,市场部,,BJ,full_time,,,,,",  # line 9: duplicate
]


def csv_bytes(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode("utf-8")


async def _counts(db: Database) -> list[int]:
    async with db.reader.connect() as conn:
        return [
            int(await conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in (roster_entries, audit_events, org_units, positions)
        ]


@pytest.fixture
async def acme(services: Services, root: Actor) -> str:
    await services.organisations.create(root, "acme", "Acme 公司")
    await services.organisations.add_region(root, "acme", "BJ", "北京")
    await services.organisations.add_region(root, "acme", "SH", "上海")
    return "acme"


async def test_import_names_bad_rows_and_keeps_the_rest(
    services: Services, root: Actor, database: Database, acme: str
) -> None:
    data = csv_bytes(*ROWS, *BAD)
    report = await services.roster.import_csv(root, acme, b"\xef\xbb\xbf" + data)
    assert (report.created, report.updated, report.unchanged) == (5, 0, 0)
    assert [(r.line, r.employee_id) for r in report.rejected] == [
        (7, "E006"),
        (8, "E007"),
        (9, "E001"),
    ]
    assert "employment_type 'boss'" in report.rejected[0].reason
    assert "start_date '2024-02-30'" in report.rejected[1].reason
    assert "already appears on line 2" in report.rejected[2].reason

    entries, total = await services.roster.search(root, org_slug=acme)
    assert total == 5
    by_id = {e.employee_id: e for e in entries}
    assert by_id["E004"].name_zh == "欧阳子涵"
    assert by_id["E005"].display_name == "Alice Chen"
    assert by_id["E005"].mobile == "+8613900000000"
    assert by_id["E003"].status.value == "on_leave"
    assert by_id["E002"].supervisor_employee_id == "E001"
    assert by_id["E002"].org_unit_id == by_id["E003"].org_unit_id
    found, n = await services.roster.search(root, query="子涵")
    assert n == 1 and found[0].employee_id == "E004"
    units = {u.path for u in await services.organisations.list_units(root, acme)}
    assert units == {"研发中心", "研发中心/平台部", "市场部"}
    events, _ = await services.audit.list(root, limit=1)
    assert events[0].action == "roster.import"
    assert events[0].summary == {"created": 5, "updated": 0, "unchanged": 0, "rejected": 3}

    # The same file again: nothing changes, no audit event.
    before = await _counts(database)
    again = await services.roster.import_csv(root, acme, data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert len(again.rejected) == 3
    assert await _counts(database) == before
    assert (await services.audit.verify(root)).ok


async def test_one_changed_row_updates_only_it(
    services: Services, root: Actor, database: Database, acme: str
) -> None:
    await services.roster.import_csv(root, acme, csv_bytes(*ROWS))
    before = {e.employee_id: e for e in (await services.roster.search(root, org_slug=acme))[0]}
    changed = [*ROWS]
    changed[1] = changed[1].replace("王芳,Wang Fang", "王芳芳,Wang Fangfang")
    report = await services.roster.import_csv(root, acme, csv_bytes(*changed))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 4)
    after = {e.employee_id: e for e in (await services.roster.search(root, org_slug=acme))[0]}
    assert after["E002"].name_zh == "王芳芳"
    assert after["E002"].updated_at > before["E002"].updated_at
    for emp in ("E001", "E003", "E004", "E005"):
        assert after[emp] == before[emp]
    events, _ = await services.audit.list(root, limit=1)
    assert events[0].summary["updated"] == 1


async def test_gbk_file_is_refused_and_writes_nothing(
    services: Services, root: Actor, database: Database, acme: str
) -> None:
    data = (HEADER + "".join(r + "\n" for r in ROWS)).encode("gbk")
    before = await _counts(database)
    with pytest.raises(InvalidRoster) as info:
        await services.roster.import_csv(root, acme, data)
    assert "GBK" in str(info.value) and "--encoding gb18030" in str(info.value)
    assert await _counts(database) == before
    report = await services.roster.import_csv(root, acme, data, encoding="gb18030")
    assert report.created == 5
    assert (await services.roster.search(root, query="欧阳"))[0][0].name_zh == "欧阳子涵"


async def test_missing_column_is_named(
    services: Services, root: Actor, database: Database, acme: str
) -> None:
    before = await _counts(database)
    with pytest.raises(InvalidRoster, match="required column\\(s\\): org_unit"):
        await services.roster.import_csv(
            root, acme, "employee_id,name_zh,employment_type\nE1,张伟,intern\n".encode()
        )
    assert await _counts(database) == before


async def test_unknown_region_is_a_rejected_row(
    services: Services, root: Actor, database: Database, acme: str
) -> None:
    rows = [*ROWS, "E010,周杰,,财务部,会计,GZ,full_time,,,,,"]
    report = await services.roster.import_csv(root, acme, csv_bytes(*rows))
    assert report.created == 5
    (bad,) = report.rejected
    assert (bad.line, bad.employee_id) == (7, "E010")
    assert bad.reason == "region 'GZ' is not a region of acme (known: BJ, SH)"
    # Only rejected rows: nothing is written at all, not even their units or positions.
    before = await _counts(database)
    only_bad = await services.roster.import_csv(root, acme, csv_bytes(rows[-1]))
    assert only_bad.accepted == 0 and len(only_bad.rejected) == 1
    assert await _counts(database) == before


async def test_unknown_org(services: Services, root: Actor) -> None:
    with pytest.raises(NotFound):
        await services.roster.import_csv(root, "nope", csv_bytes(*ROWS))


async def test_progress_is_reported(services: Services, root: Actor, acme: str) -> None:
    seen: list[tuple[int, int]] = []
    rows = [f"P{i:05d},员工{i},,研发中心,,,full_time,,,,," for i in range(2500)]
    report = await services.roster.import_csv(
        root, acme, csv_bytes(*rows), progress=lambda done, total: seen.append((done, total))
    )
    assert report.created == 2500
    assert seen[-1] == (2500, 2500)
    assert (1000, 2500) in seen
