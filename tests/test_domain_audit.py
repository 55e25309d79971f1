"""The audit hash chain (pure): sealing and verification name the event that does not fit."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from mailgate.domain.audit import GENESIS, AuditEvent, seal, verify_chain

T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def _chain(n: int) -> list[tuple[int, AuditEvent]]:
    out: list[tuple[int, AuditEvent]] = []
    prev = GENESIS
    for i in range(1, n + 1):
        ev = seal(
            i,
            prev,
            T0 + timedelta(seconds=i),
            "cli:root",
            "account.create",
            f"account:u{i}@例子.测试",
            1,
            {"n": i, "名": "张伟"},
            "127.0.0.1",
        )
        out.append((100 + i, ev))
        prev = ev.hash
    return out


def test_intact_chain() -> None:
    rows = _chain(5)
    report = verify_chain(rows)
    assert report.ok
    assert report.count == 5
    assert report.head_seq == 5
    assert report.head_hash == rows[-1][1].hash
    assert rows[0][1].prev_hash == GENESIS


def test_empty_chain() -> None:
    report = verify_chain([])
    assert report.ok and report.count == 0 and report.head_seq == 0
    assert report.head_hash == GENESIS


def test_edit_is_detected_and_named() -> None:
    rows = _chain(5)
    row_id, ev = rows[2]
    rows[2] = (row_id, dataclasses.replace(ev, summary={"n": 999}))
    report = verify_chain(rows)
    assert not report.ok
    assert [(p.seq, p.row_id) for p in report.problems] == [(3, 103)]
    assert "edited" in report.problems[0].what


def test_every_field_is_covered_by_the_hash() -> None:
    changes: dict[str, Any] = {
        "occurred_at": T0,
        "actor": "mallory",
        "action": "account.delete",
        "target": "x",
        "org_id": 2,
        "source_ip": "10.0.0.9",
    }
    for field, value in changes.items():
        rows = _chain(3)
        rows[1] = (rows[1][0], dataclasses.replace(rows[1][1], **{field: value}))
        assert [p.seq for p in verify_chain(rows).problems] == [2], field


def test_deletion_is_detected_and_named() -> None:
    rows = _chain(5)
    del rows[2]
    report = verify_chain(rows)
    assert {p.seq for p in report.problems} == {4}
    whats = " / ".join(p.what for p in report.problems)
    assert "sequence 4 where 3 was expected: events are missing before it" in whats
    assert "link to the previous event is broken" in whats


def test_reordering_is_detected_and_named() -> None:
    rows = _chain(5)
    rows[1], rows[2] = rows[2], rows[1]
    report = verify_chain(rows)
    assert {p.seq for p in report.problems} == {2, 3, 4}
    assert any("reordered" in p.what for p in report.problems)


def test_swapped_contents_with_rehashing_still_break_the_links() -> None:
    # A forger who swaps two events' contents and re-seals them still breaks the chain after.
    rows = _chain(4)
    a, b = rows[1][1], rows[2][1]
    forged_2 = seal(
        2, a.prev_hash, b.occurred_at, b.actor, b.action, b.target, b.org_id, b.summary, b.source_ip
    )
    rows[1] = (rows[1][0], forged_2)
    report = verify_chain(rows)
    assert [p.seq for p in report.problems] == [3]


def test_truncating_the_head_keeps_a_valid_but_shorter_chain() -> None:
    rows = _chain(5)
    report = verify_chain(rows[:3])
    assert report.ok and report.head_seq == 3  # only an external copy of the head detects this
