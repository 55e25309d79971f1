"""Mail forwarding of one account (issue #5: changed only in sudo mode).

An account may forward its incoming mail to one address: another mailbox here or, when the
organisation's policy allows, an outside address. The target proves it receives mail with a
6-digit code before anything is forwarded (so nobody can point their mail at a stranger, and a
typo does not send mail into the void). `keep_copy` says whether the account's own INBOX keeps
a copy too.

The policy setting `forwarding` (domain.policy) decides where an account may forward:
"none" (nowhere), "internal" (addresses of the organisation's own domains, the default) or
"external" (anywhere).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime


class ForwardingScope(enum.StrEnum):
    NONE = "none"
    INTERNAL = "internal"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class Forwarding:
    account_id: int
    target: str  # the address as normalised by domain.names.Address
    keep_copy: bool
    created_at: datetime
    verified_at: datetime | None = None

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


def may_forward(scope: ForwardingScope | str, internal: bool) -> bool:
    """Whether the policy's `forwarding` value allows a target (`internal`: the target's domain
    belongs to the account's own organisation)."""
    scope = ForwardingScope(scope)
    if scope is ForwardingScope.EXTERNAL:
        return True
    return scope is ForwardingScope.INTERNAL and internal


def target_tag(target: str) -> str:
    """What a one-time code for `target` is bound to (codes store at most 64 characters)."""
    return hashlib.sha256(target.lower().encode()).hexdigest()
