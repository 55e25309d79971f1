"""Roster CSV decoding and parsing (pure): encodings, header, every rejection with its line."""

from __future__ import annotations

from datetime import date

import pytest

from mailgate.domain.directory import EmploymentType, RosterStatus
from mailgate.domain.errors import InvalidRoster
from mailgate.domain.roster import RejectedRow, RosterRow, decode_csv, parse_roster

HEADER = "employee_id,name_zh,name_latin,org_unit,employment_type,region,start_date,end_date\n"
GOOD = "E1,张伟,Zhang Wei,研发中心/平台部,full_time,BJ,2024-01-02,\n"


def _split(text: str) -> tuple[list[RosterRow], list[RejectedRow]]:
    out = list(parse_roster(text))
    return (
        [r for r in out if isinstance(r, RosterRow)],
        [r for r in out if isinstance(r, RejectedRow)],
    )


def test_decode_utf8_with_and_without_bom() -> None:
    text = HEADER + GOOD
    assert decode_csv(text.encode("utf-8")) == text
    assert decode_csv(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    rows, rejected = _split(decode_csv(b"\xef\xbb\xbf" + text.encode("utf-8")))
    assert [r.employee_id for r in rows] == ["E1"] and not rejected


def test_gbk_bytes_are_refused_with_a_clear_message() -> None:
    data = (HEADER + GOOD).encode("gbk")
    with pytest.raises(InvalidRoster) as info:
        decode_csv(data)
    message = str(info.value)
    assert "not valid UTF-8" in message
    assert "It looks like GBK/GB18030" in message
    assert "--encoding gb18030" in message
    # With the encoding named, the same bytes read fine.
    assert decode_csv(data, "gb18030") == HEADER + GOOD


def test_unknown_and_wrong_encodings() -> None:
    with pytest.raises(InvalidRoster, match="unknown encoding 'klingon'"):
        decode_csv(b"x", "klingon")
    with pytest.raises(InvalidRoster, match="not valid ascii"):
        decode_csv("张".encode(), "ascii")
    with pytest.raises(InvalidRoster, match="not valid UTF-8") as info:
        decode_csv(b"\xff\xfe\xfa\x00\x81")
    assert "It looks like GBK" not in str(info.value)


def test_header_is_case_insensitive_and_order_free() -> None:
    rows, rejected = _split(
        "Org_Unit, EMPLOYEE_ID ,Employment_Type,Name_Latin\n研发中心,E9,Intern,Li Na\n"
    )
    assert not rejected
    assert rows[0].employee_id == "E9"
    assert rows[0].employment_type is EmploymentType.INTERN
    assert rows[0].status is RosterStatus.ACTIVE


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("name_zh,org_unit,employment_type", "employee_id"),
        ("employee_id,name_zh,employment_type", "org_unit"),
        ("employee_id,name_zh,org_unit", "employment_type"),
        ("employee_id,org_unit,employment_type", "name_zh or name_latin"),
    ],
)
def test_missing_required_column_is_named(header: str, missing: str) -> None:
    with pytest.raises(InvalidRoster) as info:
        list(parse_roster(header + "\n"))
    assert f"lacks the required column(s): {missing}." in str(info.value)


def test_empty_file() -> None:
    with pytest.raises(InvalidRoster, match="the file is empty"):
        list(parse_roster(""))


