"""The state one IMAP connection's command handlers share, and the reply helpers they use.

Handlers (``handlers_*.py``) are ``async def handler(ctx, command) -> bytes``: they write
untagged responses to :attr:`Context.out` and return the tagged completion.  Domain errors
become ``NO`` with a response code here; the error tree's texts are written for users and
carry no internals (domain/errors.py), so they may be shown.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from mailgate.domain.errors import (
    Conflict,
    InvalidInput,
    MailgateError,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    RuleViolation,
)
from mailgate.domain.ports import MailboxSubscription
from mailgate.services.mailboxes import MailboxService

from . import response
from .mailboxcmds import ParserOptions
from .state import Selected

__all__ = ["Context", "Output", "Phase", "SessionEnd", "no_for"]


class Output(Protocol):
    """Where responses go: the server's transport buffer (tests may use a list)."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None:
        """Wait until the peer has taken enough of what was written (flow control)."""
        ...


class Phase(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


class SessionEnd(Exception):
    """End the connection after ``* BYE text`` (selected mailbox deleted, too many errors)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def no_for(tag: str, exc: MailgateError, *, missing: str = "NONEXISTENT") -> bytes:
    """The tagged NO for a domain error (``missing``: TRYCREATE for APPEND/COPY/MOVE)."""
    if isinstance(exc, NotFound):
        return response.tagged(tag, "NO", "No such mailbox", missing)
    if isinstance(exc, QuotaExceeded):
        return response.tagged(tag, "NO", "Quota exceeded: the mailbox is full", "OVERQUOTA")
    if isinstance(exc, Conflict):
        return response.tagged(tag, "NO", "Mailbox already exists", "ALREADYEXISTS")
    if isinstance(exc, PermissionDenied):
        return response.tagged(tag, "NO", "Permission denied", "NOPERM")
    if isinstance(exc, InvalidInput | RuleViolation):
        return response.tagged(tag, "NO", exc.message, "CANNOT")
    return response.tagged(tag, "NO", exc.message)


@dataclass(slots=True)
class Context:
    mailboxes: MailboxService
    out: Output
    client_ip: str = ""
    phase: Phase = Phase.NOT_AUTHENTICATED
    account_id: int = 0
    username: str = ""
    selected: Selected | None = None
    subscription: MailboxSubscription | None = None
    condstore: bool = False
    qresync: bool = False
    utf8: bool = False
    rev2: bool = False
    enabled: set[str] = field(default_factory=set)
    append_limit: int = 0
    stale: bool = False  # just selected: the next sync asks the store even without an event

    @property
    def parser_options(self) -> ParserOptions:
        return ParserOptions(utf8_accept=self.utf8)

    def mailbox_name(self, name: str) -> bytes:
        return response.mailbox(name, utf8=self.utf8)

    def box(self) -> Selected:
        if self.selected is None:  # the session checks the phase before dispatching
            raise RuntimeError("no mailbox selected")
        return self.selected

    def select(self, selected: Selected) -> None:
        self.unselect()
        self.selected = selected
        self.subscription = self.mailboxes.watch(selected.mailbox_id)
        self.phase = Phase.SELECTED
        self.stale = True

    def unselect(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
        self.subscription = None
        self.selected = None
        if self.phase is Phase.SELECTED:
            self.phase = Phase.AUTHENTICATED

    async def sync(self, *, expunge: bool, force: bool = False) -> None:
        """Tell the client what other sessions changed (only when the bus says something did)."""
        box, sub = self.selected, self.subscription
        if box is None or sub is None:
            return
        if not sub.pending() and not force and not self.stale and not (expunge and box.gone):
            return
        self.stale = False
        try:
            changes = await self.mailboxes.changes(
                self.account_id, box.mailbox_id, box.highestmodseq
            )
        except NotFound:
            self.unselect()
            raise SessionEnd("The selected mailbox was deleted") from None
        if changes.uidvalidity != box.uidvalidity:
            self.unselect()
            raise SessionEnd("The selected mailbox was renamed") from None
        data = box.apply(changes, expunge=expunge, qresync=self.qresync, condstore=self.condstore)
        if data:
            self.out.write(data)
