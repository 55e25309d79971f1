"""IMAP sequence sets (RFC 9051 section 9, ``sequence-set``) as a compact value type.

A set is kept as the ranges the client wrote, with ``*`` as :data:`STAR` (0, never a valid
number).  ``*`` and every bound are resolved only against the mailbox's current largest
message number or UID, so the same parsed set can be evaluated many times.  ``$`` (the
SEARCHRES saved result, RFC 5182) is recorded in :attr:`SequenceSet.saved` and must be
substituted by the session with :meth:`SequenceSet.with_saved`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_NUMBER", "STAR", "SequenceSet", "SequenceSetError", "compress"]

STAR: Final = 0
MAX_NUMBER: Final = 0xFFFFFFFF


class SequenceSetError(ValueError):
    """The text is not a valid sequence set."""


def _number(token: bytes) -> int:
    if token == b"*":
        return STAR
    if not token.isdigit() or len(token) > 10:
        raise SequenceSetError("invalid sequence number")
    value = int(token)
    if value == 0 or value > MAX_NUMBER:
        raise SequenceSetError("sequence number out of range")
    return value


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """Ranges ``(low, high)`` as written (STAR for ``*``); ``saved`` when ``$`` occurred."""

    ranges: tuple[tuple[int, int], ...]
    saved: bool = False

    @classmethod
    def parse(cls, text: bytes) -> SequenceSet:
        """Parse ``1:*,5,7:9`` (and ``$``); raise :class:`SequenceSetError`."""
        if not text:
            raise SequenceSetError("empty sequence set")
        ranges: list[tuple[int, int]] = []
        saved = False
        for item in text.split(b","):
            if item == b"$":
                saved = True
                continue
            low, sep, high = item.partition(b":")
            first = _number(low)
            ranges.append((first, _number(high) if sep else first))
        return cls(tuple(ranges), saved)

    @classmethod
    def of(cls, values: Iterable[int]) -> SequenceSet:
        """A set holding exactly these numbers, as the fewest ranges."""
        return cls(tuple(_runs(values)))

    def with_saved(self, saved: SequenceSet | None) -> SequenceSet:
        """Replace ``$`` by the saved search result (empty when there is none)."""
        if not self.saved:
            return self
        extra = saved.ranges if saved is not None else ()
        return SequenceSet(self.ranges + extra)

    def resolved(self, max_value: int) -> list[tuple[int, int]]:
        """Sorted, merged, inclusive ranges within ``1..max_value``."""
        if max_value <= 0:
            return []
        spans: list[tuple[int, int]] = []
        for low, high in self.ranges:
            a = max_value if low == STAR else low
            b = max_value if high == STAR else high
            if a > b:
                a, b = b, a
            if a > max_value:
                continue
            spans.append((a, min(b, max_value)))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1] + 1:
                if b > merged[-1][1]:
                    merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        return merged

    def contains(self, value: int, max_value: int) -> bool:
        """Whether ``value`` is in the set when ``*`` means ``max_value``."""
        for low, high in self.ranges:
            a = max_value if low == STAR else low
            b = max_value if high == STAR else high
            if a <= value <= b or b <= value <= a:
                return True
        return False

    def iter(self, max_value: int) -> Iterator[int]:
        """Ascending distinct members within ``1..max_value`` (message sequence numbers)."""
        for a, b in self.resolved(max_value):
            yield from range(a, b + 1)

    def select(self, sorted_values: Sequence[int]) -> list[int]:
        """Members of an ascending list (e.g. a mailbox's UIDs); ``*`` is its last item."""
        if not sorted_values:
            return []
        out: list[int] = []
        for a, b in self.resolved(sorted_values[-1]):
            out.extend(
                sorted_values[bisect_left(sorted_values, a) : bisect_right(sorted_values, b)]
            )
        return out

    def out_of_range(self, max_value: int) -> bool:
        """True when a number exceeds ``max_value`` (a BAD for message sequence numbers)."""
        return any(v > max_value for r in self.ranges for v in r if v != STAR)

    def __bytes__(self) -> bytes:
        parts = [
            _fmt(low) if low == high else _fmt(low) + b":" + _fmt(high) for low, high in self.ranges
        ]
        if self.saved:
            parts.append(b"$")
        return b",".join(parts)

    def __str__(self) -> str:
        return bytes(self).decode("ascii")


def _fmt(value: int) -> bytes:
    return b"*" if value == STAR else b"%d" % value


def _runs(values: Iterable[int]) -> Iterator[tuple[int, int]]:
    ordered = sorted(set(values))
    if not ordered:
        return
    start = prev = ordered[0]
    for v in ordered[1:]:
        if v != prev + 1:
            yield (start, prev)
            start = v
        prev = v
    yield (start, prev)


def compress(values: Iterable[int]) -> bytes:
    """``[1, 2, 3, 5]`` -> ``b"1:3,5"``; empty input gives ``b""``."""
    return b",".join(b"%d" % a if a == b else b"%d:%d" % (a, b) for a, b in _runs(values))
