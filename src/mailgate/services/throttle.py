"""The brute-force limiter that `AuthenticationService.authenticate` consults (domain.security).

Counters live in SQL (`auth_failures`) so every process and, later, every node sees the same
numbers; they are read in the login's read transaction and updated in the same write
transaction as the login record. Only `authenticate` changes them: counting a failure, and
clearing a pair after a successful authentication of that pair. Nothing else (sending a code,
asking for a reset) touches them, so no other flow can be used to wipe an attacker's record.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mailgate.domain.directory import Account
from mailgate.domain.ports import UnitOfWork
from mailgate.domain.security import IP_ONLY, FailureCounter, SecurityAlert, ThrottlePolicy

log = logging.getLogger(__name__)
FAILURE_BURST = "failure_burst"


def counter_keys(account_id: int | None, ip: str) -> list[tuple[int, str]]:
    keys = [(IP_ONLY, ip)]
    if account_id is not None:
        keys.append((account_id, ip))
    return keys


@dataclass(frozen=True, slots=True)
class Limiter:
    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)

    def blocked(
        self, counters: Sequence[FailureCounter], account_id: int | None, ip: str, now: datetime
    ) -> datetime | None:
        """Until when the attempt of `account_id` (None: unknown) from `ip` must wait."""
        p = self.policy
        ends: list[datetime] = []
        for c in counters:
            if c.ip != ip:
                continue
            if c.account_id == IP_ONLY:
                until = p.blocked_until(c, p.ip_free_failures, now)
            elif c.account_id == account_id:
                until = p.blocked_until(c, p.pair_free_failures, now)
            else:
                continue
            if until is not None:
                ends.append(until)
        return max(ends) if ends else None

    async def count_failure(
        self, uow: UnitOfWork, account: Account | None, ip: str, now: datetime
    ) -> bool:
        """One more failure for the IP and, when the account is known, for the pair; raises the
        burst alert when the account is attacked from many IPs (True: an alert was stored, for
        services.alerts to deliver after the commit)."""
        reset_before = now - self.policy.failure_reset_time
        await uow.throttle.add_failure(IP_ONLY, ip, now, reset_before)
        if account is None:
            return False
        await uow.throttle.add_failure(account.id, ip, now, reset_before)
        return await self._check_burst(uow, account, now)

    async def reset(
        self, uow: UnitOfWork, counters: Sequence[FailureCounter], account_id: int, ip: str
    ) -> None:
        """After a successful authentication of (account, ip): forget the pair's failures."""
        if any(c.account_id == account_id and c.ip == ip for c in counters):
            await uow.throttle.clear(account_id, ip)

    async def _check_burst(self, uow: UnitOfWork, account: Account, now: datetime) -> bool:
        p = self.policy
        failures, ips = await uow.logins.failures_since(account.id, now - p.burst_window)
        if failures < p.burst_failures or ips < p.burst_min_ips:
            return False
        if await uow.account_security.requires_second_factor_on_web(account.id):
            return False  # already raised; the flag stays until an admin clears it
        await uow.account_security.set_requires_second_factor_on_web(account.id, True, now)
        await uow.account_security.add_alert(
            SecurityAlert(
                occurred_at=now,
                kind=FAILURE_BURST,
                account_id=account.id,
                org_id=account.org_id,
                details={
                    "address": account.address,
                    "failures": failures,
                    "ips": ips,
                    "window_minutes": int(p.burst_window.total_seconds() // 60),
                },
            )
        )
        log.warning(
            "security alert: %d failed logins from %d IPs against %s",
            failures,
            ips,
            account.address,
        )
        return True
