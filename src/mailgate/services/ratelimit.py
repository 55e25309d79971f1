"""Per-account submission limits: messages per hour (sliding window) and recipients per message.

The window lives in this process's memory: a restart forgets it, and several Mailgate nodes
each count their own share. That is enough to stop a leaked password from turning one account
into a spam cannon on one node; a shared counter in PostgreSQL comes with the multi-node setup.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from mailgate.domain.ports import Clock

WINDOW_SECONDS = 3600.0


@dataclass(slots=True)
class SubmissionLimiter:
    clock: Clock
    messages_per_hour: int
    recipients_per_message: int
    _sent: dict[int, deque[float]] = field(default_factory=dict)

    def _window(self, account_id: int) -> deque[float]:
        now = self.clock.now().timestamp()
        sent = self._sent.setdefault(account_id, deque())
        while sent and sent[0] <= now - WINDOW_SECONDS:
            sent.popleft()
        if not sent:
            del self._sent[account_id]
            return deque()
        return sent

    def may_start_message(self, account_id: int) -> bool:
        """False when the account has sent `messages_per_hour` messages in the last hour."""
        return len(self._window(account_id)) < self.messages_per_hour

    def may_add_recipient(self, recipients_so_far: int) -> bool:
        return recipients_so_far < self.recipients_per_message

    def record_message(self, account_id: int) -> None:
        self._window(account_id)
        self._sent.setdefault(account_id, deque()).append(self.clock.now().timestamp())
