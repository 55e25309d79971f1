"""Ports: what the domain and services need from the outside world, as Protocols.

`storage/` implements the repositories and the unit of work; `services/` implements the hasher;
tests may pass in-memory fakes. Methods raise only the errors named in their docstrings (from
`mailgate.domain.errors`); anything else is a bug or an infrastructure failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
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
from mailgate.domain.mail import HeaderFields, Mailbox, StoredMessage


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
    async def search(
        self, org_ids: frozenset[int] | None, query: str, offset: int, limit: int
    ) -> tuple[list[RosterEntry], int]: ...


class AccountRepo(Protocol):
    async def add(self, account: Account) -> Account:
        """Stores a new account (its `id` is ignored) and returns it with its id."""
        ...

    async def get(self, account_id: int) -> Account | None: ...
    async def by_key(self, address_key: str) -> Account | None: ...
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


class WebSessionRepo(Protocol):
    async def add(
        self, id_hash: str, account_id: int, csrf: str, created: datetime, user_agent: str, ip: str
    ) -> None: ...

    async def get(self, id_hash: str) -> tuple[int, str, datetime, datetime] | None:
        """(account id, csrf token, created, last seen) of a live session."""
        ...

    async def touch(self, id_hash: str, when: datetime) -> None: ...
    async def delete(self, id_hash: str) -> None: ...


class ApiTokenRepo(Protocol):
    async def add(
        self, token_hash: str, account_id: int, name: str, expires_on: date | None
    ) -> None: ...

    async def get(self, token_hash: str) -> tuple[int, date | None] | None:
        """(account id, expiry) of the token, or None."""
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
