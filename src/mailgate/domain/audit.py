"""The audit log: append-only, hash-chained (R6, issue #2).

Each event stores the SHA-256 of its predecessor and a hash over its own canonical form, which
includes its sequence number. Editing an event breaks its own hash; deleting one leaves a gap in
the sequence and a broken link; swapping two breaks the sequence inside the hashes. Truncating the
newest events cannot be seen from the chain alone: `verify` reports the head (sequence and hash)
so an operator can compare it with a copy kept elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    target: str
    org_id: int | None
    summary: dict[str, Any]
    source_ip: str
    prev_hash: str
    hash: str


def canonical(
    seq: int,
    occurred_at: datetime,
    actor: str,
    action: str,
    target: str,
    org_id: int | None,
    summary: dict[str, Any],
    source_ip: str,
) -> bytes:
    body = {
        "seq": seq,
        "at": occurred_at.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "org": org_id,
        "summary": summary,
        "ip": source_ip,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + body).hexdigest()


def seal(
    seq: int,
    prev_hash: str,
    occurred_at: datetime,
    actor: str,
    action: str,
    target: str,
    org_id: int | None,
    summary: dict[str, Any],
    source_ip: str,
) -> AuditEvent:
    body = canonical(seq, occurred_at, actor, action, target, org_id, summary, source_ip)
    return AuditEvent(
        seq,
        occurred_at,
        actor,
        action,
        target,
        org_id,
        summary,
        source_ip,
        prev_hash,
        chain_hash(prev_hash, body),
    )


@dataclass(frozen=True, slots=True)
class ChainProblem:
    seq: int
    row_id: int
    what: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    count: int
    head_seq: int
    head_hash: str
    problems: tuple[ChainProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(rows: Iterable[tuple[int, AuditEvent]]) -> ChainReport:
    """Check (row id, event) pairs in storage order; name every event that does not fit."""
    problems: list[ChainProblem] = []
    prev_hash = GENESIS
    expected_seq = 1
    count = 0
    head_seq = 0
    for row_id, ev in rows:
        count += 1
        body = canonical(
            ev.seq,
            ev.occurred_at,
            ev.actor,
            ev.action,
            ev.target,
            ev.org_id,
            ev.summary,
            ev.source_ip,
        )
        if ev.seq != expected_seq:
            what = f"sequence {ev.seq} where {expected_seq} was expected: " + (
                "events are missing before it" if ev.seq > expected_seq else "reordered"
            )
            problems.append(ChainProblem(ev.seq, row_id, what))
        if ev.prev_hash != prev_hash:
            problems.append(ChainProblem(ev.seq, row_id, "link to the previous event is broken"))
        if chain_hash(ev.prev_hash, body) != ev.hash:
            problems.append(
                ChainProblem(ev.seq, row_id, "content does not match its hash (edited)")
            )
        prev_hash = ev.hash
        expected_seq = ev.seq + 1
        head_seq = ev.seq
    return ChainReport(count, head_seq, prev_hash, tuple(problems))
