"""Local delivery: who a recipient is, whether they may receive, and storing the message once.

A message for many local recipients is one blob with one reference per mailbox. `deliver`
returns only when the blob is fsynced and the metadata committed (through the group
committer), so the SMTP layer may reply 250 at that moment and not before.

Forwarding (domain.forwarding): an account with a verified forwarding that its policy allows
sends its mail on to the target as well: a remote target is added to `remote` (the outbound
queue, as for alias targets, with the original envelope sender), a local one is expanded like
any address. The account's own INBOX is skipped when `keep_copy` is false, but only when the
target actually takes the message: when the target is unknown, disabled, over quota, refused by
its group's send policy or already on the path (a loop A -> B -> A, stopped by the expansion's
`seen` set), the account keeps its copy, so forwarding never loses mail at this step. A remote
server that later refuses the forwarded copy for good makes the outbound worker bounce it to
the envelope sender, as for any remote recipient.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import cast

from mailgate.domain.directory import Account, AccountState, Group, GroupSendPolicy
from mailgate.domain.errors import InvalidInput
from mailgate.domain.forwarding import may_forward
from mailgate.domain.mail import header_fields
from mailgate.domain.names import Address
from mailgate.domain.ports import BlobStore, Clock, NewMessage, UnitOfWork, UnitOfWorkFactory
from mailgate.services.dircache import MISSING, AccountEntry, DirectoryCache, Entry, ListEntry
from mailgate.services.groupcommit import GroupCommitter
from mailgate.services.policies import forwarding_scope
from mailgate.services.textindex import searchable_text

MAX_EXPANSION_DEPTH = 8
QUOTA_TTL = 1.0
# States whose mailbox still receives: a pending account gets its welcome mail, a locked or
# suspended one keeps receiving while the person sorts things out.
RECEIVING_STATES = frozenset(
    {
        AccountState.PENDING_ACTIVATION,
        AccountState.ACTIVE,
        AccountState.LOCKED,
        AccountState.SUSPENDED,
    }
)


class RecipientVerdict(enum.StrEnum):
    LOCAL = "local"  # deliver to `account_ids` (and relay to `remote`, if any)
    REMOTE = "remote"  # not one of our domains
    UNKNOWN = "unknown"  # our domain, no such address
    DISABLED = "disabled"  # the mailbox exists but no longer receives
    OVER_QUOTA = "over_quota"
    NOT_ALLOWED = "not_allowed"  # a group whose send policy excludes this sender


@dataclass(slots=True)
class Resolution:
    verdict: RecipientVerdict
    account_ids: list[int] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Expansion:
    accounts: set[int] = field(default_factory=set)
    remote: list[str] = field(default_factory=list)
    disabled: bool = False
    denied: bool = False
    declared_size: int = 0


def _may_send_to_group(group: Group, sender: Address | None, sender_org: int | None) -> bool:
    if group.send_policy is GroupSendPolicy.ANYONE:
        return True
    if sender is None:
        return False
    if group.send_policy is GroupSendPolicy.ORGANISATION:
        return sender_org == group.org_id
    keys = {Address.parse(m).key for m in group.members}
    if group.send_policy is GroupSendPolicy.MEMBERS:
        return sender.key in keys
    return sender.key in {Address.parse(m).key for m in group.moderators}


class _Reader:
    """A read-only unit of work opened only when the cache cannot answer."""

    def __init__(self, factory: UnitOfWorkFactory) -> None:
        self._factory = factory
        self._uow: UnitOfWork | None = None

    async def get(self) -> UnitOfWork:
        if self._uow is None:
            uow = self._factory(write=False)
            self._uow = await uow.__aenter__()
        return self._uow

    async def close(self) -> None:
        if self._uow is not None:
            await self._uow.__aexit__(None, None, None)
            self._uow = None


@dataclass(slots=True)
class DeliveryService:
    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore
    committer: GroupCommitter
    cache: DirectoryCache = field(default_factory=DirectoryCache)

    async def _domain_org(self, reader: _Reader, ascii_domain: str) -> int | None:
        """The organisation owning `ascii_domain`, or None when it is not ours."""
        cached = self.cache.get("domain", ascii_domain)
        if cached is not MISSING:
            return cast(int | None, cached)
        domain = await (await reader.get()).domains.by_name(ascii_domain)
        org = domain.org_id if domain else None
        self.cache.put("domain", ascii_domain, org)
        return org

    async def _entry(self, reader: _Reader, key: str) -> Entry:
        cached = self.cache.get("address", key)
        if cached is not MISSING:
            return cast(Entry, cached)
        uow = await reader.get()
        kind = await uow.addresses.kind_of(key)
        entry: Entry = None
        if kind == "account":
            account = await uow.accounts.by_key(key)
            if account is not None:
                receiving = account.state in RECEIVING_STATES
                forward, keep_copy = await self._forwarding(reader, uow, account)
                entry = AccountEntry(account.id, receiving, forward, keep_copy)
        elif kind == "alias":
            alias = await uow.aliases.by_key(key)
            entry = ListEntry(tuple(alias.targets)) if alias else None
        elif kind == "group":
            group = await uow.groups.by_key(key)
            entry = ListEntry(tuple(group.members), group) if group else None
        self.cache.put("address", key, entry)
        return entry

    async def _forwarding(
        self, reader: _Reader, uow: UnitOfWork, account: Account
    ) -> tuple[str | None, bool]:
        """(target, keep_copy) of the account's verified forwarding that its policy still
        allows; (None, True) otherwise. The policy is read here so that an administrator who
        turns forwarding off stops it at once, without touching the stored forwardings."""
        forwarding = await uow.forwarding.get(account.id)
        if forwarding is None or not forwarding.verified:
            return None, True
        scope = await forwarding_scope(uow, account)
        target = Address.parse(forwarding.target)
        internal = await self._domain_org(reader, target.domain.ascii) == account.org_id
        if not may_forward(scope, internal):
            return None, True
        return forwarding.target, forwarding.keep_copy

    async def _forward(
        self,
        reader: _Reader,
        entry: AccountEntry,
        sender: Address | None,
        sender_org: int | None,
        out: _Expansion,
        seen: set[str],
        depth: int,
    ) -> bool:
        """Expand the account's forwarding target into `out`; True when it takes the message
        (a remote address, or a local mailbox with room), False when the account must keep it."""
        assert entry.forward is not None  # noqa: S101 - checked by the caller
        sub = _Expansion(declared_size=out.declared_size)
        target = Address.parse(entry.forward)
        await self._expand(reader, target, sender, sender_org, sub, seen, depth + 1)
        out.accounts |= sub.accounts
        out.remote.extend(r for r in sub.remote if r not in out.remote)
        if sub.remote:
            return True
        if not sub.accounts:
            return False
        quotas = await self._quotas(reader, sorted(sub.accounts))
        return any(used + out.declared_size <= quota for quota, used in quotas.values())

    async def passes_through(self, recipient: str, address_key: str) -> bool:
        """Whether mail for `recipient` would reach the address `address_key` on its way
        (through aliases, groups or forwardings): a forwarding there would be a loop."""
        reader = _Reader(self.uow)
        seen: set[str] = set()
        try:
            address = Address.parse(recipient)
            await self._expand(reader, address, None, None, _Expansion(), seen, 0)
        finally:
            await reader.close()
        return address_key in seen

    async def _expand(
        self,
        reader: _Reader,
        address: Address,
        sender: Address | None,
        sender_org: int | None,
        out: _Expansion,
        seen: set[str],
        depth: int,
    ) -> bool:
        """Add the mailboxes behind `address` to `out`; False when nothing has the address."""
        if address.key in seen or depth > MAX_EXPANSION_DEPTH:
            return True
        seen.add(address.key)
        if await self._domain_org(reader, address.domain.ascii) is None:
            out.remote.append(str(address))
            return True
        entry = await self._entry(reader, address.key)
        if entry is None:
            return False
        if isinstance(entry, AccountEntry):
            if not entry.receiving:
                out.disabled = True
                return True
            forwarded = entry.forward is not None and await self._forward(
                reader, entry, sender, sender_org, out, seen, depth
            )
            if entry.keep_copy or not forwarded:
                out.accounts.add(entry.account_id)
            return True
        if entry.group is not None and not _may_send_to_group(entry.group, sender, sender_org):
            out.denied = True
            return True
        for target in entry.targets:
            await self._expand(
                reader, Address.parse(target), sender, sender_org, out, seen, depth + 1
            )
        return True

    async def resolve(
        self, recipient: str, sender: str | None, declared_size: int = 0
    ) -> Resolution:
        """What to do with one RCPT TO; `sender` is the envelope sender (None for <>)."""
        try:
            address = Address.parse(recipient)
        except InvalidInput:
            return Resolution(RecipientVerdict.UNKNOWN)
        try:
            sender_addr = Address.parse(sender) if sender else None
        except InvalidInput:
            sender_addr = None
        reader = _Reader(self.uow)
        try:
            if await self._domain_org(reader, address.domain.ascii) is None:
                return Resolution(RecipientVerdict.REMOTE, remote=[str(address)])
            out = _Expansion(declared_size=declared_size)
            sender_org = (
                await self._domain_org(reader, sender_addr.domain.ascii) if sender_addr else None
            )
            if not await self._expand(reader, address, sender_addr, sender_org, out, set(), 0):
                return Resolution(RecipientVerdict.UNKNOWN)
            if out.denied and not out.accounts:
                return Resolution(RecipientVerdict.NOT_ALLOWED)
            if not out.accounts and not out.remote:
                return Resolution(RecipientVerdict.DISABLED)
            if out.accounts:
                quotas = await self._quotas(reader, sorted(out.accounts))
                full = {a for a, (quota, used) in quotas.items() if used + declared_size > quota}
                if full and full == out.accounts and not out.remote:
                    return Resolution(RecipientVerdict.OVER_QUOTA)
                # A list keeps delivering to its members with room; the full ones miss out.
                out.accounts -= full
        finally:
            await reader.close()
        return Resolution(RecipientVerdict.LOCAL, sorted(out.accounts), out.remote)

    async def _quotas(self, reader: _Reader, account_ids: list[int]) -> dict[int, tuple[int, int]]:
        """(quota, used) per account. Usage is cached for QUOTA_TTL seconds and forgotten when
        this service delivers to the account, so a mailbox this process fills is seen as full at
        once; space freed elsewhere (an IMAP expunge) shows within QUOTA_TTL."""
        found: dict[int, tuple[int, int]] = {}
        missing: list[int] = []
        for account_id in account_ids:
            cached = self.cache.get("quota", account_id, QUOTA_TTL)
            if cached is MISSING:
                missing.append(account_id)
            else:
                found[account_id] = cast(tuple[int, int], cached)
        if missing:
            fresh = await (await reader.get()).mail.quota(missing)
            for account_id, usage in fresh.items():
                self.cache.put("quota", account_id, usage)
            found.update(fresh)
        return found

    async def _inboxes(self, account_ids: list[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        missing: list[int] = []
        for account_id in sorted(set(account_ids)):
            cached = self.cache.get("inbox", account_id)
            if cached is MISSING:
                missing.append(account_id)
            else:
                found[account_id] = cast(int, cached)
        if missing:
            async with self.uow(write=False) as uow:
                fresh = await uow.mail.inbox_ids(missing)
            for account_id, inbox in fresh.items():
                self.cache.put("inbox", account_id, inbox)
            found.update(fresh)
        return found

    async def deliver(self, mail_from: str, account_ids: list[int], data: bytes) -> int:
        """Store `data` (with a Return-Path added) in the INBOX of each account, durably.

        Returns the blob's size. Raises only on infrastructure failure (then nothing is
        acknowledged, and the sender retries).
        """
        message = f"Return-Path: <{mail_from}>\r\n".encode() + data
        blob_id = await self.blobs.put(message)
        inboxes = await self._inboxes(account_ids)
        now = self.clock.now()
        headers = header_fields(message)
        text = await searchable_text(message)
        items = [
            NewMessage(inbox, account, blob_id, len(message), 0, [], now, headers, text)
            for account, inbox in sorted(inboxes.items())
        ]
        await self.committer.append(items)
        for account in inboxes:
            self.cache.forget("quota", account)
        # A garbage collection racing with this delivery may have removed an identical old
        # body between `put` and the commit; storing it again is a no-op when it is there.
        await self.blobs.put(message)
        return len(message)
