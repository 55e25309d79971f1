"""Aliases (one address to several targets) and groups (distribution lists)."""

from __future__ import annotations

from dataclasses import dataclass

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Alias, Group, GroupSendPolicy
from mailgate.domain.errors import InvalidInput, NotFound
from mailgate.domain.names import Address
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.services.accounts import owned_domain
from mailgate.services.audit import record
from mailgate.services.organisations import org_by_slug

MAX_TARGETS = 1000


async def _local_target(uow: UnitOfWork, org_id: int, target: Address) -> None:
    """A target in one of our domains must exist (an account, alias or group)."""
    if await uow.domains.by_name(target.domain.ascii) is None:
        return  # external target: forwarded by the outbound relay
    if await uow.addresses.kind_of(target.key) is None:
        raise NotFound(f"{target} is in one of our domains but no account, alias or group has it")


@dataclass(slots=True)
class RouteService:
    uow: UnitOfWorkFactory
    clock: Clock

    async def add_alias(self, actor: Actor, address: str, targets: list[str]) -> Alias:
        parsed = Address.parse(address)
        if not targets:
            raise InvalidInput("an alias needs at least one target address")
        if len(targets) > MAX_TARGETS:
            raise InvalidInput(f"an alias may have at most {MAX_TARGETS} targets")
        parsed_targets = [Address.parse(t) for t in targets]
        if any(t.key == parsed.key for t in parsed_targets):
            raise InvalidInput("an alias cannot point to itself")
        async with self.uow() as uow:
            domain = await owned_domain(uow, parsed)
            actor.require(Permission.DIRECTORY_WRITE, domain.org_id)
            for target in parsed_targets:
                await _local_target(uow, domain.org_id, target)
            await uow.addresses.claim(parsed.key, "alias", domain.org_id)
            # One target per mailbox: `Li.Na@` and `li.na@` are the same address.
            first: dict[str, str] = {}
            for t in parsed_targets:
                first.setdefault(t.key, str(t))
            unique = list(first.values())
            alias = await uow.aliases.add(domain.org_id, str(parsed), parsed.key, unique)
            await record(
                uow,
                self.clock,
                actor,
                "alias.add",
                f"alias:{parsed.key}",
                domain.org_id,
                {"targets": unique},
            )
            await uow.commit()
        return alias

    async def remove_alias(self, actor: Actor, address: str) -> None:
        key = Address.parse(address).key
        async with self.uow() as uow:
            alias = await uow.aliases.by_key(key)
            if alias is None or not actor.can(Permission.DIRECTORY_READ, alias.org_id):
                raise NotFound(f"there is no alias {address!r}")
            actor.require(Permission.DIRECTORY_WRITE, alias.org_id)
            await uow.aliases.remove(alias.id)
            await uow.addresses.release(key)
            await record(
                uow,
                self.clock,
                actor,
                "alias.remove",
                f"alias:{key}",
                alias.org_id,
                {"targets": alias.targets},
            )
            await uow.commit()

    async def list_aliases(self, actor: Actor, org_slug: str | None = None) -> list[Alias]:
        async with self.uow(write=False) as uow:
            scope = actor.org_scope(Permission.DIRECTORY_READ)
            if org_slug is not None:
                scope = frozenset(
                    {(await org_by_slug(uow, actor, org_slug, Permission.DIRECTORY_READ)).id}
                )
            return await uow.aliases.list(scope)

    async def create_group(
        self, actor: Actor, address: str, name: str, send_policy: str = "organisation"
    ) -> Group:
        parsed = Address.parse(address)
        try:
            policy = GroupSendPolicy(send_policy)
        except ValueError:
            allowed = ", ".join(p.value for p in GroupSendPolicy)
            raise InvalidInput(f"send policy {send_policy!r} is not one of: {allowed}") from None
        async with self.uow() as uow:
            domain = await owned_domain(uow, parsed)
            actor.require(Permission.DIRECTORY_WRITE, domain.org_id)
            await uow.addresses.claim(parsed.key, "group", domain.org_id)
            group = await uow.groups.add(
                domain.org_id, str(parsed), parsed.key, name.strip() or parsed.local, policy.value
            )
            await record(
                uow,
                self.clock,
                actor,
                "group.create",
                f"group:{parsed.key}",
                domain.org_id,
                {"name": group.name, "send_policy": policy.value},
            )
            await uow.commit()
        return group

    async def add_member(self, actor: Actor, group_address: str, member: str) -> Group:
        key = Address.parse(group_address).key
        parsed_member = Address.parse(member)
        async with self.uow() as uow:
            group = await uow.groups.by_key(key)
            if group is None or not actor.can(Permission.DIRECTORY_READ, group.org_id):
                raise NotFound(f"there is no group {group_address!r}")
            actor.require(Permission.DIRECTORY_WRITE, group.org_id)
            if parsed_member.key == key:
                raise InvalidInput("a group cannot be a member of itself")
            await _local_target(uow, group.org_id, parsed_member)
            await uow.groups.add_member(group.id, str(parsed_member))
            await record(
                uow,
                self.clock,
                actor,
                "group.add_member",
                f"group:{key}",
                group.org_id,
                {"member": str(parsed_member)},
            )
            updated = await uow.groups.by_key(key)
            await uow.commit()
        assert updated is not None  # noqa: S101
        return updated

    async def list_groups(self, actor: Actor, org_slug: str | None = None) -> list[Group]:
        async with self.uow(write=False) as uow:
            scope = actor.org_scope(Permission.DIRECTORY_READ)
            if org_slug is not None:
                scope = frozenset(
                    {(await org_by_slug(uow, actor, org_slug, Permission.DIRECTORY_READ)).id}
                )
            return await uow.groups.list(scope)
