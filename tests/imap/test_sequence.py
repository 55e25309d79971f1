"""Sequence sets (RFC 9051 section 9)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailgate.protocols.imap.sequence import STAR, SequenceSet, SequenceSetError, compress


def test_parse_and_format() -> None:
    seq = SequenceSet.parse(b"1:*,5,7:9,$")
    assert seq.ranges == ((1, STAR), (5, 5), (7, 9)) and seq.saved
    assert bytes(seq) == b"1:*,5,7:9,$" and str(seq) == "1:*,5,7:9,$"


@pytest.mark.parametrize(
    "text", [b"", b"0", b"1:", b":1", b"a", b",", b"1,", b",1", b"1:2:3", b"4294967296", b"1:0"]
)
def test_invalid(text: bytes) -> None:
    with pytest.raises(SequenceSetError):
        SequenceSet.parse(text)


def test_membership_with_star() -> None:
    seq = SequenceSet.parse(b"2:4,10:*")
    assert [n for n in range(1, 13) if seq.contains(n, 12)] == [2, 3, 4, 10, 11, 12]
    assert SequenceSet.parse(b"*:5").contains(7, 9)  # reversed range
    assert not SequenceSet.parse(b"*").contains(3, 4)


def test_iteration_is_bounded_and_merged() -> None:
    seq = SequenceSet.parse(b"1:*,3,2:4")
    assert list(seq.iter(5)) == [1, 2, 3, 4, 5]
    assert list(SequenceSet.parse(b"1:4294967295").iter(3)) == [1, 2, 3]
    assert list(SequenceSet.parse(b"1:*").iter(0)) == []
    assert SequenceSet.parse(b"8:9,1:2").resolved(100) == [(1, 2), (8, 9)]


def test_uid_selection() -> None:
    uids = [3, 7, 8, 20, 21, 400]
    assert SequenceSet.parse(b"5:20").select(uids) == [7, 8, 20]
    assert SequenceSet.parse(b"*").select(uids) == [400]
    assert SequenceSet.parse(b"500:*").select(uids) == [400]  # RFC 9051: n:* includes max
    assert SequenceSet.parse(b"1:*").select([]) == []


def test_out_of_range_and_saved() -> None:
    assert SequenceSet.parse(b"1:9").out_of_range(5)
    assert not SequenceSet.parse(b"1:*").out_of_range(5)
    saved = SequenceSet.parse(b"4,6")
    assert list(SequenceSet.parse(b"$,1").with_saved(saved).iter(10)) == [1, 4, 6]
    assert list(SequenceSet.parse(b"$").with_saved(None).iter(10)) == []


def test_compress() -> None:
    assert compress([5, 1, 2, 3, 9, 10, 3]) == b"1:3,5,9:10"
    assert compress([]) == b""
    assert bytes(SequenceSet.of([1, 2, 4])) == b"1:2,4"


@given(st.sets(st.integers(1, 300), max_size=60))
def test_compress_round_trip(values: set[int]) -> None:
    if values:
        assert list(SequenceSet.parse(compress(values)).iter(300)) == sorted(values)


@given(st.binary(max_size=30))
def test_parse_fuzz(data: bytes) -> None:
    with contextlib.suppress(SequenceSetError):
        SequenceSet.parse(data)
