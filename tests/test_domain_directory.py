"""The account state machine, sizes, slugs, the pool rule and role scopes (pure)."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailgate.domain.access import SYSTEM, Actor, Permission, Role, RoleGrant, operator
from mailgate.domain.directory import (
    ACCOUNT_TRANSITIONS,
    POOL_STATES,
    AccountAction,
    AccountState,
    check_pool,
    check_slug,
    next_state,
)
from mailgate.domain.errors import InvalidInput, InvalidTransition, PermissionDenied, PoolExhausted
from mailgate.domain.units import format_size, parse_date, parse_size

S = AccountState
A = AccountAction


@pytest.mark.parametrize(("pair", "target"), list(ACCOUNT_TRANSITIONS.items()))
def test_every_allowed_transition(pair: tuple[AccountState, AccountAction], target: S) -> None:
    assert next_state(*pair) is target


FORBIDDEN = [p for p in itertools.product(S, A) if p not in ACCOUNT_TRANSITIONS]


@pytest.mark.parametrize(("state", "action"), FORBIDDEN)
def test_every_other_step_is_refused_naming_the_allowed_ones(state: S, action: A) -> None:
    allowed = sorted(a.value for (s, a) in ACCOUNT_TRANSITIONS if s is state)
    with pytest.raises(InvalidTransition) as info:
        next_state(state, action)
    message = str(info.value)
    assert f"is {state.value} cannot {action.value}" in message
    assert f"the allowed steps are: {', '.join(allowed)}" in message


def test_the_table_is_what_the_issue_demands() -> None:
    # 6 states x 9 actions; every state can leave somewhere.
    assert len(FORBIDDEN) + len(ACCOUNT_TRANSITIONS) == len(S) * len(A)
    assert {s for s, _ in ACCOUNT_TRANSITIONS} == set(S)
    assert next_state(S.EXPIRED, A.REACTIVATE) is S.ACTIVE
    for refused in (A.UNLOCK, A.ENABLE, A.ACTIVATE, A.REINSTATE):
        with pytest.raises(InvalidTransition, match="disable, reactivate"):
            next_state(S.EXPIRED, refused)
    assert S.DISABLED not in POOL_STATES
    assert S.EXPIRED in POOL_STATES


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2GiB", 2 * 1024**3),
        ("2 gib", 2 * 1024**3),
        ("500MiB", 500 * 1024**2),
        ("10GB", 10 * 1000**3),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("1024", 1024),
        (" 3 tb ", 3 * 1000**4),
        ("7k", 7000),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "GiB", "2 GiBs", "-1GiB", "2 PB", "1e3", "two"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a size"):
        parse_size(text)


def test_parse_size_zero() -> None:
    with pytest.raises(InvalidInput, match="greater than zero"):
        parse_size("0MiB")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "unlimited"),
        (2 * 1024**3, "2 GiB"),
        (1536 * 1024**2, "1.5 GiB"),
        (500 * 1024**2, "500 MiB"),
        (1024, "1 KiB"),
        (999, "999 B"),
        (5 * 1024**4, "5 TiB"),
    ],
)
def test_format_size(value: int | None, text: str) -> None:
    assert format_size(value) == text


@given(st.integers(min_value=1, max_value=1023), st.sampled_from(["KiB", "MiB", "GiB", "TiB"]))
def test_whole_sizes_round_trip(amount: int, unit: str) -> None:
    assert format_size(parse_size(f"{amount}{unit}")) == f"{amount} {unit}"
    assert parse_size(format_size(parse_size(f"{amount}{unit}"))) == parse_size(f"{amount}{unit}")


def test_parse_date() -> None:
    assert parse_date(" 2026-12-31 ") == date(2026, 12, 31)
    with pytest.raises(InvalidInput, match="not a valid expiry date; write it as YYYY-MM-DD"):
        parse_date("31/12/2026", "expiry date")


def test_slug() -> None:
    assert check_slug(" Acme-1 ") == "acme-1"
    for bad in ("a", "-acme", "ac me", "例子", "a" * 41):
        with pytest.raises(InvalidInput, match="not a valid organisation slug"):
            check_slug(bad)


def test_pool() -> None:
    check_pool(None, 10**6)
    check_pool(10, 9)
    with pytest.raises(PoolExhausted, match="10 of 10 mailboxes are in use"):
        check_pool(10, 10)
    with pytest.raises(PoolExhausted):
        check_pool(10, 8, wanted=3)


def test_role_scopes() -> None:
    admin_a = Actor("a@a.test", 1, (RoleGrant(Role.ORG_ADMIN, 1),))
    assert admin_a.can(Permission.ACCOUNT_WRITE, 1)
    assert not admin_a.can(Permission.ACCOUNT_WRITE, 2)
    assert not admin_a.can(Permission.ORG_CREATE, None)
    assert not admin_a.can(Permission.DOMAIN_MANAGE, 1)
    assert admin_a.org_scope(Permission.ACCOUNT_READ) == frozenset({1})
    with pytest.raises(PermissionDenied, match=r"a@a\.test may not account write here"):
        admin_a.require(Permission.ACCOUNT_WRITE, 2)

    helpdesk = Actor("h@a.test", 2, (RoleGrant(Role.HELPDESK, 1),))
    assert helpdesk.can(Permission.ACCOUNT_UNLOCK, 1)
    assert not helpdesk.can(Permission.ACCOUNT_WRITE, 1)
    reviewer = Actor("r@a.test", 3, (RoleGrant(Role.REVIEWER, 1),))
    assert reviewer.can(Permission.ROSTER_READ, 1)
    assert not reviewer.can(Permission.ACCOUNT_UNLOCK, 1)
    assert reviewer.org_scope(Permission.AUDIT_READ) == frozenset()

    for root in (operator("cli:x"), SYSTEM):
        assert root.is_platform_admin
        assert root.org_scope(Permission.ACCOUNT_READ) is None
        assert root.can(Permission.ORG_CREATE, None)
    assert admin_a.with_source_ip("10.0.0.1").source_ip == "10.0.0.1"
