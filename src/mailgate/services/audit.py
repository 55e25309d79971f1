"""Writing and checking the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailgate.domain.access import Actor, Permission
from mailgate.domain.audit import AuditEvent, ChainReport, seal, verify_chain
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory


async def record(
    uow: UnitOfWork,
    clock: Clock,
    actor: Actor,
    action: str,
    target: str,
    org_id: int | None,
    summary: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the change)."""
    seq, prev = await uow.audit.lock_tail()
    event = seal(
        seq + 1,
        prev,
        clock.now(),
        actor.name,
        action,
        target,
        org_id,
        summary or {},
        actor.source_ip,
    )
    await uow.audit.append(event)
    return event


@dataclass(slots=True)
class AuditService:
    uow: UnitOfWorkFactory
    clock: Clock

    async def verify(self, actor: Actor) -> ChainReport:
        actor.require(Permission.AUDIT_READ, None)
        async with self.uow(write=False) as uow:
            rows = [pair async for pair in uow.audit.scan()]
        return verify_chain(rows)

    async def list(
        self, actor: Actor, offset: int = 0, limit: int = 50
    ) -> tuple[list[AuditEvent], int]:
        scope = actor.org_scope(Permission.AUDIT_READ)
        async with self.uow(write=False) as uow:
            return await uow.audit.list(scope, offset, limit)
