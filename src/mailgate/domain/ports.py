"""Ports: what the domain and services need from the outside world, as Protocols.

`storage/` implements the repositories and the unit of work; `services/` implements the hasher;
tests may pass in-memory fakes. Methods raise only the errors named in their docstrings (from
`mailgate.domain.errors`); anything else is a bug or an infrastructure failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol

from mailgate.domain.access import Role, RoleGrant
from mailgate.domain.audit import AuditEvent
from mailgate.domain.directory import (
    Account,
    Alias,
    Domain,
    Group,
    Organisation,
    OrgUnit,
    Position,
    Region,
    RosterEntry,
)
from mailgate.domain.entrypoints import EntryPointConfig
from mailgate.domain.factors import RecoveryCode, SecondFactor
from mailgate.domain.forwarding import Forwarding
from mailgate.domain.mail import HeaderFields, Mailbox, SpecialUse, StoredMessage
from mailgate.domain.mailbox import (
    ChangeKind,
    FolderStatus,
    MessageMeta,
    MessageState,
    MessageText,
    SearchCriteria,
    Snapshot,
    UidSet,
)
from mailgate.domain.notices import NoticeKind
from mailgate.domain.onboarding import (
    Application,
    ApplicationState,
    Decision,
    Document,
    Ticket,
    TicketState,
)
from mailgate.domain.policy import Policy, PolicyDraft
from mailgate.domain.queue import DkimKey, QueueItem, QueueRecipient
from mailgate.domain.recovery import CodePurpose, OneTimeCode, RecoveryContact
from mailgate.domain.security import (
    AppPassword,
    FailureCounter,
    LoginFilter,
    LoginRecord,
    SecurityAlert,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str:
        """A self-describing hash (algorithm and parameters inside); runs off the event loop."""
        ...

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches; with `stored` None, spends the same time on a dummy."""
        ...

    def needs_rehash(self, stored: str) -> bool:
        """Whether `stored` was made with other parameters than new hashes get (then a login
        that verified the password stores a fresh hash)."""
        ...


class OrganisationRepo(Protocol):
    async def add(
        self,
        slug: str,
        name: str,
        kind: str,
        account_pool_limit: int | None,
        default_quota: int,
        helpdesk_contact: str,
    ) -> Organisation:
        """Raises Conflict when the slug exists."""
        ...

    async def get(self, org_id: int) -> Organisation | None: ...
    async def get_for_update(self, org_id: int) -> Organisation | None:
        """Like `get`, and holds a row lock until the transaction ends (serialises pool checks)."""
        ...

    async def by_slug(self, slug: str) -> Organisation | None: ...
    async def list(self, org_ids: frozenset[int] | None) -> list[Organisation]: ...
    async def update(self, org: Organisation) -> None: ...


class DomainRepo(Protocol):
    async def add(self, name: str, unicode_name: str, org_id: int) -> Domain:
        """Raises Conflict when the domain is already registered."""
        ...

    async def by_name(self, ascii_name: str) -> Domain | None: ...
    async def list(self, org_ids: frozenset[int] | None) -> list[Domain]: ...


class StructureRepo(Protocol):
    """Org units, positions and regions of organisations."""

    async def units(self, org_id: int) -> list[OrgUnit]: ...
    async def add_unit(
        self, org_id: int, parent_id: int | None, name: str, path: str
    ) -> OrgUnit: ...

    async def positions(self, org_id: int) -> list[Position]: ...
    async def add_position(self, org_id: int, name: str) -> Position: ...
    async def regions(self, org_id: int) -> list[Region]: ...
    async def add_region(
        self, org_id: int, code: str, name: str, time_zone: str, language: str
    ) -> Region:
        """Raises Conflict when the code exists in the organisation."""
        ...


