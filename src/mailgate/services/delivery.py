"""Local delivery: who a recipient is, whether they may receive, and storing the message once.

A message for many local recipients is one blob with one reference per mailbox. `deliver`
returns only when the blob is fsynced and the metadata committed (through the group
committer), so the SMTP layer may reply 250 at that moment and not before.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mailgate.domain.directory import AccountState, Group, GroupSendPolicy
from mailgate.domain.errors import InvalidInput
from mailgate.domain.mail import header_fields
from mailgate.domain.names import Address
from mailgate.domain.ports import BlobStore, Clock, NewMessage, UnitOfWork, UnitOfWorkFactory
from mailgate.services.groupcommit import GroupCommitter
from mailgate.services.textindex import searchable_text

MAX_EXPANSION_DEPTH = 8
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


@dataclass(slots=True)
class DeliveryService:
    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore
    committer: GroupCommitter

    async def _sender_org(self, uow: UnitOfWork, sender: Address | None) -> int | None:
        if sender is None:
            return None
        domain = await uow.domains.by_name(sender.domain.ascii)
        return domain.org_id if domain else None

    async def _expand(
        self,
        uow: UnitOfWork,
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
        if await uow.domains.by_name(address.domain.ascii) is None:
            out.remote.append(str(address))
            return True
        kind = await uow.addresses.kind_of(address.key)
        if kind == "account":
            account = await uow.accounts.by_key(address.key)
            if account is None or account.state not in RECEIVING_STATES:
                out.disabled = True
            else:
                out.accounts.add(account.id)
            return True
        targets: list[str] = []
        if kind == "alias":
            alias = await uow.aliases.by_key(address.key)
            targets = alias.targets if alias else []
        elif kind == "group":
            group = await uow.groups.by_key(address.key)
            if group is None:
                return False
            if not _may_send_to_group(group, sender, sender_org):
                out.denied = True
                return True
            targets = group.members
        else:
            return False
        for target in targets:
            await self._expand(uow, Address.parse(target), sender, sender_org, out, seen, depth + 1)
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
        async with self.uow(write=False) as uow:
            if await uow.domains.by_name(address.domain.ascii) is None:
                return Resolution(RecipientVerdict.REMOTE, remote=[str(address)])
            out = _Expansion()
            sender_org = await self._sender_org(uow, sender_addr)
            if not await self._expand(uow, address, sender_addr, sender_org, out, set(), 0):
                return Resolution(RecipientVerdict.UNKNOWN)
            if out.denied and not out.accounts:
                return Resolution(RecipientVerdict.NOT_ALLOWED)
            if not out.accounts and not out.remote:
                return Resolution(RecipientVerdict.DISABLED)
            if out.accounts:
                quotas = await uow.mail.quota(sorted(out.accounts))
                full = {a for a, (quota, used) in quotas.items() if used + declared_size > quota}
                if full and len(out.accounts) == 1 and not out.remote:
                    return Resolution(RecipientVerdict.OVER_QUOTA)
                # A list keeps delivering to its members with room; the full ones miss out.
                out.accounts -= full
        return Resolution(RecipientVerdict.LOCAL, sorted(out.accounts), out.remote)

    async def deliver(self, mail_from: str, account_ids: list[int], data: bytes) -> int:
        """Store `data` (with a Return-Path added) in the INBOX of each account, durably.

        Returns the blob's size. Raises only on infrastructure failure (then nothing is
        acknowledged, and the sender retries).
        """
        message = f"Return-Path: <{mail_from}>\r\n".encode() + data
        blob_id = await self.blobs.put(message)
        async with self.uow(write=False) as uow:
            inboxes = await uow.mail.inbox_ids(sorted(set(account_ids)))
        now = self.clock.now()
        headers = header_fields(message)
        text = await searchable_text(message)
        items = [
            NewMessage(inbox, account, blob_id, len(message), 0, [], now, headers, text)
            for account, inbox in sorted(inboxes.items())
        ]
        await self.committer.append(items)
        # A garbage collection racing with this delivery may have removed an identical old
        # body between `put` and the commit; storing it again is a no-op when it is there.
        await self.blobs.put(message)
        return len(message)
