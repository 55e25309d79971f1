"""Repositories for accounts, the shared address namespace, aliases, groups and role grants."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from mailgate.domain.access import Role, RoleGrant
from mailgate.domain.directory import POOL_STATES, Account, Alias, Group, GroupSendPolicy
from mailgate.domain.errors import AddressTaken, Conflict
from mailgate.storage import rows
from mailgate.storage.directory_repos import like_pattern
from mailgate.storage.tables import (
    accounts,
    address_claims,
    aliases,
    group_members,
    groups,
    role_grants,
)


class SqlAccountRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, account: Account) -> Account:
        values = rows.account_values(account)
        res = await self.conn.execute(accounts.insert().values(values))
        assert res.inserted_primary_key is not None  # noqa: S101
        return rows.account({"id": res.inserted_primary_key[0], **values})

    async def get(self, account_id: int) -> Account | None:
        q = select(accounts).where(accounts.c.id == account_id)
        row = (await self.conn.execute(q)).mappings().first()
        return rows.account(row) if row else None

    async def by_key(self, address_key: str) -> Account | None:
        q = select(accounts).where(accounts.c.address_key == address_key)
        row = (await self.conn.execute(q)).mappings().first()
        return rows.account(row) if row else None

    async def update(self, account: Account) -> None:
        await self.conn.execute(
            update(accounts).where(accounts.c.id == account.id).values(rows.account_values(account))
        )

    async def by_roster(self, roster_id: int) -> list[Account]:
        q = select(accounts).where(accounts.c.roster_id == roster_id).order_by(accounts.c.id)
        return [rows.account(r) for r in (await self.conn.execute(q)).mappings()]

    async def count_in_pool(self, org_id: int) -> int:
        q = (
            select(func.count())
            .select_from(accounts)
            .where(
                accounts.c.org_id == org_id, accounts.c.state.in_([s.value for s in POOL_STATES])
            )
        )
        return int(await self.conn.scalar(q) or 0)

    async def search(
        self,
        org_ids: frozenset[int] | None,
        query: str,
        state: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[Account], int]:
        cond: list[ColumnElement[bool]] = []
        if org_ids is not None:
            cond.append(accounts.c.org_id.in_(org_ids))
        if state:
            cond.append(accounts.c.state == state)
        if query:
            pat = like_pattern(query)
            cond.append(
                or_(
                    accounts.c.address.ilike(pat, escape="\\"),
                    accounts.c.display_name.ilike(pat, escape="\\"),
                )
            )
        total = await self.conn.scalar(select(func.count()).select_from(accounts).where(*cond))
        q = select(accounts).where(*cond).order_by(accounts.c.address_key)
        q = q.offset(offset).limit(limit)
        found = [rows.account(r) for r in (await self.conn.execute(q)).mappings()]
        return found, int(total or 0)


class SqlAddressRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def claim(self, address_key: str, kind: str, org_id: int) -> None:
        existing = await self.kind_of(address_key)
        if existing is not None:
            raise AddressTaken(f"the address {address_key} is already used by an {existing}")
        try:
            await self.conn.execute(
                address_claims.insert().values(address_key=address_key, kind=kind, org_id=org_id)
            )
        except IntegrityError as exc:  # a concurrent claim won the race
            raise AddressTaken(f"the address {address_key} is already taken") from exc

    async def release(self, address_key: str) -> None:
        await self.conn.execute(
            delete(address_claims).where(address_claims.c.address_key == address_key)
        )

    async def kind_of(self, address_key: str) -> str | None:
        q = select(address_claims.c.kind).where(address_claims.c.address_key == address_key)
        kind = await self.conn.scalar(q)
        return str(kind) if kind is not None else None


class SqlAliasRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, org_id: int, address: str, address_key: str, targets: list[str]) -> Alias:
        values = {
            "org_id": org_id,
            "address": address,
            "address_key": address_key,
            "targets": targets,
        }
        res = await self.conn.execute(aliases.insert().values(values))
        assert res.inserted_primary_key is not None  # noqa: S101
        return rows.alias({"id": res.inserted_primary_key[0], **values})

    async def by_key(self, address_key: str) -> Alias | None:
        q = select(aliases).where(aliases.c.address_key == address_key)
        row = (await self.conn.execute(q)).mappings().first()
        return rows.alias(row) if row else None

    async def remove(self, alias_id: int) -> None:
        await self.conn.execute(delete(aliases).where(aliases.c.id == alias_id))

    async def list(self, org_ids: frozenset[int] | None) -> list[Alias]:
        q = select(aliases).order_by(aliases.c.address_key)
        if org_ids is not None:
            q = q.where(aliases.c.org_id.in_(org_ids))
        return [rows.alias(r) for r in (await self.conn.execute(q)).mappings()]


class SqlGroupRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(
        self, org_id: int, address: str, address_key: str, name: str, send_policy: str
    ) -> Group:
        values = {
            "org_id": org_id,
            "address": address,
            "address_key": address_key,
            "name": name,
            "send_policy": send_policy,
            "moderators": [],
        }
        res = await self.conn.execute(groups.insert().values(values))
        assert res.inserted_primary_key is not None  # noqa: S101
        return Group(
            res.inserted_primary_key[0],
            org_id,
            address,
            address_key,
            name,
            GroupSendPolicy(send_policy),
        )

    async def _members(self, group_ids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {gid: [] for gid in group_ids}
        if group_ids:
            q = (
                select(group_members)
                .where(group_members.c.group_id.in_(group_ids))
                .order_by(group_members.c.member)
            )
            for r in (await self.conn.execute(q)).mappings():
                out[r["group_id"]].append(r["member"])
        return out

    async def _load(self, q: object) -> list[Group]:
        found = list((await self.conn.execute(q)).mappings())  # type: ignore[call-overload]
        members = await self._members([r["id"] for r in found])
        return [
            Group(
                r["id"],
                r["org_id"],
                r["address"],
                r["address_key"],
                r["name"],
                GroupSendPolicy(r["send_policy"]),
                members[r["id"]],
                list(r["moderators"]),
            )
            for r in found
        ]

    async def by_key(self, address_key: str) -> Group | None:
        found = await self._load(select(groups).where(groups.c.address_key == address_key))
        return found[0] if found else None

    async def add_member(self, group_id: int, member: str) -> None:
        q = (
            select(func.count())
            .select_from(group_members)
            .where(group_members.c.group_id == group_id, group_members.c.member == member)
        )
        if await self.conn.scalar(q):
            raise Conflict(f"{member} is already a member of this group")
        await self.conn.execute(group_members.insert().values(group_id=group_id, member=member))

    async def list(self, org_ids: frozenset[int] | None) -> list[Group]:
        q = select(groups).order_by(groups.c.address_key)
        if org_ids is not None:
            q = q.where(groups.c.org_id.in_(org_ids))
        return await self._load(q)


class SqlRoleRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def grant(self, account_id: int, role: Role, org_id: int | None) -> None:
        current = await self.grants_for(account_id)
        if RoleGrant(role, org_id) in current:
            return
        await self.conn.execute(
            role_grants.insert().values(account_id=account_id, role=role.value, org_id=org_id)
        )

    async def holders(self, org_id: int | None, roles: Sequence[Role]) -> list[int]:
        c = role_grants.c
        where = c.org_id.is_(None) if org_id is None else c.org_id == org_id
        q = (
            select(c.account_id)
            .where(where, c.role.in_([r.value for r in roles]))
            .distinct()
            .order_by(c.account_id)
        )
        return [int(r[0]) for r in await self.conn.execute(q)]

    async def grants_for(self, account_id: int) -> tuple[RoleGrant, ...]:
        q = select(role_grants).where(role_grants.c.account_id == account_id)
        return tuple(
            RoleGrant(Role(r["role"]), r["org_id"]) for r in (await self.conn.execute(q)).mappings()
        )