class RosterRepo(Protocol):
    async def all_for_org(self, org_id: int) -> dict[str, RosterEntry]:
        """Every entry of the organisation by employee ID."""
        ...

    async def insert_many(self, rows: Sequence[dict[str, Any]]) -> None: ...
    async def update_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Each row carries `id` and the changed columns."""
        ...

    async def get(self, org_id: int, employee_id: str) -> RosterEntry | None: ...
    async def by_id(self, roster_id: int) -> RosterEntry | None: ...
    async def search(
        self, org_ids: frozenset[int] | None, query: str, offset: int, limit: int
    ) -> tuple[list[RosterEntry], int]: ...


class AccountRepo(Protocol):
    async def add(self, account: Account) -> Account:
        """Stores a new account (its `id` is ignored) and returns it with its id."""
        ...

    async def get(self, account_id: int) -> Account | None: ...
    async def by_key(self, address_key: str) -> Account | None: ...
    async def by_roster(self, roster_id: int) -> list[Account]:
        """The accounts linked to this roster entry, oldest first."""
        ...

    async def update(self, account: Account) -> None: ...
    async def count_in_pool(self, org_id: int) -> int: ...
    async def search(
        self,
        org_ids: frozenset[int] | None,
        query: str,
        state: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[Account], int]: ...


class AddressRepo(Protocol):
    """One namespace of addresses shared by accounts, aliases and groups."""

    async def claim(self, address_key: str, kind: str, org_id: int) -> None:
        """Raises AddressTaken when any account, alias or group has the address."""
        ...

    async def release(self, address_key: str) -> None: ...
    async def kind_of(self, address_key: str) -> str | None: ...


class AliasRepo(Protocol):
    async def add(
        self, org_id: int, address: str, address_key: str, targets: list[str]
    ) -> Alias: ...

    async def by_key(self, address_key: str) -> Alias | None: ...
    async def remove(self, alias_id: int) -> None: ...
    async def list(self, org_ids: frozenset[int] | None) -> list[Alias]: ...


class GroupRepo(Protocol):
    async def add(
        self, org_id: int, address: str, address_key: str, name: str, send_policy: str
    ) -> Group: ...

    async def by_key(self, address_key: str) -> Group | None: ...
    async def add_member(self, group_id: int, member: str) -> None:
        """Raises Conflict when the member is already in the group."""
        ...

    async def list(self, org_ids: frozenset[int] | None) -> list[Group]: ...


class RoleRepo(Protocol):
    async def grant(self, account_id: int, role: Role, org_id: int | None) -> None: ...
    async def grants_for(self, account_id: int) -> tuple[RoleGrant, ...]: ...
    async def holders(self, org_id: int | None, roles: Sequence[Role]) -> list[int]:
        """Ids of the accounts holding one of `roles` for `org_id` (None: platform-wide)."""
        ...


class AuditRepo(Protocol):
    async def lock_tail(self) -> tuple[int, str]:
        """Serialise appenders and return the newest (seq, hash), or (0, GENESIS)."""
        ...

    async def append(self, event: AuditEvent) -> None: ...
    def scan(self) -> AsyncIterator[tuple[int, AuditEvent]]:
        """Every event with its row id, in storage order."""
        ...

    async def list(
        self, org_ids: frozenset[int] | None, offset: int, limit: int
    ) -> tuple[list[AuditEvent], int]: ...


@dataclass(frozen=True, slots=True)
class WebSessionRecord:
    """A server-side web session as stored: the hash of the cookie value (never the value), a
    non-secret `handle` to list and end it by, and its `stage`: "full", or "second_factor"
    while the sign-in still owes its second factor. `reauth_at` is the last time the person
    proved their password (sign-in, re-authentication): sudo mode runs from there."""

    id_hash: str
    handle: str
    account_id: int
    csrf: str
    stage: str
    created_at: datetime
    last_seen: datetime
    user_agent: str = ""
    ip: str = ""
    reauth_at: datetime | None = None
    second_factor_failures: int = 0


class WebSessionRepo(Protocol):
    async def add(
        self,
        id_hash: str,
        account_id: int,
        csrf: str,
        created: datetime,
        user_agent: str,
        ip: str,
        *,
        handle: str = "",
        stage: str = "full",
        reauth_at: datetime | None = None,
    ) -> None:
        """A new session; an empty `handle` gets a random one."""
        ...

    async def find(self, id_hash: str) -> WebSessionRecord | None: ...
    async def for_account(self, account_id: int) -> list[WebSessionRecord]:
        """Every session of the account, the most recently active first."""
        ...

    async def delete_expired(
        self,
        account_id: int,
        *,
        idle_before: datetime,
        created_before: datetime,
        pending_before: datetime,
    ) -> int:
        """Remove the account's sessions last seen before `idle_before`, created before
        `created_before`, and unfinished sign-ins created before `pending_before`."""
        ...

    async def delete_handle(self, account_id: int, handle: str) -> bool:
        """End the account's session with this handle; False when it has none such."""
        ...

    async def rekey(
        self, old_hash: str, new_hash: str, csrf: str, *, stage: str, reauth_at: datetime | None
    ) -> bool:
        """Give a session a new id (and CSRF token), keeping its handle and times."""
        ...

    async def set_reauth(self, id_hash: str, when: datetime) -> None: ...
    async def count_second_factor_failure(self, id_hash: str) -> int:
        """One more wrong second-factor code, atomically; the new count (0: no such row)."""
        ...

    async def get(self, id_hash: str) -> tuple[int, str, datetime, datetime] | None:
        """(account id, csrf token, created, last seen) of a live session."""
        ...

    async def touch(self, id_hash: str, when: datetime) -> None: ...
    async def delete(self, id_hash: str) -> None: ...
    async def delete_for_account(self, account_id: int, except_hash: str | None = None) -> int:
        """End every session of the account (but `except_hash`); how many were ended."""
        ...


