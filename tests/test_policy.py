"""Policies: ordered first-match resolution per setting, with the deciding rule kept."""

from __future__ import annotations

import pytest
from tests.test_services_roster import ROWS, csv_bytes

from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import EmploymentType, RosterStatus
from mailgate.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from mailgate.domain.policy import (
    DEFAULT,
    Condition,
    EntryPoint,
    Policy,
    Selector,
    Subject,
    check_settings,
    resolve,
)
from mailgate.services.container import Services
from mailgate.services.credentials import PasswordRejected
from mailgate.services.policies import SelectorSpec

RD, PLATFORM = 1, 2  # unit ids: 研发中心 and its child 平台部


def _policy(pid: int, name: str, position: int, selector: Selector, **settings: object) -> Policy:
    return Policy(pid, 7, name, position, selector, check_settings(settings))


def test_first_matching_policy_decides_each_setting_on_its_own() -> None:
    interns = _policy(
        1, "interns", 10, Selector(employment_type=EmploymentType.INTERN), quota=1024**3
    )
    rd = _policy(
        2, "r&d", 20, Selector(org_unit_id=RD), quota=5 * 1024**3, second_factor_required=True
    )
    everyone = _policy(3, "everyone", 30, Selector(), password_min_length=16)
    intern_in_platform = Subject(7, (PLATFORM, RD), employment_type=EmploymentType.INTERN)

    r = resolve([everyone, rd, interns], intern_in_platform)

    assert r["quota"] == 1024**3 and r.decided_by["quota"] == "interns"
    assert r["second_factor_required"] is True and r.decided_by["second_factor_required"] == "r&d"
    assert r["password_min_length"] == 16 and r.decided_by["password_min_length"] == "everyone"
    assert r.decided_by["username_pattern"] == DEFAULT
    assert r.matched == ("interns", "r&d", "everyone")
    outsider = resolve([everyone, rd, interns], Subject(7, (99,)))
    assert outsider["quota"] == 2 * 1024**3 and outsider.matched == ("everyone",)
    assert resolve([rd], Subject(8, (RD,))).matched == ()  # another organisation


