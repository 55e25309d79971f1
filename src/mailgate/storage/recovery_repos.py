"""Repositories for recovery contacts and one-time codes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mailgate.domain.errors import Conflict
from mailgate.domain.recovery import CodePurpose, ContactKind, OneTimeCode, RecoveryContact
from mailgate.storage.tables import one_time_codes, recovery_contacts


def _contact(r: Mapping[Any, Any]) -> RecoveryContact:
    return RecoveryContact(
        id=r["id"],
        account_id=r["account_id"],
        kind=ContactKind(r["kind"]),
        value=r["value"],
        created_at=r["created_at"],
        verified_at=r["verified_at"],
    )


def _code(r: Mapping[Any, Any]) -> OneTimeCode:
    return OneTimeCode(
        id=r["id"],
        account_id=r["account_id"],
        purpose=CodePurpose(r["purpose"]),
        target=r["target"],
        digest=r["digest"],
        created_at=r["created_at"],
        expires_at=r["expires_at"],
        used_at=r["used_at"],
        attempts=r["attempts"],
    )


class SqlRecoveryContactRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, contact: RecoveryContact) -> RecoveryContact:
        values = {
            "account_id": contact.account_id,
            "kind": contact.kind.value,
            "value": contact.value,
            "created_at": contact.created_at,
            "verified_at": contact.verified_at,
        }
        existing = await self.for_account(contact.account_id)
        if any(c.kind is contact.kind and c.value == contact.value for c in existing):
            raise Conflict("this contact is already on the account")
        q = recovery_contacts.insert().values(values).returning(*recovery_contacts.c)
        try:
            row = (await self.conn.execute(q)).mappings().one()
        except IntegrityError as exc:  # a concurrent add won the race
            raise Conflict("this contact is already on the account") from exc
        return _contact(row)

    async def for_account(self, account_id: int) -> list[RecoveryContact]:
        c = recovery_contacts.c
        q = select(recovery_contacts).where(c.account_id == account_id).order_by(c.id)
        return [_contact(r) for r in (await self.conn.execute(q)).mappings()]

    async def get(self, account_id: int, contact_id: int) -> RecoveryContact | None:
        c = recovery_contacts.c
        q = select(recovery_contacts).where(c.account_id == account_id, c.id == contact_id)
        r = (await self.conn.execute(q)).mappings().first()
        return _contact(r) if r else None

    async def mark_verified(self, contact_id: int, when: datetime) -> None:
        c = recovery_contacts.c
        await self.conn.execute(
            update(recovery_contacts).where(c.id == contact_id).values(verified_at=when)
        )

    async def delete(self, account_id: int, contact_id: int) -> bool:
        c = recovery_contacts.c
        q = delete(recovery_contacts).where(c.account_id == account_id, c.id == contact_id)
        return bool((await self.conn.execute(q)).rowcount)


class SqlOneTimeCodeRepo:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, code: OneTimeCode) -> OneTimeCode:
        q = (
            one_time_codes.insert()
            .values(
                account_id=code.account_id,
                purpose=code.purpose.value,
                target=code.target,
                digest=code.digest,
                created_at=code.created_at,
                expires_at=code.expires_at,
                used_at=code.used_at,
                attempts=code.attempts,
            )
            .returning(*one_time_codes.c)
        )
        return _code((await self.conn.execute(q)).mappings().one())

    async def live(
        self, account_id: int, purpose: CodePurpose, target: str | None, now: datetime
    ) -> list[OneTimeCode]:
        c = one_time_codes.c
        q = select(one_time_codes).where(
            c.account_id == account_id,
            c.purpose == purpose.value,
            c.used_at.is_(None),
            c.expires_at > now,
        )
        if target is not None:
            q = q.where(c.target == target)
        found = [_code(r) for r in (await self.conn.execute(q.order_by(c.id.desc()))).mappings()]
        return [code for code in found if code.live(now)]

    async def by_digest(self, purpose: CodePurpose, digest: str) -> OneTimeCode | None:
        c = one_time_codes.c
        q = select(one_time_codes).where(c.purpose == purpose.value, c.digest == digest)
        r = (await self.conn.execute(q)).mappings().first()
        return _code(r) if r else None

    async def spend(self, code_id: int, when: datetime) -> bool:
        c = one_time_codes.c
        q = update(one_time_codes).where(c.id == code_id, c.used_at.is_(None)).values(used_at=when)
        return bool((await self.conn.execute(q)).rowcount)

    async def count_attempt(self, code_id: int) -> int:
        c = one_time_codes.c
        q = (
            update(one_time_codes)
            .where(c.id == code_id)
            .values(attempts=c.attempts + 1)
            .returning(c.attempts)
        )
        return int((await self.conn.execute(q)).scalar_one())

    async def revoke(self, account_id: int, purpose: CodePurpose, when: datetime) -> int:
        c = one_time_codes.c
        q = (
            update(one_time_codes)
            .where(c.account_id == account_id, c.purpose == purpose.value, c.used_at.is_(None))
            .values(used_at=when)
        )
        return int((await self.conn.execute(q)).rowcount or 0)

    async def created_since(
        self, account_id: int, purpose: CodePurpose, since: datetime
    ) -> list[OneTimeCode]:
        c = one_time_codes.c
        q = (
            select(one_time_codes)
            .where(c.account_id == account_id, c.purpose == purpose.value, c.created_at >= since)
            .order_by(c.id.desc())
        )
        return [_code(r) for r in (await self.conn.execute(q)).mappings()]