API_TOKEN_HANDLE_LENGTH = 12


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    """An API token as listed: never the token nor its hash, only a non-secret `handle` (the
    first API_TOKEN_HANDLE_LENGTH hex digits of the hash) to revoke it by. `created_at` is None
    for tokens made before it was recorded (migration 0015)."""

    handle: str
    account_id: int
    name: str
    created_at: datetime | None
    expires_on: date | None


class ApiTokenRepo(Protocol):
    async def add(
        self,
        token_hash: str,
        account_id: int,
        name: str,
        expires_on: date | None,
        created_at: datetime,
    ) -> None: ...

    async def get(self, token_hash: str) -> tuple[int, date | None] | None:
        """(account id, expiry) of the token, or None."""
        ...

    async def list_for_account(self, account_id: int) -> list[ApiTokenRecord]:
        """The account's tokens (expired ones too), newest first, those without a creation
        time last."""
        ...

    async def delete(self, handle: str, account_id: int) -> bool:
        """Delete the account's token whose hash starts with `handle` (a handle or the whole
        hash; the caller checks its shape); False when the account has no such token."""
        ...

    async def delete_for_account(self, account_id: int) -> int:
        """Delete every token of the account; how many."""
        ...


class ThrottleRepo(Protocol):
    """Failure counters of the brute-force limiter (domain.security), keyed (account id, IP)
    with account id IP_ONLY for the per-IP counter."""

    async def get(self, keys: Sequence[tuple[int, str]]) -> list[FailureCounter]:
        """The counters that exist among `keys`."""
        ...

    async def add_failure(
        self, account_id: int, ip: str, now: datetime, reset_before: datetime
    ) -> FailureCounter:
        """Count one failure atomically; a counter whose last failure is before `reset_before`
        starts again at 1."""
        ...

    async def clear(self, account_id: int, ip: str) -> None: ...


class LoginRepo(Protocol):
    async def add(self, record: LoginRecord) -> None: ...
    async def search(
        self, org_ids: frozenset[int] | None, where: LoginFilter, offset: int, limit: int
    ) -> tuple[list[LoginRecord], int]:
        """Newest first, with the total count; `org_ids` None means every organisation."""
        ...

    async def failures_since(self, account_id: int, since: datetime) -> tuple[int, int]:
        """(failed attempts, distinct client IPs) against the account since `since`."""
        ...


class AppPasswordRepo(Protocol):
    async def add(self, app_password: AppPassword) -> AppPassword:
        """Stores it (its `id` is ignored) and returns it with its id."""
        ...

    async def for_account(self, account_id: int, *, include_revoked: bool) -> list[AppPassword]:
        """Oldest first."""
        ...

    async def candidates(self, account_id: int, hint: str) -> list[AppPassword]:
        """Unrevoked app passwords of the account with this hint."""
        ...

    async def revoke(self, account_id: int, app_password_id: int, when: datetime) -> bool:
        """False when there is no such unrevoked app password."""
        ...

    async def revoke_all(self, account_id: int, when: datetime) -> int:
        """How many were revoked."""
        ...

    async def mark_used(self, app_password_id: int, when: datetime, ip: str) -> None: ...