def test_bad_rows_are_rejected_with_line_numbers_and_reasons() -> None:
    text = HEADER + "".join(
        [
            GOOD,  # line 2
            "E2,李娜,,市场部,full_time,,2024-13-01,\n",  # 3 bad date
            "E3,王芳,,市场部,full_time,,2024-05-01,2024-04-30\n",  # 4 end before start
            "E4,赵强,,市场部,boss,,,\n",  # 5 bad employment type
            "E1,张伟,,市场部,full_time,,,\n",  # 6 duplicate of line 2
            ",无号,,市场部,full_time,,,\n",  # 7 empty id
            "E 8,空格,,市场部,full_time,,,\n",  # 8 bad id
            "E9,,,市场部,full_time,,,\n",  # 9 no name
            "E10,陈杰,,,full_time,,,\n",  # 10 no unit
            "E11,周明,,市场部,full_time,,,,extra\n",  # 11 too many fields
            "E12,吴静,,市场部,full_time,,,\n",  # 12 good
        ]
    )
    rows, rejected = _split(text)
    assert [r.employee_id for r in rows] == ["E1", "E12"]
    assert [r.line for r in rows] == [2, 12]
    reasons = {r.line: r.reason for r in rejected}
    assert reasons == {
        3: "start_date '2024-13-01' is not a date of the form YYYY-MM-DD",
        4: "end_date is before start_date",
        5: "employment_type 'boss' is not one of: "
        "full_time, part_time, contractor, intern, partner",
        6: "employee_id E1 already appears on line 2",
        7: "employee_id is empty",
        8: "employee_id 'E 8' may only contain letters, digits, '.', '_', '-'",
        9: "both name_zh and name_latin are empty; give at least one",
        10: "org_unit is empty",
        11: "more fields than columns",
    }
    assert {r.line: r.employee_id for r in rejected}[6] == "E1"


def test_more_rejections() -> None:
    header = "employee_id,name_zh,org_unit,employment_type,mobile,status,supervisor_id\n"
    rows, rejected = _split(
        header
        + "E1,张伟,研发中心,full_time,abc,,\n"
        + "E2,李娜,研发中心,full_time,,retired,\n"
        + "E3,王芳,研发中心,full_time,,,E3\n"
        + "E4,赵\x07强,研发中心,full_time,,,\n"
        + "E5,"
        + "长" * 201
        + ",研发中心,full_time,,,\n"
        + "E6,刘洋,研发中心,full_time,+86 138-0013-8000,ON_LEAVE,E1\n"
    )
    reasons = [r.reason for r in rejected]
    assert reasons == [
        "mobile 'abc' is not a phone number",
        "status 'retired' is not one of: active, on_leave, terminated",
        "supervisor_id is the employee's own ID",
        "name_zh contains control characters",
        "name_zh is longer than 200 characters",
    ]
    (row,) = rows
    assert row.mobile == "+8613800138000"
    assert row.status is RosterStatus.ON_LEAVE
    assert row.supervisor_employee_id == "E1"


def test_quoted_multiline_fields_keep_line_numbers_right() -> None:
    text = (
        HEADER
        + 'E1,张伟,"Zhang\nWei",研发中心,full_time,,,\n'  # lines 2-3
        + "E2,李娜,,研发中心,full_time,,bad,\n"  # line 4
        + 'E3,王芳,,"研发中心/\n\n平台部",full_time,,,\n'  # lines 5-7
        + "E4,赵强,,研发中心,nope,,,\n"  # line 8
        + '"E5",周明,"Zhou, Ming",研发中心,intern,,,\n'  # line 9
    )
    rows, rejected = _split(text)
    assert [(r.employee_id, r.line) for r in rows] == [("E5", 9)]
    assert rows[0].name_latin == "Zhou, Ming"
    assert [(r.employee_id, r.line, r.reason) for r in rejected] == [
        ("E1", 2, "name_latin contains control characters"),
        ("E2", 4, "start_date 'bad' is not a date of the form YYYY-MM-DD"),
        ("E3", 5, "org_unit contains control characters"),
        (
            "E4",
            8,
            "employment_type 'nope' is not one of: "
            "full_time, part_time, contractor, intern, partner",
        ),
    ]


def test_values_are_cleaned() -> None:
    rows, _ = _split(
        HEADER + " E7 , 张伟 ,Zhang Wei, 研发中心 // 平台部 ,FULL_TIME, bj ,2024-01-02,2025-01-01\n"
    )
    (row,) = rows
    assert row.employee_id == "E7"
    assert row.name_zh == "张伟"
    assert row.org_unit_path == "研发中心/平台部"
    assert row.region_code == "BJ"
    assert row.start_date == date(2024, 1, 2)
    assert row.end_date == date(2025, 1, 1)
