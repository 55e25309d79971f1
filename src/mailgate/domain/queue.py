"""The outbound queue: messages waiting to leave, one state per recipient, and the retry rules.

A queued message is one body (a blob, referenced while the message is queued) and the envelope:
the sender and the remote recipients. Each recipient moves through its own small state machine,
because one remote domain may accept while another defers:

    queued ──attempt──▶ delivered                      (2xx)
       │                bounced                        (5xx, or retries ran out)
       └──────────────▶ deferred ──attempt──▶ ...       (4xx, connection or DNS trouble)

A message is done when every recipient is delivered or bounced; then its blob reference is
released. Pure Python, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

MAX_ERROR_TEXT = 500


class RecipientState(enum.StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"

    @property
    def final(self) -> bool:
        return self in (RecipientState.DELIVERED, RecipientState.BOUNCED)


PENDING_STATES = frozenset({RecipientState.QUEUED, RecipientState.DEFERRED})


@dataclass(slots=True)
class QueueRecipient:
    id: int
    address: str
    domain: str  # A-label form: recipients are grouped by it into one SMTP transaction
    state: RecipientState
    attempts: int
    next_attempt: datetime
    last_error: str  # the remote reply or the failure, for `queue list` and the DSN
    status: str = ""  # the RFC 3463 enhanced status of the last reply, e.g. "5.1.1"


@dataclass(slots=True)
class QueueItem:
    id: int
    mail_from: str  # "" is the null sender: bounces, which are never bounced themselves
    blob_id: str
    size: int
    created_at: datetime
    org_id: int | None  # the sender's organisation, for scope checks; None when not ours
    recipients: list[QueueRecipient] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return all(r.state.final for r in self.recipients)

    @property
    def state(self) -> RecipientState:
        """One state for the message: the least advanced of its recipients."""
        states = {r.state for r in self.recipients}
        for state in (
            RecipientState.QUEUED,
            RecipientState.DEFERRED,
            RecipientState.BOUNCED,
            RecipientState.DELIVERED,
        ):
            if state in states:
                return state
        return RecipientState.DELIVERED

    @property
    def next_attempt(self) -> datetime | None:
        pending = [r.next_attempt for r in self.recipients if r.state in PENDING_STATES]
        return min(pending) if pending else None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off: first retry after `initial`, each wait `factor` times the last,
    never more than `ceiling`; after `max_age` since queueing, the message bounces."""

    initial: timedelta = timedelta(minutes=5)
    factor: float = 2.0
    ceiling: timedelta = timedelta(hours=4)
    max_age: timedelta = timedelta(days=5)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1 for the first failure)."""
        seconds = self.initial.total_seconds() * self.factor ** max(attempts - 1, 0)
        return min(timedelta(seconds=seconds), self.ceiling)

    def expired(self, created_at: datetime, now: datetime) -> bool:
        return now - created_at >= self.max_age


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt did for one recipient."""

    recipient_id: int
    state: RecipientState
    error: str = ""
    status: str = ""


def after_attempt(
    item: QueueItem,
    recipient: QueueRecipient,
    temporary: bool,
    error: str,
    status: str,
    policy: RetryPolicy,
    now: datetime,
) -> Outcome:
    """The recipient's next state after a failed attempt (`temporary`: 4xx or no connection)."""
    error = error[:MAX_ERROR_TEXT]
    if not temporary:
        return Outcome(recipient.id, RecipientState.BOUNCED, error, status or "5.0.0")
    if policy.expired(item.created_at, now):
        return Outcome(
            recipient.id,
            RecipientState.BOUNCED,
            f"gave up after {recipient.attempts + 1} attempts: {error}",
            "4.4.7",  # RFC 3463: delivery time expired
        )
    return Outcome(recipient.id, RecipientState.DEFERRED, error, status or "4.0.0")


@dataclass(frozen=True, slots=True)
class DkimKey:
    """The key outbound mail of a domain is signed with; the public half goes into DNS at
    `selector._domainkey.domain`."""

    domain: str  # A-label form
    selector: str
    private_pem: str
    public_b64: str  # SubjectPublicKeyInfo, base64, the `p=` of the DNS record
    created_at: datetime
