"""Sizes with units (quota) and dates typed by people."""

from __future__ import annotations

import re
from datetime import date

from mailgate.domain.errors import InvalidInput

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """`2GiB` -> 2147483648. Decimal (GB) and binary (GiB) units; raises InvalidInput."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise InvalidInput(f"{text!r} is not a size; write it like 500MiB, 2GiB or 10GB")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise InvalidInput(f"the size {text!r} must be greater than zero")
    return value


def format_size(value: int | None) -> str:
    """2147483648 -> '2 GiB'; None -> 'unlimited'."""
    if value is None:
        return "unlimited"
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= factor:
            amount = value / factor
            return f"{amount:.0f} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{value} B"


def parse_date(text: str, what: str = "date") -> date:
    """ISO dates (2026-12-31); raises InvalidInput naming the field."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a valid {what}; write it as YYYY-MM-DD") from exc
