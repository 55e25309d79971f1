"""Parsing an HR roster CSV into checked rows (pure; the import service stores them).

Columns (header names are case-insensitive; order is free):

| column             | required | meaning                                                      |
|--------------------|----------|--------------------------------------------------------------|
| employee_id        | yes      | 工号, unique within the organisation (letters, digits, - _ .) |
| name_zh            | one of   | name in Chinese script, e.g. 张伟                             |
| name_latin         | the two  | name in Latin script, e.g. Zhang Wei                          |
| org_unit           | yes      | department path from the root, "/"-separated: 研发中心/平台部  |
| employment_type    | yes      | full_time, part_time, contractor, intern or partner          |
| position           | no       | job title; created on first use                              |
| region             | no       | region code configured for the organisation (BJ, SH ...)     |
| supervisor_id      | no       | the direct supervisor's employee ID                          |
| mobile             | no       | mobile phone, digits with an optional leading +              |
| status             | no       | active (default), on_leave or terminated                     |
| start_date         | no       | YYYY-MM-DD                                                   |
| end_date           | no       | YYYY-MM-DD, not before start_date                            |
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from mailgate.domain.directory import EmploymentType, RosterStatus
from mailgate.domain.errors import InvalidRoster

REQUIRED_COLUMNS = ("employee_id", "org_unit", "employment_type")
NAME_COLUMNS = ("name_zh", "name_latin")
OPTIONAL_COLUMNS = (
    "position",
    "region",
    "supervisor_id",
    "mobile",
    "status",
    "start_date",
    "end_date",
)
ALL_COLUMNS = REQUIRED_COLUMNS + NAME_COLUMNS + OPTIONAL_COLUMNS
_EMPLOYEE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_MOBILE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")
MAX_FIELD = 200


@dataclass(frozen=True, slots=True)
class RosterRow:
    line: int
    employee_id: str
    name_zh: str
    name_latin: str
    org_unit_path: str
    employment_type: EmploymentType
    position: str
    region_code: str
    supervisor_employee_id: str
    mobile: str
    status: RosterStatus
    start_date: date | None
    end_date: date | None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    employee_id: str
    reason: str


def decode_csv(data: bytes, encoding: str = "utf-8") -> str:
    """Bytes to text: UTF-8 with or without BOM by default; a clear error for GBK files."""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig"):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            hint = ""
            try:
                data.decode("gb18030")
                hint = " It looks like GBK/GB18030 (common for files saved by Excel in China)."
            except UnicodeDecodeError:
                pass
            raise InvalidRoster(
                f"the file is not valid UTF-8 (byte {exc.start}).{hint} Save it as "
                "'CSV UTF-8', or pass --encoding gb18030 to read it as GBK/GB18030."
            ) from exc
    try:
        return data.decode(encoding)
    except LookupError as exc:
        raise InvalidRoster(f"unknown encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidRoster(
            f"the file is not valid {encoding} (byte {exc.start}); check the encoding option"
        ) from exc


def _clean(value: str | None) -> str:
    return unicodedata.normalize("NFC", (value or "").strip())


def _date(value: str, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a date of the form YYYY-MM-DD") from None


def _row(line: int, raw: dict[str, str]) -> RosterRow:
    values = {k: _clean(raw.get(k)) for k in ALL_COLUMNS}
    for key, value in values.items():
        if len(value) > MAX_FIELD:
            raise ValueError(f"{key} is longer than {MAX_FIELD} characters")
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValueError(f"{key} contains control characters")
    emp = values["employee_id"]
    if not emp:
        raise ValueError("employee_id is empty")
    if not _EMPLOYEE_ID.match(emp):
        raise ValueError(f"employee_id {emp!r} may only contain letters, digits, '.', '_', '-'")
    if not values["name_zh"] and not values["name_latin"]:
        raise ValueError("both name_zh and name_latin are empty; give at least one")
    unit = "/".join(part.strip() for part in values["org_unit"].split("/") if part.strip())
    if not unit:
        raise ValueError("org_unit is empty")
    try:
        etype = EmploymentType(values["employment_type"].lower())
    except ValueError:
        allowed = ", ".join(e.value for e in EmploymentType)
        raise ValueError(
            f"employment_type {values['employment_type']!r} is not one of: {allowed}"
        ) from None
    try:
        status = RosterStatus((values["status"] or "active").lower())
    except ValueError:
        allowed = ", ".join(s.value for s in RosterStatus)
        raise ValueError(f"status {values['status']!r} is not one of: {allowed}") from None
    mobile = values["mobile"]
    if mobile and not _MOBILE.match(mobile):
        raise ValueError(f"mobile {mobile!r} is not a phone number")
    start = _date(values["start_date"], "start_date")
    end = _date(values["end_date"], "end_date")
    if start and end and end < start:
        raise ValueError("end_date is before start_date")
    supervisor = values["supervisor_id"]
    if supervisor == emp:
        raise ValueError("supervisor_id is the employee's own ID")
    return RosterRow(
        line=line,
        employee_id=emp,
        name_zh=values["name_zh"],
        name_latin=values["name_latin"],
        org_unit_path=unit,
        employment_type=etype,
        position=values["position"],
        region_code=values["region"].upper(),
        supervisor_employee_id=supervisor,
        mobile=mobile.replace(" ", "").replace("-", ""),
        status=status,
        start_date=start,
        end_date=end,
    )


def parse_roster(text: str) -> Iterator[RosterRow | RejectedRow]:
    """Yield a checked row or a rejection for every data line; InvalidRoster for a bad header.

    A repeated employee ID within one file is rejected on its later lines.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise InvalidRoster("the file is empty; the first line must name the columns")
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if not any(c in header for c in NAME_COLUMNS):
        missing.append("name_zh or name_latin")
    if missing:
        raise InvalidRoster(
            f"the file lacks the required column(s): {', '.join(missing)}. "
            f"The header line must name: {', '.join(REQUIRED_COLUMNS)} and name_zh and/or "
            "name_latin."
        )
    seen: dict[str, int] = {}
    line = 1
    for raw in reader:
        line_start = line + 1
        line = reader.line_num
        if None in raw:
            yield RejectedRow(
                line_start, _clean(raw.get("employee_id")), "more fields than columns"
            )
            continue
        try:
            row = _row(line_start, raw)
        except ValueError as exc:
            yield RejectedRow(line_start, _clean(raw.get("employee_id")), str(exc))
            continue
        if row.employee_id in seen:
            yield RejectedRow(
                line_start,
                row.employee_id,
                f"employee_id {row.employee_id} already appears on line {seen[row.employee_id]}",
            )
            continue
        seen[row.employee_id] = line_start
        yield row
