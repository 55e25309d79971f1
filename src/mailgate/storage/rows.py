"""Row <-> domain object conversion, shared by the repositories."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailgate.domain.directory import (
    Account,
    AccountState,
    Alias,
    Domain,
    EmploymentType,
    Organisation,
    OrgKind,
    OrgUnit,
    Position,
    Region,
    RequiredAction,
    RosterEntry,
    RosterStatus,
)


def organisation(r: Mapping[Any, Any]) -> Organisation:
    return Organisation(
        id=r["id"],
        slug=r["slug"],
        name=r["name"],
        kind=OrgKind(r["kind"]),
        account_pool_limit=r["account_pool_limit"],
        default_quota=r["default_quota"],
        helpdesk_contact=r["helpdesk_contact"],
        created_at=r["created_at"],
    )


def domain(r: Mapping[Any, Any]) -> Domain:
    return Domain(r["id"], r["name"], r["unicode_name"], r["org_id"], r["created_at"])


def org_unit(r: Mapping[Any, Any]) -> OrgUnit:
    return OrgUnit(r["id"], r["org_id"], r["parent_id"], r["name"], r["path"])


def position(r: Mapping[Any, Any]) -> Position:
    return Position(r["id"], r["org_id"], r["name"])


def region(r: Mapping[Any, Any]) -> Region:
    return Region(r["id"], r["org_id"], r["code"], r["name"], r["time_zone"], r["language"])


def roster_entry(r: Mapping[Any, Any]) -> RosterEntry:
    return RosterEntry(
        id=r["id"],
        org_id=r["org_id"],
        employee_id=r["employee_id"],
        name_zh=r["name_zh"],
        name_latin=r["name_latin"],
        org_unit_id=r["org_unit_id"],
        position_id=r["position_id"],
        region_id=r["region_id"],
        employment_type=EmploymentType(r["employment_type"]),
        supervisor_employee_id=r["supervisor_employee_id"],
        mobile=r["mobile"],
        status=RosterStatus(r["status"]),
        start_date=r["start_date"],
        end_date=r["end_date"],
        updated_at=r["updated_at"],
    )


def account(r: Mapping[Any, Any]) -> Account:
    return Account(
        id=r["id"],
        address=r["address"],
        address_key=r["address_key"],
        org_id=r["org_id"],
        roster_id=r["roster_id"],
        display_name=r["display_name"],
        state=AccountState(r["state"]),
        quota=r["quota"],
        expires_on=r["expires_on"],
        language=r["language"],
        time_zone=r["time_zone"],
        password_hash=r["password_hash"],
        required_actions=[RequiredAction(a) for a in r["required_actions"]],
        skipped_first_login=r["skipped_first_login"],
        created_at=r["created_at"],
        allowed_protocols=tuple(p for p in r["allowed_protocols"].split(",") if p),
    )


def account_values(a: Account) -> dict[str, Any]:
    return {
        "address": a.address,
        "address_key": a.address_key,
        "org_id": a.org_id,
        "roster_id": a.roster_id,
        "display_name": a.display_name,
        "state": a.state.value,
        "quota": a.quota,
        "expires_on": a.expires_on,
        "language": a.language,
        "time_zone": a.time_zone,
        "password_hash": a.password_hash,
        "required_actions": [x.value for x in a.required_actions],
        "skipped_first_login": a.skipped_first_login,
        "created_at": a.created_at,
        "allowed_protocols": ",".join(a.allowed_protocols),
    }


def alias(r: Mapping[Any, Any]) -> Alias:
    return Alias(r["id"], r["org_id"], r["address"], r["address_key"], list(r["targets"]))