def test_disabled_policies_and_ties_and_conditions() -> None:
    a = _policy(5, "a", 10, Selector(), quota=3 * 1024**3)
    b = _policy(4, "b", 10, Selector(), quota=4 * 1024**3)  # same position: lower id first
    assert resolve([a, b], Subject(7)).decided_by["quota"] == "b"
    off = Policy(4, 7, "b", 10, Selector(), {"quota": 4 * 1024**3}, enabled=False)
    assert resolve([a, off], Subject(7)).decided_by["quota"] == "a"

    strict = Policy(
        9, 7, "portal only", 1, Selector(), {}, (Condition.ROSTER_ACTIVE, Condition.INTERNAL_ENTRY)
    )
    ok = Subject(7, roster_status=RosterStatus.ACTIVE, entry_point=EntryPoint.PORTAL)
    assert resolve([strict], ok).eligible
    leave = Subject(7, roster_status=RosterStatus.ON_LEAVE, entry_point=EntryPoint.PARTNER)
    refused = resolve([strict], leave)
    assert not refused.eligible
    assert refused.refusals == (
        ("portal only", Condition.ROSTER_ACTIVE),
        ("portal only", Condition.INTERNAL_ENTRY),
    )
    no_self = resolve([_policy(1, "x", 1, Selector(), self_service=False)], ok)
    assert not no_self.eligible


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"colour": "red"}, "unknown policy setting 'colour'"),
        ({"quota": "lots"}, "quota must be a whole number"),
        ({"self_service": "yes"}, "self_service must be true or false"),
        ({"allowed_protocols": ["imap", "gopher"]}, "unknown gopher"),
        ({"allowed_protocols": []}, "needs at least one value"),
        ({"username_pattern": "{name}"}, "may use {employee_id}"),
        ({"username_pattern": "{pinyin}<script>"}, "only a-z 0-9"),
        ({"password_min_length": 7}, "from 8 to 256"),
        (
            {"password_min_length": 10, "password_min_length_with_second_factor": 12},
            "exceeds password_min_length",
        ),
    ],
)
def test_bad_settings_are_named(settings: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_settings(settings)


@pytest.fixture
async def acme(services: Services, root: Actor) -> Services:
    await services.organisations.create(root, "acme", "Acme 公司")
    await services.organisations.add_domain(root, "acme", "acme.test")
    await services.organisations.add_region(root, "acme", "BJ", "北京")
    await services.organisations.add_region(root, "acme", "SH", "上海")
    await services.roster.import_csv(root, "acme", csv_bytes(*ROWS))
    return services


async def test_policies_are_managed_audited_and_explained(acme: Services, root: Actor) -> None:
    await acme.policies.add(
        root, "acme", "everyone", position=100, settings={"password_min_length": 16}
    )
    await acme.policies.add(
        root,
        "acme",
        "platform team",
        position=10,
        selector=SelectorSpec(unit="研发中心/平台部"),
        settings={"second_factor_required": True, "quota": 5 * 1024**3},
    )
    with pytest.raises(Conflict):
        await acme.policies.add(root, "acme", "everyone", position=1)
    with pytest.raises(NotFound, match="no org unit"):
        await acme.policies.add(root, "acme", "x", position=1, selector=SelectorSpec(unit="nope"))

    wang = await acme.policies.explain(root, "acme", "E002")  # 研发中心/平台部
    assert wang.decided_by["second_factor_required"] == "platform team"
    assert wang.decided_by["password_min_length"] == "everyone"
    zhang = await acme.policies.explain(root, "acme", "E001")  # 研发中心 only
    assert zhang.decided_by["second_factor_required"] == DEFAULT

    await acme.policies.change(root, "acme", "platform team", unset=["quota"], position=200)
    moved = await acme.policies.explain(root, "acme", "E002")
    assert moved.decided_by["quota"] == DEFAULT
    await acme.policies.change(root, "acme", "everyone", enabled=False)
    assert (await acme.policies.explain(root, "acme", "E002")).decided_by[
        "password_min_length"
    ] == DEFAULT
    await acme.policies.remove(root, "acme", "platform team")
    assert [p.name for p in await acme.policies.list(root, "acme")] == ["everyone"]
    events, _ = await acme.audit.list(root)
    actions = [e.action for e in events]
    assert {"policy.add", "policy.change", "policy.remove"} <= set(actions)


async def test_only_org_admins_manage_policies(acme: Services, root: Actor) -> None:
    await acme.accounts.create(root, "desk@acme.test", password="x" * 16, skip_first_login=True)
    await acme.accounts.grant_role(root, "desk@acme.test", Role.HELPDESK, "acme")
    desk = await acme.identity.act_as("desk@acme.test")
    with pytest.raises(PermissionDenied):
        await acme.policies.add(desk, "acme", "mine", position=1)
    assert await acme.policies.list(desk, "acme") == []
    await acme.organisations.create(root, "other", "Other")
    with pytest.raises(NotFound):
        await acme.policies.list(desk, "other")


async def test_password_policy_is_bound_through_policies(acme: Services, root: Actor) -> None:
    await acme.accounts.create(
        root,
        "wang.fang@acme.test",
        password="an old and long passphrase",
        skip_first_login=True,
        employee_id="E002",
    )
    await acme.policies.add(
        root, "acme", "long passwords", position=1, settings={"password_min_length": 24}
    )
    actor = await acme.identity.act_as("wang.fang@acme.test")
    with pytest.raises(PasswordRejected) as rejected:
        await acme.credentials.change_password(
            actor,
            "twenty chars of text",
            current_password="an old and long passphrase",
            keep_session_hash=None,
            client_ip="::1",
        )
    assert [p.params.get("min_length") for p in rejected.value.problems] == [24]
    await acme.policies.change(root, "acme", "long passwords", enabled=False)
    await acme.credentials.change_password(
        actor,
        "twenty chars of text",
        current_password="an old and long passphrase",
        keep_session_hash=None,
        client_ip="::1",
    )
