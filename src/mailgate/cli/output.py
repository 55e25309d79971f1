"""Tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from rich.table import Table

from mailgate.cli.runtime import out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def emit(
    as_json: bool,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Print `rows` as a Rich table, or as JSON ({"items": [...], **extra}) with --json."""
    if as_json:
        payload: dict[str, Any] = {"items": [_plain(r) for r in rows]}
        payload.update(_plain(extra or {}))
        out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    table = Table(title=title, show_lines=False, highlight=False)
    for col in columns:
        table.add_column(col.replace("_", " "))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(_plain(row.get(c))) for c in columns))
    out.print(table)
    if extra:
        for key, value in extra.items():
            out.print(f"{key.replace('_', ' ')}: {value}", highlight=False)


def emit_one(as_json: bool, obj: dict[str, Any]) -> None:
    if as_json:
        out.print_json(json.dumps(_plain(obj), ensure_ascii=False))
        return
    width = max(len(k) for k in obj)
    for key, value in obj.items():
        shown = "" if value is None else _plain(value)
        out.print(f"{key.replace('_', ' '):<{width}}  {shown}", highlight=False)
