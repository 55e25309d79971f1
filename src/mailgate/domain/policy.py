"""Policies: which settings apply to a person, decided by ordered rules with the reason kept.

A `Policy` is a small object: a `Selector` (organisation, and optionally an org-unit subtree, a
position, a region, an employment type and an entry point) and a partial set of `SETTINGS`.
`resolve(policies, subject)` walks the organisation's enabled policies in their order (lowest
`position` first, then id) and, for every setting, takes the value of the *first* policy that
matches the subject and sets it; settings no policy sets keep the built-in default. Like a
firewall's rule list, an administrator reads the list top-down; unlike one, each setting is
decided on its own, so a narrow rule ("interns: 1 GiB") can sit above a broad one ("everyone in
R&D: 2FA") without repeating it. `Resolution.decided_by` names the policy (or "default") behind
every value, which is what `mailgate policy explain` and the admin page show.

Eligibility (may this person apply by themselves?) is the `self_service` setting plus the
`eligible` check, which combines every matching policy's `require` conditions with *all*:
each condition is a named predicate on the subject, and a failed one says why.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mailgate.domain.directory import EmploymentType, RosterStatus
from mailgate.domain.errors import InvalidInput

GIB = 1024**3
DEFAULT = "default"


class EntryPoint(enum.StrEnum):
    PORTAL = "portal"  # the internal application portal
    TICKET = "ticket"  # an IT service-desk system files on someone's behalf
    PARTNER = "partner"  # the external-partner portal


_PROTOCOLS = frozenset({"imap", "pop3", "smtp", "web"})
_FACTORS = frozenset({"totp", "webauthn"})
_APPROVERS = frozenset({"supervisor", "it", "hr", "security"})
_FIELDS = frozenset(
    {
        "employee_id",
        "name",
        "department",
        "position",
        "purpose",
        "duration",
        "mobile",
        "supervisor",
        "agreement_number",
        "sponsor",
    }
)
_PATTERN_PARTS = re.compile(r"\{([a-z_]+)\}")
_PATTERN_NAMES = frozenset({"employee_id", "pinyin", "given", "family", "initials"})


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"policy setting {key} must be true or false")
    return value


def _int(low: int, high: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"policy setting {key} must be a whole number from {low} to {high}")
        return value

    return check


def _names(allowed: frozenset[str], *, empty: bool = True) -> Callable[[str, Any], tuple[str, ...]]:
    def check(key: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [v for v in value.replace(" ", ",").split(",") if v]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"policy setting {key} must be a list of names")
        bad = sorted(set(value) - allowed)
        if bad:
            known = ", ".join(sorted(allowed))
            raise InvalidInput(f"policy setting {key}: unknown {', '.join(bad)} (known: {known})")
        if not value and not empty:
            raise InvalidInput(f"policy setting {key} needs at least one value")
        return tuple(dict.fromkeys(value))

    return check


def _texts(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"policy setting {key} must be a list of texts")
    texts = tuple(v.strip()[:200] for v in value if v.strip())
    if len(texts) > 30:
        raise InvalidInput(f"policy setting {key} takes at most 30 entries")
    return texts


def _choice(allowed: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if value not in allowed:
            raise InvalidInput(f"policy setting {key} must be one of {', '.join(allowed)}")
        return str(value)

    return check


def _pattern(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise InvalidInput(f"policy setting {key} must be a pattern like {{employee_id}}")
    names = set(_PATTERN_PARTS.findall(value))
    if not names or names - _PATTERN_NAMES:
        known = ", ".join("{" + n + "}" for n in sorted(_PATTERN_NAMES))
        raise InvalidInput(f"policy setting {key} may use {known}")
    literal = _PATTERN_PARTS.sub("", value)
    if not re.fullmatch(r"[a-z0-9._-]*", literal):
        raise InvalidInput(f"policy setting {key}: only a-z 0-9 . _ - between the placeholders")
    return value


# Every setting: its check (which also normalises) and its built-in default.
SETTINGS: Mapping[str, tuple[Callable[[str, Any], Any], Any]] = {
    "self_service": (_bool, True),
    "required_fields": (_names(_FIELDS), ("employee_id", "name", "purpose")),
    "required_documents": (_texts, ()),
    "approval_chain": (_names(_APPROVERS), ("supervisor", "it")),
    "auto_approve_on_roster_match": (_bool, False),
    "four_eyes": (_bool, True),  # the supervisor may not also be the IT reviewer
    "checklist": (_texts, ()),
    "decision_days": (_int(1, 90), 14),  # undecided applications expire after this
    "reminder_hours": (_int(1, 720), 48),
    "second_factor_required": (_bool, False),
    "second_factor_methods": (_names(_FACTORS, empty=False), ("totp", "webauthn")),
    "quota": (_int(1024**2, 2**50), 2 * GIB),
    "max_lifetime_days": (_int(0, 36500), 0),  # 0: no end date
    "allowed_protocols": (_names(_PROTOCOLS, empty=False), ("imap", "pop3", "smtp", "web")),
    "username_pattern": (_pattern, "{pinyin}"),
    "password_min_length": (_int(8, 256), 15),
    "password_min_length_with_second_factor": (_int(8, 256), 8),
    "password_rotation_days": (_int(0, 3650), 0),  # 0: passwords do not expire
    "password_breach_check": (_bool, False),
    # where accounts may forward their mail (domain.forwarding): none, internal, external
    "forwarding": (_choice(("none", "internal", "external")), "internal"),
}


def check_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validated, normalised settings; InvalidInput names the first bad or unknown key."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SETTINGS:
            raise InvalidInput(f"unknown policy setting {key!r}; known: {', '.join(SETTINGS)}")
        out[key] = SETTINGS[key][0](key, value)
    if out.get("password_min_length_with_second_factor", 8) > out.get("password_min_length", 256):
        raise InvalidInput("password_min_length_with_second_factor exceeds password_min_length")
    return out


@dataclass(frozen=True, slots=True)
class Subject:
    """Who the policies are resolved for: from the roster entry (and the application)."""

    org_id: int
    org_unit_ids: tuple[int, ...] = ()  # the person's unit and all its ancestors
    position_id: int | None = None
    region_id: int | None = None
    employment_type: EmploymentType | None = None
    roster_status: RosterStatus | None = None
    entry_point: EntryPoint | None = None


@dataclass(frozen=True, slots=True)
class Selector:
    """Which people a policy is for; None matches everybody on that axis."""

    org_unit_id: int | None = None  # this unit and everything under it
    position_id: int | None = None
    region_id: int | None = None
    employment_type: EmploymentType | None = None
    entry_point: EntryPoint | None = None

    def matches(self, subject: Subject) -> bool:
        return (
            (self.org_unit_id is None or self.org_unit_id in subject.org_unit_ids)
            and (self.position_id is None or self.position_id == subject.position_id)
            and (self.region_id is None or self.region_id == subject.region_id)
            and (self.employment_type is None or self.employment_type == subject.employment_type)
            and (self.entry_point is None or self.entry_point == subject.entry_point)
        )


class Condition(enum.StrEnum):
    """Named eligibility predicates a policy can require (combined with *all*)."""

    ROSTER_ACTIVE = "roster_active"  # on the roster and not terminated / on leave
    INTERNAL_ENTRY = "internal_entry"  # came through the internal portal or a ticket


def _holds(condition: Condition, subject: Subject) -> bool:
    if condition is Condition.ROSTER_ACTIVE:
        return subject.roster_status is RosterStatus.ACTIVE
    return subject.entry_point in (EntryPoint.PORTAL, EntryPoint.TICKET)


@dataclass(frozen=True, slots=True)
class Policy:
    id: int
    org_id: int
    name: str
    position: int
    selector: Selector
    settings: Mapping[str, Any]
    require: tuple[Condition, ...] = ()
    enabled: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class Resolution:
    values: Mapping[str, Any]
    decided_by: Mapping[str, str]  # setting -> policy name or "default"
    matched: tuple[str, ...]  # names of the matching policies, in order
    refusals: tuple[tuple[str, Condition], ...] = ()  # (policy, failed condition)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def eligible(self) -> bool:
        """May this person apply by themselves (self-service and every condition holds)?"""
        return bool(self.values["self_service"]) and not self.refusals

    def explain(self) -> list[tuple[str, Any, str]]:
        """(setting, value, decided by) in the order of SETTINGS."""
        return [(key, self.values[key], self.decided_by[key]) for key in SETTINGS]


def ordered(policies: Iterable[Policy]) -> list[Policy]:
    return sorted(policies, key=lambda p: (p.position, p.id))


def resolve(policies: Iterable[Policy], subject: Subject) -> Resolution:
    values = {key: default for key, (_, default) in SETTINGS.items()}
    decided = dict.fromkeys(SETTINGS, DEFAULT)
    matched: list[str] = []
    refusals: list[tuple[str, Condition]] = []
    for policy in ordered(policies):
        if not policy.enabled or policy.org_id != subject.org_id:
            continue
        if not policy.selector.matches(subject):
            continue
        matched.append(policy.name)
        refusals.extend((policy.name, c) for c in policy.require if not _holds(c, subject))
        for key, value in policy.settings.items():
            if key in SETTINGS and decided[key] == DEFAULT:
                values[key] = value
                decided[key] = policy.name
    return Resolution(values, decided, tuple(matched), tuple(refusals))


@dataclass(frozen=True, slots=True)
class PolicyDraft:
    """What an administrator submits for a new or changed policy (validated by `check`)."""

    name: str
    position: int
    selector: Selector = field(default_factory=Selector)
    settings: Mapping[str, Any] = field(default_factory=dict)
    require: tuple[Condition, ...] = ()
    enabled: bool = True
    description: str = ""

    def check(self) -> PolicyDraft:
        name = self.name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("a policy needs a name of 1 to 100 characters")
        if not 0 <= self.position <= 1_000_000:
            raise InvalidInput("the position must be from 0 to 1000000")
        return PolicyDraft(
            name,
            self.position,
            self.selector,
            check_settings(self.settings),
            self.require,
            self.enabled,
            self.description.strip()[:500],
        )
