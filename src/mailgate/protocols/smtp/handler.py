"""The SMTP handler: every decision of a session is one call into a service, turned into a reply.

The aiosmtpd server (server.py) parses and calls the hooks below; this module decides, through
the services typed here as Protocols. One handler class serves the three listeners: `mode`
says whether it is the MX (no AUTH, local recipients only) or submission (AUTH required, the
sender must be the user's, remote recipients go to the outbound queue).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from mailgate.domain.directory import Account
from mailgate.domain.ports import Clock
from mailgate.protocols.smtp import wire
from mailgate.services.authentication import AuthDecision, AuthProtocol
from mailgate.services.delivery import RecipientVerdict, Resolution
from mailgate.services.ratelimit import SubmissionLimiter

log = logging.getLogger(__name__)


class Mode(enum.StrEnum):
    MX = "mx"
    SUBMISSION = "submission"


class Delivery(Protocol):
    async def resolve(
        self, recipient: str, sender: str | None, declared_size: int = 0
    ) -> Resolution: ...
    async def deliver(self, mail_from: str, account_ids: list[int], data: bytes) -> int: ...


class Authentication(Protocol):
    async def authenticate(
        self, username: str, password: str, protocol: AuthProtocol | str, client_ip: str
    ) -> AuthDecision: ...
    async def may_send_as(self, account: Account, sender: str) -> bool: ...


class Outbound(Protocol):
    async def enqueue(self, mail_from: str, recipients: list[str], data: bytes) -> None: ...


AuthResultsFn = Callable[[bytes, str, str, str], Awaitable[str]]


@dataclass(slots=True)
class Transaction:
    """What one MAIL ... DATA transaction has collected (kept on the aiosmtpd envelope)."""

    mail_from: str = ""
    declared_size: int = 0
    accounts: set[int] = field(default_factory=set)
    remote: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What the server knows about the connection when it calls a hook."""

    client_ip: str
    helo: str
    esmtp: bool
    tls: bool
    cipher: str | None
    account: Account | None
    utf8: bool


@dataclass(slots=True)
class MailHandler:
    mode: Mode
    hostname: str
    clock: Clock
    delivery: Delivery
    authentication: Authentication
    outbound: Outbound | None
    limiter: SubmissionLimiter
    max_recipients: int
    auth_results: AuthResultsFn | None = None
    activate_url: str = "/activate"  # the portal's first-login page, named in AUTH refusals

    async def authenticate(self, username: str, password: str, client_ip: str) -> AuthDecision:
        return await self.authentication.authenticate(
            username, password, AuthProtocol.SMTP, client_ip
        )

    async def mail(self, facts: SessionFacts, tx: Transaction, address: str) -> str:
        """MAIL FROM: the reply; on 250 `tx` holds the sender."""
        sender = "" if wire.null_sender(address) else address
        if self.mode is Mode.SUBMISSION:
            account = facts.account
            if account is None:
                return wire.AUTH_REQUIRED
            if not sender:
                return wire.NULL_SENDER_REFUSED
            if not await self.authentication.may_send_as(account, sender):
                log.info("send-as refused: %s as %r", account.address_key, sender)
                return wire.SENDER_NOT_OWNED
            if not self.limiter.may_start_message(account.id):
                return wire.RATE_MESSAGES.format(self.limiter.messages_per_hour)
        tx.mail_from = sender
        return "250 2.1.0 Sender OK"

    async def rcpt(self, facts: SessionFacts, tx: Transaction, address: str) -> str:
        """RCPT TO: the reply; on 250 the recipient is added to `tx`."""
        if len(tx.recipients) >= self.max_recipients:
            return wire.TOO_MANY_RECIPIENTS
        submission = self.mode is Mode.SUBMISSION
        if submission and not self.limiter.may_add_recipient(len(tx.recipients)):
            return wire.RATE_RECIPIENTS.format(self.limiter.recipients_per_message)
        found = await self.delivery.resolve(address, tx.mail_from or None, tx.declared_size)
        verdict = found.verdict
        if verdict is RecipientVerdict.REMOTE and not submission:
            return wire.RELAY_DENIED
        if verdict is RecipientVerdict.UNKNOWN:
            return wire.UNKNOWN_USER
        if verdict is RecipientVerdict.DISABLED:
            return wire.MAILBOX_DISABLED
        if verdict is RecipientVerdict.OVER_QUOTA:
            return wire.MAILBOX_FULL
        if verdict is RecipientVerdict.NOT_ALLOWED:
            return wire.GROUP_REFUSED
        if found.remote and self.outbound is None:
            return wire.REMOTE_UNAVAILABLE
        tx.accounts.update(found.account_ids)
        tx.remote.extend(r for r in found.remote if r not in tx.remote)
        tx.recipients.append(address)
        return "250 2.1.5 Recipient OK"

    async def data(self, facts: SessionFacts, tx: Transaction, content: bytes) -> str:
        """End of DATA: store and queue durably, then (and only then) 250."""
        if wire.has_bare_line_ending(content):
            return wire.BARE_LINE_ENDING
        queue_id = wire.new_message_id()
        info = wire.ReceivedInfo(
            helo=facts.helo,
            client_ip=facts.client_ip,
            by_host=self.hostname,
            queue_id=queue_id,
            when=self.clock.now(),
            esmtp=facts.esmtp,
            tls=facts.tls,
            authenticated=facts.account is not None,
            utf8=facts.utf8,
            cipher=facts.cipher,
            recipient=tx.recipients[0] if len(tx.recipients) == 1 else None,
        )
        header = wire.received_header(info)
        if self.mode is Mode.MX and self.auth_results is not None:
            header += await self._auth_results(content, tx, facts)
        message = header + content
        if tx.remote:
            assert self.outbound is not None  # noqa: S101 - checked at RCPT
            await self.outbound.enqueue(tx.mail_from, list(tx.remote), message)
        if tx.accounts:
            await self.delivery.deliver(tx.mail_from, sorted(tx.accounts), message)
        if facts.account is not None:
            self.limiter.record_message(facts.account.id)
        log.info(
            "accepted %s from=%r local=%d remote=%d size=%d ip=%s",
            queue_id,
            tx.mail_from,
            len(tx.accounts),
            len(tx.remote),
            len(message),
            facts.client_ip,
        )
        return wire.OK_QUEUED.format(queue_id)

    async def _auth_results(self, content: bytes, tx: Transaction, facts: SessionFacts) -> bytes:
        """The Authentication-Results field; on failure none (it is informational only)."""
        assert self.auth_results is not None  # noqa: S101 - checked by the caller
        try:
            line = await self.auth_results(content, tx.mail_from, facts.helo, facts.client_ip)
        except Exception:
            log.exception("Authentication-Results failed; delivering without it")
            return b""
        line = line.rstrip("\r\n")
        if not line:
            return b""
        return (line.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n").encode("utf-8")
