"""The directory: organisations, domains, org units, positions, regions, roster, accounts,
aliases and groups (R1, R4). Plain data plus the rules that keep it consistent."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime

from mailgate.domain.errors import InvalidInput, InvalidTransition, PoolExhausted

SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class OrgKind(enum.StrEnum):
    INTERNAL = "internal"
    PARTNER = "partner"


class EmploymentType(enum.StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"
    CONTRACTOR = "contractor"
    INTERN = "intern"
    PARTNER = "partner"


class RosterStatus(enum.StrEnum):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    TERMINATED = "terminated"


class AccountState(enum.StrEnum):
    PENDING_ACTIVATION = "pending_activation"
    ACTIVE = "active"
    LOCKED = "locked"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    DISABLED = "disabled"


class AccountAction(enum.StrEnum):
    """Named steps of the account state machine."""

    ACTIVATE = "activate"  # first login completed (or skipped by an admin)
    LOCK = "lock"
    UNLOCK = "unlock"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    EXPIRE = "expire"
    REACTIVATE = "reactivate"  # an admin brings an expired account back, with a new end date
    DISABLE = "disable"
    ENABLE = "enable"


_S = AccountState
_A = AccountAction
ACCOUNT_TRANSITIONS: dict[tuple[AccountState, AccountAction], AccountState] = {
    (_S.PENDING_ACTIVATION, _A.ACTIVATE): _S.ACTIVE,
    (_S.PENDING_ACTIVATION, _A.EXPIRE): _S.EXPIRED,
    (_S.PENDING_ACTIVATION, _A.DISABLE): _S.DISABLED,
    (_S.ACTIVE, _A.LOCK): _S.LOCKED,
    (_S.ACTIVE, _A.SUSPEND): _S.SUSPENDED,
    (_S.ACTIVE, _A.EXPIRE): _S.EXPIRED,
    (_S.ACTIVE, _A.DISABLE): _S.DISABLED,
    (_S.LOCKED, _A.UNLOCK): _S.ACTIVE,
    (_S.LOCKED, _A.SUSPEND): _S.SUSPENDED,
    (_S.LOCKED, _A.EXPIRE): _S.EXPIRED,
    (_S.LOCKED, _A.DISABLE): _S.DISABLED,
    (_S.SUSPENDED, _A.REINSTATE): _S.ACTIVE,
    (_S.SUSPENDED, _A.EXPIRE): _S.EXPIRED,
    (_S.SUSPENDED, _A.DISABLE): _S.DISABLED,
    (_S.EXPIRED, _A.REACTIVATE): _S.ACTIVE,
    (_S.EXPIRED, _A.DISABLE): _S.DISABLED,
    (_S.DISABLED, _A.ENABLE): _S.ACTIVE,
}

# The ways into an account (policy setting `allowed_protocols`); an account may be limited to some.
ALL_PROTOCOLS: tuple[str, ...] = ("imap", "pop3", "smtp", "web")

# Accounts in these states count against the organisation's account pool.
POOL_STATES = frozenset(s for s in AccountState if s is not AccountState.DISABLED)


def next_state(current: AccountState, action: AccountAction) -> AccountState:
    """The state after `action`, or InvalidTransition naming what is allowed instead."""
    try:
        return ACCOUNT_TRANSITIONS[(current, action)]
    except KeyError:
        allowed = sorted(a.value for (s, a) in ACCOUNT_TRANSITIONS if s is current)
        hint = f"; from {current.value} the allowed steps are: {', '.join(allowed)}"
        raise InvalidTransition(
            f"an account that is {current.value} cannot {action.value}{hint if allowed else ''}"
        ) from None


class RequiredAction(enum.StrEnum):
    """Steps of the forced first login that an account still owes (R8)."""

    SET_PASSWORD = "set_password"  # noqa: S105 - a step name, not a password
    ENROL_SECOND_FACTOR = "enrol_second_factor"
    VERIFY_RECOVERY_CONTACT = "verify_recovery_contact"
    # Set by an administrator or by "this wasn't me": the web lets the person in only to
    # choose a new password; mail protocols and the API refuse the account until then.
    UPDATE_PASSWORD = "update_password"  # noqa: S105 - a step name, not a password


FIRST_LOGIN_ACTIONS: tuple[RequiredAction, ...] = (
    RequiredAction.SET_PASSWORD,
    RequiredAction.VERIFY_RECOVERY_CONTACT,
)


def check_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not (2 <= len(slug) <= 40) or not set(slug) <= SLUG_CHARS or slug[0] == "-":
        raise InvalidInput(
            f"{slug!r} is not a valid organisation slug: use 2-40 lowercase letters, digits or "
            "hyphens, starting with a letter or digit"
        )
    return slug


def check_pool(limit: int | None, used: int, wanted: int = 1) -> None:
    """Raise PoolExhausted when `wanted` more accounts would exceed the pool."""
    if limit is not None and used + wanted > limit:
        raise PoolExhausted(
            f"the organisation's account pool is exhausted: {used} of {limit} mailboxes are in "
            "use; disable unused accounts or ask the platform admin to raise the limit"
        )


@dataclass(slots=True)
class Organisation:
    id: int
    slug: str
    name: str
    kind: OrgKind
    account_pool_limit: int | None
    default_quota: int
    helpdesk_contact: str
    created_at: datetime


@dataclass(slots=True)
class Domain:
    id: int
    name: str  # A-label form, the key
    unicode_name: str
    org_id: int
    created_at: datetime


@dataclass(slots=True)
class OrgUnit:
    id: int
    org_id: int
    parent_id: int | None
    name: str
    path: str  # "研发中心/平台部": names from the root, joined by "/"


@dataclass(slots=True)
class Position:
    id: int
    org_id: int
    name: str


@dataclass(slots=True)
class Region:
    id: int
    org_id: int
    code: str
    name: str
    time_zone: str
    language: str


# The fields of a roster entry that an import may change (the key is org + employee ID).
ROSTER_MUTABLE_FIELDS = (
    "name_zh",
    "name_latin",
    "org_unit_id",
    "position_id",
    "region_id",
    "employment_type",
    "supervisor_employee_id",
    "mobile",
    "status",
    "start_date",
    "end_date",
)


@dataclass(slots=True)
class RosterEntry:
    id: int
    org_id: int
    employee_id: str
    name_zh: str
    name_latin: str
    org_unit_id: int | None
    position_id: int | None
    region_id: int | None
    employment_type: EmploymentType
    supervisor_employee_id: str
    mobile: str
    status: RosterStatus
    start_date: date | None
    end_date: date | None
    updated_at: datetime

    @property
    def display_name(self) -> str:
        return self.name_zh or self.name_latin


@dataclass(slots=True)
class Account:
    id: int
    address: str  # as written, Unicode domain
    address_key: str  # unique, case-folded, A-label domain
    org_id: int
    roster_id: int | None
    display_name: str
    state: AccountState
    quota: int
    expires_on: date | None
    language: str
    time_zone: str
    password_hash: str | None
    required_actions: list[RequiredAction] = field(default_factory=list)
    skipped_first_login: bool = False
    created_at: datetime | None = None
    # Which ways in the account may use (policy `allowed_protocols`, set at provisioning).
    allowed_protocols: tuple[str, ...] = ALL_PROTOCOLS

    @property
    def first_login_done(self) -> bool:
        return not self.required_actions

    def may_use(self, protocol: str) -> bool:
        """Whether the account may sign in over `protocol` (imap, pop3, smtp or web)."""
        return protocol in self.allowed_protocols


@dataclass(slots=True)
class Alias:
    id: int
    org_id: int
    address: str
    address_key: str
    targets: list[str]


class GroupSendPolicy(enum.StrEnum):
    """Who may send to a distribution list."""

    ANYONE = "anyone"  # also from outside the company
    ORGANISATION = "organisation"  # any account of the owning organisation
    MEMBERS = "members"  # members of the group only
    MODERATORS = "moderators"  # the listed moderators only


@dataclass(slots=True)
class Group:
    id: int
    org_id: int
    address: str
    address_key: str
    name: str
    send_policy: GroupSendPolicy
    members: list[str] = field(default_factory=list)
    moderators: list[str] = field(default_factory=list)
