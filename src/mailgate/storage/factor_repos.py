"""Repositories for second factors, WebAuthn challenges and recovery codes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mailgate.domain.errors import Conflict
from mailgate.domain.factors import FactorKind, RecoveryCode, SecondFactor
from mailgate.storage.tables import factor_challenges, recovery_codes, second_factors


def _factor(r: Mapping[Any, Any]) -> SecondFactor:
    return SecondFactor(
        id=r["id"],
        account_id=r["account_id"],
        kind=FactorKind(r["kind"]),
        name=r["name"],
        created_at=r["created_at"],
        confirmed_at=r["confirmed_at"],
        last_used_at=r["last_used_at"],
        secret=r["secret"],
        last_step=r["last_step"],
        credential_id=r["credential_id"],
        public_key=r["public_key"],
        sign_count=int(r["sign_count"]),
        transports=tuple(t for t in r["transports"].split(",") if t),
    )


class SqlSecondFactorRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, factor: SecondFactor) -> SecondFactor:
        values = {
            "account_id": factor.account_id,
            "kind": factor.kind.value,
            "name": factor.name[:100],
            "created_at": factor.created_at,
            "confirmed_at": factor.confirmed_at,
            "last_used_at": factor.last_used_at,
            "secret": factor.secret,
            "last_step": factor.last_step,
            "credential_id": factor.credential_id,
            "public_key": factor.public_key,
            "sign_count": factor.sign_count,
            "transports": ",".join(factor.transports)[:100],
        }
        try:
            res = await self.conn.execute(second_factors.insert().values(values))
        except IntegrityError as exc:
            raise Conflict("this security key is already registered") from exc
        assert res.inserted_primary_key is not None  # noqa: S101
        return _factor({"id": res.inserted_primary_key[0], **values})

    async def for_account(self, account_id: int, *, confirmed_only: bool) -> list[SecondFactor]:
        t = second_factors.c
        q = select(second_factors).where(t.account_id == account_id)
        if confirmed_only:
            q = q.where(t.confirmed_at.is_not(None))
        rows = await self.conn.execute(q.order_by(t.id))
        return [_factor(r) for r in rows.mappings()]

    async def get(self, account_id: int, factor_id: int) -> SecondFactor | None:
        t = second_factors.c
        q = select(second_factors).where(t.account_id == account_id, t.id == factor_id)
        row = (await self.conn.execute(q)).mappings().first()
        return _factor(row) if row else None

    async def by_credential_id(self, account_id: int, credential_id: bytes) -> SecondFactor | None:
        t = second_factors.c
        q = select(second_factors).where(
            t.account_id == account_id,
            t.credential_id == credential_id,
            t.confirmed_at.is_not(None),
        )
        row = (await self.conn.execute(q)).mappings().first()
        return _factor(row) if row else None

    async def confirm(self, factor_id: int, when: datetime, last_step: int | None) -> None:
        await self.conn.execute(
            update(second_factors)
            .where(second_factors.c.id == factor_id)
            .values(confirmed_at=when, last_used_at=when, last_step=last_step)
        )

    async def advance_step(self, factor_id: int, step: int, when: datetime) -> bool:
        t = second_factors.c
        res = await self.conn.execute(
            update(second_factors)
            .where(t.id == factor_id, (t.last_step.is_(None)) | (t.last_step < step))
            .values(last_step=step, last_used_at=when)
        )
        return bool(res.rowcount)

    async def advance_sign_count(self, factor_id: int, old: int, new: int, when: datetime) -> bool:
        t = second_factors.c
        res = await self.conn.execute(
            update(second_factors)
            .where(t.id == factor_id, t.sign_count == old)
            .values(sign_count=new, last_used_at=when)
        )
        return bool(res.rowcount)

    async def delete(self, account_id: int, factor_id: int) -> bool:
        t = second_factors.c
        res = await self.conn.execute(
            delete(second_factors).where(t.account_id == account_id, t.id == factor_id)
        )
        return bool(res.rowcount)

    async def delete_pending(self, account_id: int, kind: str) -> int:
        t = second_factors.c
        res = await self.conn.execute(
            delete(second_factors).where(
                t.account_id == account_id, t.kind == kind, t.confirmed_at.is_(None)
            )
        )
        return int(res.rowcount or 0)

    async def delete_all(self, account_id: int) -> int:
        await self.conn.execute(
            delete(factor_challenges).where(factor_challenges.c.account_id == account_id)
        )
        t = second_factors.c
        res = await self.conn.execute(delete(second_factors).where(t.account_id == account_id))
        return int(res.rowcount or 0)

    async def add_challenge(
        self, account_id: int, purpose: str, challenge: bytes, expires_at: datetime
    ) -> None:
        c = factor_challenges.c
        # Expired challenges of the account go first, so the table stays small.
        await self.conn.execute(
            delete(factor_challenges).where(c.account_id == account_id, c.expires_at < expires_at)
        )
        await self.conn.execute(
            factor_challenges.insert().values(
                account_id=account_id, purpose=purpose, challenge=challenge, expires_at=expires_at
            )
        )

    async def take_challenge(
        self, account_id: int, purpose: str, challenge: bytes, now: datetime
    ) -> bool:
        c = factor_challenges.c
        res = await self.conn.execute(
            delete(factor_challenges).where(
                c.account_id == account_id,
                c.purpose == purpose,
                c.challenge == challenge,
                c.expires_at >= now,
            )
        )
        return bool(res.rowcount)


class SqlRecoveryCodeRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def replace(self, account_id: int, code_hashes: Sequence[str], when: datetime) -> int:
        deleted = await self.delete_all(account_id)
        if code_hashes:
            await self.conn.execute(
                recovery_codes.insert(),
                [
                    {"account_id": account_id, "code_hash": h, "created_at": when, "used_at": None}
                    for h in code_hashes
                ],
            )
        return deleted

    async def unused(self, account_id: int) -> list[RecoveryCode]:
        t = recovery_codes.c
        q = (
            select(recovery_codes)
            .where(t.account_id == account_id, t.used_at.is_(None))
            .order_by(t.id)
        )
        return [
            RecoveryCode(r["id"], r["account_id"], r["code_hash"], r["created_at"], r["used_at"])
            for r in (await self.conn.execute(q)).mappings()
        ]

    async def mark_used(self, code_id: int, when: datetime) -> bool:
        t = recovery_codes.c
        res = await self.conn.execute(
            update(recovery_codes).where(t.id == code_id, t.used_at.is_(None)).values(used_at=when)
        )
        return bool(res.rowcount)

    async def delete_all(self, account_id: int) -> int:
        t = recovery_codes.c
        res = await self.conn.execute(delete(recovery_codes).where(t.account_id == account_id))
        return int(res.rowcount or 0)