class AccountSecurityRepo(Protocol):
    """Per-account security flags and the alerts raised about accounts."""

    async def has_second_factor(self, account_id: int) -> bool:
        """Whether a second factor (TOTP, WebAuthn) is enrolled; False when never set."""
        ...

    async def set_second_factor_enrolled(
        self, account_id: int, enrolled: bool, when: datetime
    ) -> None:
        """Called by the second-factor service when the first factor is enrolled / the last
        one removed."""
        ...

    async def requires_second_factor_on_web(self, account_id: int) -> bool: ...
    async def set_requires_second_factor_on_web(
        self, account_id: int, required: bool, when: datetime
    ) -> None: ...

    async def add_alert(self, alert: SecurityAlert) -> None: ...
    async def alerts(
        self, org_ids: frozenset[int] | None, offset: int, limit: int
    ) -> tuple[list[SecurityAlert], int]:
        """Newest first."""
        ...

    async def pending_alerts(self, kinds: Sequence[str], limit: int = 100) -> list[SecurityAlert]:
        """Alerts of these kinds nobody was told about yet (`notified_at` unset), oldest first."""
        ...

    async def mark_notified(self, ids: Sequence[int], when: datetime) -> list[int]:
        """Set `notified_at` on those of `ids` that have none yet (a conditional update, so two
        processes never both claim one alert); the ids this call marked."""
        ...


class KnownSignInRepo(Protocol):
    """The devices and networks each account has signed in from (services.alerts), as
    (kind, digest) pairs with kind `device` or `network`."""

    async def seen(
        self, account_id: int, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], datetime]:
        """`last_seen` of those of `keys` the account has (one indexed read)."""
        ...

    async def any_for(self, account_id: int) -> bool:
        """Whether anything was recorded for the account (its first sign-in records silently)."""
        ...

    async def remember(self, account_id: int, kind: str, digest: str, when: datetime) -> bool:
        """Record the pair, first and last seen `when`; False when it was there already (a
        concurrent sign-in recorded it first)."""
        ...

    async def touch(self, account_id: int, kind: str, digest: str, when: datetime) -> None:
        """Move the pair's `last_seen` to `when`."""
        ...

    async def forget(self, account_id: int, keys: Sequence[tuple[str, str]]) -> int:
        """Delete those pairs of the account; how many there were."""
        ...


class SecondFactorRepo(Protocol):
    """TOTP and WebAuthn factors of accounts, and the single-use WebAuthn challenges."""

    async def add(self, factor: SecondFactor) -> SecondFactor:
        """Stores it (its `id` is ignored) and returns it with its id. Raises Conflict when the
        WebAuthn credential id is already registered."""
        ...

    async def for_account(self, account_id: int, *, confirmed_only: bool) -> list[SecondFactor]:
        """Oldest first."""
        ...

    async def get(self, account_id: int, factor_id: int) -> SecondFactor | None: ...
    async def by_credential_id(
        self, account_id: int, credential_id: bytes
    ) -> SecondFactor | None: ...

    async def confirm(self, factor_id: int, when: datetime, last_step: int | None) -> None: ...
    async def advance_step(self, factor_id: int, step: int, when: datetime) -> bool:
        """Atomically record a TOTP step as used; False when `step` is not newer than the last
        accepted one (a concurrent or repeated use of the same code)."""
        ...

    async def advance_sign_count(self, factor_id: int, old: int, new: int, when: datetime) -> bool:
        """Atomically move the WebAuthn counter from `old` to `new`; False when it moved."""
        ...

    async def delete(self, account_id: int, factor_id: int) -> bool:
        """False when the account has no such factor."""
        ...

    async def delete_pending(self, account_id: int, kind: str) -> int: ...
    async def delete_all(self, account_id: int) -> int:
        """Every factor and pending challenge of the account; how many factors went."""
        ...

    async def add_challenge(
        self, account_id: int, purpose: str, challenge: bytes, expires_at: datetime
    ) -> None: ...
    async def take_challenge(
        self, account_id: int, purpose: str, challenge: bytes, now: datetime
    ) -> bool:
        """Consume the challenge: True once when it exists and has not expired."""
        ...


class RecoveryCodeRepo(Protocol):
    async def replace(self, account_id: int, code_hashes: Sequence[str], when: datetime) -> int:
        """Delete the account's codes (used or not) and store new ones; how many were deleted."""
        ...

    async def unused(self, account_id: int) -> list[RecoveryCode]: ...
    async def mark_used(self, code_id: int, when: datetime) -> bool:
        """Atomically; False when the code was used meanwhile."""
        ...

    async def delete_all(self, account_id: int) -> int: ...


class PolicyRepo(Protocol):
    async def for_org(self, org_id: int) -> list[Policy]:
        """In order: position, then id."""
        ...

    async def by_name(self, org_id: int, name: str) -> Policy | None: ...
    async def add(self, org_id: int, draft: PolicyDraft, when: datetime) -> Policy:
        """Conflict when the organisation already has a policy of that name."""
        ...

    async def replace(self, policy_id: int, draft: PolicyDraft, when: datetime) -> None:
        """Conflict when the new name is taken."""
        ...

    async def delete(self, policy_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ApprovalLink:
    id: int
    application_id: int
    stage: int
    expires_at: datetime
    used_at: datetime | None


class EntryPointRepo(Protocol):
    async def add(self, entry: EntryPointConfig) -> EntryPointConfig:
        """Stores it (its `id` is ignored); Conflict when the slug is taken."""
        ...

    async def by_slug(self, slug: str) -> EntryPointConfig | None: ...
    async def for_org(self, org_id: int) -> list[EntryPointConfig]: ...
    async def update(self, entry: EntryPointConfig) -> None: ...


class ApplicationRepo(Protocol):
    async def add(self, application: Application) -> Application:
        """Stores it (its `id` is ignored) and returns it with its id."""
        ...

    async def get(self, application_id: int, *, lock: bool = False) -> Application | None:
        """With `lock`, the row stays locked until the transaction ends (PostgreSQL)."""
        ...

    async def by_tracking(self, digest: str) -> Application | None: ...
    async def by_account(self, account_id: int) -> Application | None:
        """The application an account was provisioned from, if any."""
        ...

    async def open_for(self, domain_id: int, employee_id: str) -> list[Application]:
        """Applications not in a final state for this employee ID and domain."""
        ...

    async def update(self, application: Application) -> None: ...
    async def search(
        self,
        org_ids: frozenset[int] | None,
        states: Sequence[ApplicationState] | None,
        waiting_for: str | None,
        query: str,
        offset: int,
        limit: int,
    ) -> tuple[list[Application], int]:
        """Oldest submitted first (a queue), with the total; `query` matches employee ID and
        name; `waiting_for` the current stage's approver kind."""
        ...

    async def past_deadline(self, now: datetime, limit: int) -> list[Application]:
        """Open applications whose deadline has passed."""
        ...

    async def waiting_since(self, before: datetime, limit: int) -> list[Application]:
        """Applications waiting for a decision, not reminded (or submitted) since `before`."""
        ...

    async def add_decision(self, decision: Decision) -> None: ...
    async def decisions(self, application_id: int) -> list[Decision]:
        """Oldest first: the timeline."""
        ...

    async def add_document(self, document: Document) -> Document: ...
    async def documents(self, application_id: int) -> list[Document]: ...
    async def add_link(
        self, application_id: int, stage: int, digest: str, expires_at: datetime
    ) -> None: ...
    async def link(self, digest: str) -> ApprovalLink | None: ...
    async def spend_link(self, link_id: int, when: datetime) -> bool:
        """Mark the link used; False when it already was."""
        ...


class TicketRepo(Protocol):
    async def add(self, ticket: Ticket) -> Ticket: ...
    async def get(self, ticket_id: int) -> Ticket | None: ...
    async def search(
        self, org_ids: frozenset[int] | None, state: TicketState | None, offset: int, limit: int
    ) -> tuple[list[Ticket], int]:
        """Newest first, with the total."""
        ...

    async def update(self, ticket: Ticket) -> None: ...


class RecoveryContactRepo(Protocol):
    async def add(self, contact: RecoveryContact) -> RecoveryContact:
        """Stores it (its `id` is ignored); Conflict when the account already has this value."""
        ...

    async def for_account(self, account_id: int) -> list[RecoveryContact]:
        """Oldest first."""
        ...

    async def get(self, account_id: int, contact_id: int) -> RecoveryContact | None: ...
    async def mark_verified(self, contact_id: int, when: datetime) -> None: ...
    async def delete(self, account_id: int, contact_id: int) -> bool:
        """False when the account has no such contact."""
        ...


class ForwardingRepo(Protocol):
    """The one forwarding of an account (domain.forwarding)."""

    async def get(self, account_id: int) -> Forwarding | None: ...
    async def put(self, forwarding: Forwarding) -> None:
        """Stores it, replacing the account's previous forwarding if there was one."""
        ...

    async def mark_verified(self, account_id: int, when: datetime) -> None: ...
    async def delete(self, account_id: int) -> bool:
        """False when the account had no forwarding."""
        ...


class OneTimeCodeRepo(Protocol):
    async def add(self, code: OneTimeCode) -> OneTimeCode:
        """Stores it (its `id` is ignored) and returns it with its id."""
        ...

    async def live(
        self, account_id: int, purpose: CodePurpose, target: str | None, now: datetime
    ) -> list[OneTimeCode]:
        """Unused, unexpired codes with guesses left (`target` None: any target), newest first."""
        ...

    async def by_digest(self, purpose: CodePurpose, digest: str) -> OneTimeCode | None: ...
    async def spend(self, code_id: int, when: datetime) -> bool:
        """Mark the code used; False when it already was (single use under concurrency)."""
        ...

    async def count_attempt(self, code_id: int) -> int:
        """One more wrong guess; the new count."""
        ...

    async def revoke(self, account_id: int, purpose: CodePurpose, when: datetime) -> int:
        """Spend every live code of the account for `purpose`; how many."""
        ...

    async def created_since(
        self, account_id: int, purpose: CodePurpose, since: datetime
    ) -> list[OneTimeCode]:
        """Every code of the account for `purpose` made at or after `since`, spent or not,
        newest first (for rate limits)."""
        ...


class Notifier(Protocol):
    """Sends localised notices (domain.notices) through Mailgate's own mail service and the
    SMS provider. Never raises for a delivery problem: the change that caused the notice has
    already been committed; problems are logged."""

    async def to_account(
        self, account: Account, kind: NoticeKind, params: Mapping[str, str] | None = None
    ) -> None:
        """To the account's mailbox and every verified recovery contact."""
        ...

    async def to_admins(
        self, org_id: int, kind: NoticeKind, params: Mapping[str, str] | None = None
    ) -> None:
        """To every administrator of the organisation (org admins, else platform admins)."""
        ...

    async def to_contact(
        self,
        kind: NoticeKind,
        language: str,
        *,
        domain: str,
        email: str = "",
        phone: str = "",
        params: Mapping[str, str] | None = None,
    ) -> None:
        """To someone without a mailbox here yet (an applicant): the e-mail and/or phone."""
        ...

    async def code(
        self,
        contact: RecoveryContact,
        language: str,
        kind: NoticeKind,
        code: str,
        params: Mapping[str, str] | None = None,
    ) -> None:
        """A one-time code (and, for e-mail, `params["link"]` when given) to one contact."""
        ...


class SmsUnavailable(Exception):
    """The SMS provider did not take the message."""


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None:
        """Hand one message for an E.164 number to the provider; raises SmsUnavailable."""
        ...


class BlobStore(Protocol):
    """Message bodies by SHA-256, byte for byte."""

    async def put(self, data: bytes) -> str:
        """Store `data` and return its id; when this returns, the bytes are on disk (fsync)."""
        ...

    async def get(self, blob_id: str) -> bytes:
        """The bytes; raises NotFound when missing."""
        ...

    async def delete(self, blob_id: str) -> None:
        """Remove the blob if present."""
        ...

    async def list_older_than(self, seconds: float) -> list[str]:
        """Ids of blobs whose files are older than `seconds` (for the garbage collector)."""
        ...


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One message to append to one mailbox, within a delivery batch."""

    mailbox_id: int
    account_id: int
    blob_id: str
    size: int
    flags: int
    keywords: list[str]
    internal_date: datetime
    headers: HeaderFields
    text: MessageText | None = None  # for BODY/TEXT search, stored once per blob
    enforce_quota: bool = False  # IMAP APPEND: raise QuotaExceeded instead of overfilling


class MailRepo(Protocol):
    async def create_folders(
        self, account_id: int, folders: Sequence[tuple[str, str | None]], uidvalidity: int
    ) -> None: ...

    async def mailboxes(self, account_id: int) -> list[Mailbox]: ...
    async def mailbox(self, account_id: int, name: str) -> Mailbox | None: ...
    async def inbox_ids(self, account_ids: Sequence[int]) -> dict[int, int]:
        """INBOX mailbox id of each account."""
        ...

    async def quota(self, account_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(quota, used) in bytes per account."""
        ...

    async def append(self, items: Sequence[NewMessage]) -> list[tuple[int, int]]:
        """Store messages (UIDs and MODSEQs allocated in order, blob references and quota usage
        counted); returns (mailbox id, uid) per item."""
        ...

    async def messages(
        self, mailbox_id: int, offset: int, limit: int
    ) -> tuple[list[StoredMessage], int]: ...

    async def unreferenced_blobs(self) -> list[str]: ...
    async def known_blobs(self, blob_ids: Sequence[str]) -> set[str]: ...
    async def forget_blobs(self, blob_ids: Sequence[str]) -> None:
        """Drop blob rows whose refcount is still 0."""
        ...


class QueueRepo(Protocol):
    """The outbound queue. A queued message holds one reference on its blob until released."""

    async def add(
        self,
        mail_from: str,
        blob_id: str,
        size: int,
        org_id: int | None,
        created_at: datetime,
        recipients: Sequence[tuple[str, str]],
    ) -> int:
        """Queue a message for (address, ascii domain) recipients, counting one reference on
        the blob (creating its row if needed); returns the message id."""
        ...

    async def get(self, item_id: int) -> QueueItem | None: ...
    async def due(self, now: datetime, limit: int) -> list[QueueItem]:
        """Messages with a queued or deferred recipient whose next attempt is due, oldest first,
        with all their recipients."""
        ...

    async def list(
        self, org_ids: frozenset[int] | None, include_done: bool, offset: int, limit: int
    ) -> tuple[list[QueueItem], int]: ...

    async def update_recipients(self, recipients: Sequence[QueueRecipient]) -> None:
        """Write state, attempts, next attempt, last error and status of each recipient."""
        ...

    async def release(self, item_id: int) -> bool:
        """Drop the message's blob reference once (False when already released)."""
        ...

    async def delete(self, item_id: int) -> None:
        """Remove the message and its recipients, releasing the blob reference if still held."""
        ...


class DkimKeyRepo(Protocol):
    async def add(self, key: DkimKey) -> None:
        """Raises Conflict when the domain already has a key with this selector."""
        ...

    async def for_domain(self, ascii_domain: str) -> DkimKey | None:
        """The newest key of the domain."""
        ...


class Resolver(Protocol):
    """DNS lookups for SPF, DKIM and MX. Names are A-labels without the trailing dot.

    Each method returns [] when the name or the record type does not exist (NXDOMAIN, NODATA)
    and raises OSError (TimeoutError included) when no answer could be had (SERVFAIL, timeout,
    no server): callers turn that into a temporary failure.
    """

    async def txt(self, name: str) -> list[str]:
        """Each TXT record with its strings joined."""
        ...

    async def a(self, name: str) -> list[str]: ...
    async def aaaa(self, name: str) -> list[str]: ...
    async def mx(self, name: str) -> list[tuple[int, str]]:
        """(preference, exchange) pairs."""
        ...


class MailboxRepo(Protocol):
    """The mail store as IMAP and POP3 sessions use it. Methods that change a mailbox expect
    it locked first with `get(..., lock=True)` in the same unit of work (lock order: mailboxes
    by ascending id, then blobs by id, then the account). UID sets come resolved (no `*`)."""

    async def get(
        self, account_id: int, mailbox_id: int, *, lock: bool = False
    ) -> Mailbox | None: ...
    async def by_name(
        self, account_id: int, name: str, *, lock: bool = False
    ) -> Mailbox | None: ...
    async def subtree(self, account_id: int, name: str, *, lock: bool = False) -> list[Mailbox]:
        """The folder `name` and the folders below it, by id."""
        ...

    async def statuses(
        self, account_id: int, mailbox_id: int | None = None
    ) -> list[FolderStatus]: ...
    async def next_uidvalidity(self, account_id: int, at_least: int) -> int:
        """A UIDVALIDITY no folder of the account had before, >= `at_least`."""
        ...

    async def create(
        self,
        account_id: int,
        name: str,
        special_use: SpecialUse | None,
        uidvalidity: int,
        *,
        uidnext: int = 1,
        highestmodseq: int = 1,
    ) -> int: ...
    async def delete(self, account_id: int, mailbox_id: int) -> None:
        """Remove the folder and its messages, releasing blob references and quota."""
        ...

    async def rename(self, mailbox_id: int, name: str, uidvalidity: int) -> None: ...
    async def transfer_all(self, source: Mailbox, target_id: int) -> None:
        """Move every message to the empty `target_id` keeping UIDs; tombstones in source."""
        ...

    async def set_subscribed(self, mailbox_id: int, subscribed: bool) -> None: ...
    async def snapshot(self, account_id: int, mailbox_id: int) -> Snapshot | None: ...
    async def states(self, mailbox_id: int, uids: UidSet | None) -> list[tuple[int, MessageState]]:
        """(message id, state) in UID order."""
        ...

    async def bump_modseq(self, mailbox_id: int) -> int: ...
    async def write_states(
        self, rows: Sequence[tuple[int, int, tuple[str, ...]]], modseq: int
    ) -> None:
        """Set (message id, flags, keywords) and `modseq`."""
        ...

    async def metadata(self, mailbox_id: int, uids: UidSet | None) -> list[MessageMeta]: ...
    async def cache_mime(self, account_id: int, message_ids: Sequence[int], mime: str) -> None:
        """Store the structure (JSON) on those of the messages the account owns."""
        ...

    async def expunge(
        self, account_id: int, mailbox_id: int, uids: UidSet | None, only_deleted: bool
    ) -> list[int]:
        """Remove messages, leave tombstones, release blobs and quota; the removed UIDs."""
        ...

    async def copy(
        self, account_id: int, source_id: int, target_id: int, uids: UidSet, enforce_quota: bool
    ) -> list[tuple[int, int]]:
        """(source uid, new uid) pairs. Raises QuotaExceeded when enforced and full."""
        ...

    async def changes(
        self, mailbox_id: int, since: int, uids: UidSet | None
    ) -> tuple[list[MessageState], list[int]]: ...
    async def usage(self, account_id: int) -> tuple[int, int, int]:
        """(quota bytes, used bytes, message count)."""
        ...

    async def listing(self, mailbox_id: int) -> list[tuple[int, int, str]]:
        """(uid, size, blob id) in UID order."""
        ...

    async def search(self, mailbox_id: int, criteria: SearchCriteria) -> list[int]: ...


class MailboxSubscription(Protocol):
    """Change notifications for one mailbox, for one session (IDLE, NOOP after others' work)."""

    async def wait(self) -> set[ChangeKind]:
        """The kinds of changes since the last call, waiting until there is one; never touches
        the database. Cancellation-safe: bound it with `asyncio.timeout` (nothing is lost)."""
        ...

    def pending(self) -> set[ChangeKind]:
        """The changes since the last call, without waiting."""
        ...

    def close(self) -> None: ...


class MailboxEvents(Protocol):
    """A notification bus: in-process now, PostgreSQL LISTEN/NOTIFY across nodes later."""

    def publish(self, mailbox_id: int, kind: ChangeKind) -> None:
        """Tell the mailbox's subscribers; called after the change committed."""
        ...

    def subscribe(self, mailbox_id: int) -> MailboxSubscription: ...


class UnitOfWork(Protocol):
    """One transaction over every repository. Leaving the block without commit rolls back."""

    orgs: OrganisationRepo
    domains: DomainRepo
    structure: StructureRepo
    roster: RosterRepo
    accounts: AccountRepo
    addresses: AddressRepo
    aliases: AliasRepo
    groups: GroupRepo
    roles: RoleRepo
    audit: AuditRepo
    web_sessions: WebSessionRepo
    api_tokens: ApiTokenRepo
    mail: MailRepo
    queue: QueueRepo
    dkim: DkimKeyRepo
    mailboxes: MailboxRepo
    throttle: ThrottleRepo
    logins: LoginRepo
    app_passwords: AppPasswordRepo
    account_security: AccountSecurityRepo
    factors: SecondFactorRepo
    recovery_codes: RecoveryCodeRepo
    recovery_contacts: RecoveryContactRepo
    one_time_codes: OneTimeCodeRepo
    forwarding: ForwardingRepo
    known_sign_ins: KnownSignInRepo
    policies: PolicyRepo
    entry_points: EntryPointRepo
    applications: ApplicationRepo
    tickets: TicketRepo

    async def commit(self) -> None: ...
    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork:
        """A new unit of work; `write=False` for read-only work that never commits."""
        ...
