"""One POP3 session: AUTHORIZATION -> TRANSACTION -> UPDATE (RFC 1939), no I/O.

The server feeds it lines; it answers with bytes and what the connection should do next
(carry on, start TLS, close). Every decision is a call into a service through the two
Protocols below: `Authenticator` (services.authentication) and `Maildrop`
(services.mailboxes).

The maildrop is the INBOX as it was at login (`pop3_listing`): numbers, sizes and UIDLs never
change during the session. DELE only marks; the marked messages are removed by UID at QUIT
(UPDATE). A session that ends any other way (dropped connection, idle timeout, too many
errors, server shutdown) removes nothing. There is no exclusive lock: see docs/pop3.md.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mailgate.domain.errors import NotFound
from mailgate.domain.mailbox import Pop3Listing
from mailgate.protocols.pop3 import parser, wire
from mailgate.protocols.pop3.parser import (
    Auth,
    Command,
    Dele,
    Listing,
    ParseError,
    Pass,
    Retr,
    SaslCancel,
    Simple,
    Top,
    User,
    Verb,
)
from mailgate.protocols.pop3.wire import Code
from mailgate.services.authentication import AuthDecision, AuthProtocol, AuthReason

log = logging.getLogger(__name__)
IMPLEMENTATION = "Mailgate"
MECHANISMS = ("PLAIN",)

BAD_CREDENTIALS = "Authentication failed"
_REFUSALS = {
    AuthReason.NOT_ACTIVATED: "Finish activating your account at {activate} before using mail",
    AuthReason.FIRST_LOGIN_PENDING: "Complete your first login at {activate} before using mail",
    AuthReason.PASSWORD_UPDATE_REQUIRED: "A new password is required: sign in at the web "
    "portal to choose one (/account/password)",
    AuthReason.PROTOCOL_NOT_ALLOWED: "This account may not use POP3; ask your administrator",
    AuthReason.EXPIRED: "Your account has expired; ask your administrator to extend it",
    AuthReason.DISABLED: "Your account is disabled; ask your administrator",
    AuthReason.LOCKED: "Your account is locked; ask your administrator to unlock it",
    AuthReason.SUSPENDED: "Your account is suspended; ask your administrator",
    AuthReason.APP_PASSWORD_REQUIRED: "Two-step verification is on: sign in with an app "
    "password, created at the portal page /account/app-passwords",
}


class Authenticator(Protocol):
    async def authenticate(
        self, username: str, password: str, protocol: AuthProtocol | str, client_ip: str
    ) -> AuthDecision: ...


class Maildrop(Protocol):
    async def pop3_listing(self, account_id: int) -> Pop3Listing: ...

    async def pop3_delete(
        self, account_id: int, mailbox_id: int, uids: Sequence[int]
    ) -> list[int]: ...

    async def body(self, blob_id: str) -> bytes: ...


class State(enum.Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"
    UPDATE = "update"  # terminal: QUIT was answered


class After(enum.Enum):
    CONTINUE = "continue"
    START_TLS = "start_tls"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Reply:
    data: bytes
    after: After = After.CONTINUE


@dataclass(frozen=True, slots=True)
class Limits:
    max_bad_commands: int = 20
    max_auth_failures: int = 3


@dataclass(frozen=True, slots=True)
class Facts:
    """What the session knows of its connection."""

    client_ip: str
    ref: str  # correlation id in logs and in internal-error replies
    tls: bool  # implicit TLS, or STLS done
    tls_available: bool  # STLS may be offered
    allow_plaintext_on_loopback: bool = False

    @property
    def loopback(self) -> bool:
        try:
            ip = ipaddress.ip_address(self.client_ip)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_loopback
        return ip.is_loopback

    @property
    def may_authenticate(self) -> bool:
        """RFC 2595 section 2.2: no cleartext passwords before TLS (loopback by setting)."""
        return self.tls or (self.allow_plaintext_on_loopback and self.loopback)


@dataclass(slots=True)
class _Drop:
    account_id: int
    listing: Pop3Listing
    deleted: set[int] = field(default_factory=set)  # 1-based message numbers

    def sizes(self) -> tuple[int, int]:
        live = [m for n, m in enumerate(self.listing.messages, 1) if n not in self.deleted]
        return len(live), sum(size for _, size, _ in live)


def greeting() -> bytes:
    return wire.ok(f"{IMPLEMENTATION} POP3 server ready")


@dataclass(slots=True)
class Pop3Session:
    auth: Authenticator
    maildrop: Maildrop
    facts: Facts
    limits: Limits = field(default_factory=Limits)
    activate_url: str = "/activate"  # the portal's first-login page, named in refusals
    state: State = State.AUTHORIZATION
    _user: str | None = None
    _sasl: str | None = None  # mechanism awaiting the client's response
    _drop: _Drop | None = None
    _bad: int = 0
    _auth_failures: int = 0

    def tls_started(self) -> None:
        """The server finished the STLS handshake: the session starts afresh (RFC 2595)."""
        self.facts = Facts(
            self.facts.client_ip,
            self.facts.ref,
            True,
            self.facts.tls_available,
            self.facts.allow_plaintext_on_loopback,
        )
        self._user = None

    @property
    def in_sasl(self) -> bool:
        return self._sasl is not None

    async def receive(self, line: bytes) -> Reply:
        """One line from the client (a command, or a SASL response) -> the reply."""
        if self.state is State.UPDATE:
            return Reply(b"", After.CLOSE)
        if self._sasl is not None:
            self._sasl = None
            response = parser.parse_sasl_response(line)
            if isinstance(response, SaslCancel):
                return self._bad_command("Authentication cancelled")
            if isinstance(response, ParseError):
                return self._bad_command(response.text)
            return await self._plain(response)
        command = parser.parse_command(line)
        if isinstance(command, ParseError):
            return self._bad_command(command.text)
        return await self._dispatch(command)

    def line_too_long(self) -> Reply:
        return self._bad_command("Line too long")

    def _bad_command(self, text: str) -> Reply:
        self._bad += 1
        if self._bad >= self.limits.max_bad_commands:
            log.info(
                "pop3 ref=%s ip=%s too many bad commands", self.facts.ref, self.facts.client_ip
            )
            return Reply(wire.err("Too many errors, closing connection"), After.CLOSE)
        return Reply(wire.err(text))

    async def _dispatch(self, command: Command) -> Reply:
        if isinstance(command, Simple):
            if command.verb is Verb.CAPA:
                return Reply(self._capa())
            if command.verb is Verb.QUIT:
                return await self._quit()
        if self.state is State.AUTHORIZATION:
            return await self._authorization(command)
        return await self._transaction(command)

    def _capa(self) -> bytes:
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"]
        if self.state is State.AUTHORIZATION:
            if self.facts.tls_available and not self.facts.tls:
                caps.append("STLS")
            if self.facts.may_authenticate:
                caps += ["USER", "SASL " + " ".join(MECHANISMS)]
        caps.append(f"IMPLEMENTATION {IMPLEMENTATION}")
        return wire.multiline(wire.ok("Capability list follows"), caps)

    # --- AUTHORIZATION ------------------------------------------------------------------------

    async def _authorization(self, command: Command) -> Reply:
        match command:
            case Simple(verb=Verb.STLS):
                if self.facts.tls or not self.facts.tls_available:
                    return self._bad_command("TLS is not available here (already active?)")
                return Reply(wire.ok("Begin TLS negotiation"), After.START_TLS)
            case User() | Pass() | Auth() if not self.facts.may_authenticate:
                self._user = None
                return self._bad_command("Use STLS first: no passwords over plain text")
            case User(name=name):
                self._user = name
                return Reply(wire.ok("Send the password"))
            case Pass(password=password):
                user, self._user = self._user, None
                if user is None:
                    return self._bad_command("Send USER first")
                return await self._login(user, password)
            case Auth(mechanism=None):
                return Reply(wire.multiline(wire.ok("Mechanisms follow"), MECHANISMS))
            case Auth(mechanism=mechanism, initial=initial):
                if mechanism not in MECHANISMS:
                    return self._bad_command("Unsupported authentication mechanism")
                if initial is None:
                    self._sasl = mechanism
                    return Reply(wire.continuation())
                return await self._plain(initial)
            case _:  # NOOP included: RFC 1939 has it in TRANSACTION only
                return self._bad_command("Log in first")

    async def _plain(self, message: bytes) -> Reply:
        credentials = parser.decode_plain(message)
        if credentials is None:
            return self._refused(wire.err(BAD_CREDENTIALS, Code.AUTH))
        return await self._login(*credentials)

    async def _login(self, user: str, password: str) -> Reply:
        decision = await self.auth.authenticate(
            user, password, AuthProtocol.POP3, self.facts.client_ip
        )
        if not decision.allowed or decision.account is None:
            text = _REFUSALS.get(decision.reason)
            if text is None:  # unknown user and wrong password: one reply
                return self._refused(wire.err(BAD_CREDENTIALS, Code.AUTH))
            if decision.reason is AuthReason.APP_PASSWORD_REQUIRED:
                return self._refused(wire.err(text, Code.AUTH))
            text = text.replace("{activate}", self.activate_url)
            return self._refused(wire.err(text, Code.SYS_PERM))
        account_id = decision.account.id
        listing = await self.maildrop.pop3_listing(account_id)
        self._drop = _Drop(account_id, listing)
        self.state = State.TRANSACTION
        count, octets = self._drop.sizes()
        log.info(
            "pop3 ref=%s ip=%s login account=%d messages=%d",
            self.facts.ref,
            self.facts.client_ip,
            account_id,
            count,
        )
        return Reply(wire.ok(f"Maildrop has {count} messages ({octets} octets)"))

    def _refused(self, data: bytes) -> Reply:
        self._auth_failures += 1
        if self._auth_failures >= self.limits.max_auth_failures:
            return Reply(data, After.CLOSE)
        return Reply(data)

    # --- TRANSACTION --------------------------------------------------------------------------

    def _message(self, n: int) -> tuple[int, int, str] | ParseError:
        drop = self._drop
        assert drop is not None  # noqa: S101 - TRANSACTION has a maildrop
        if n > len(drop.listing.messages):
            return ParseError("No such message")
        if n in drop.deleted:
            return ParseError(f"Message {n} is deleted")
        return drop.listing.messages[n - 1]

    def _uidl(self, uid: int) -> str:
        assert self._drop is not None  # noqa: S101
        return f"{self._drop.listing.uidvalidity}.{uid}"

    async def _transaction(self, command: Command) -> Reply:
        drop = self._drop
        assert drop is not None  # noqa: S101 - set on entering TRANSACTION
        match command:
            case Simple(verb=Verb.STAT):
                count, octets = drop.sizes()
                return Reply(wire.ok(f"{count} {octets}"))
            case Simple(verb=Verb.NOOP):
                return Reply(wire.ok(""))
            case Simple(verb=Verb.RSET):
                drop.deleted.clear()
                count, octets = drop.sizes()
                return Reply(wire.ok(f"Maildrop has {count} messages ({octets} octets)"))
            case Listing(uidl=uidl, msg=None):
                lines = [
                    f"{n} {self._uidl(uid) if uidl else size}"
                    for n, (uid, size, _) in enumerate(drop.listing.messages, 1)
                    if n not in drop.deleted
                ]
                return Reply(wire.multiline(wire.ok(f"{len(lines)} messages"), lines))
            case Listing(uidl=uidl, msg=int(n)):
                found = self._message(n)
                if isinstance(found, ParseError):
                    return Reply(wire.err(found.text))
                uid, size, _ = found
                return Reply(wire.ok(f"{n} {self._uidl(uid) if uidl else size}"))
            case Retr(msg=n) | Top(msg=n):
                return await self._retrieve(n, command.lines if isinstance(command, Top) else None)
            case Dele(msg=n):
                found = self._message(n)
                if isinstance(found, ParseError):
                    return Reply(wire.err(found.text))
                drop.deleted.add(n)
                return Reply(wire.ok(f"Message {n} deleted"))
            case _:
                return self._bad_command("Not allowed after login")

    async def _retrieve(self, n: int, lines: int | None) -> Reply:
        found = self._message(n)
        if isinstance(found, ParseError):
            return Reply(wire.err(found.text))
        _, size, blob_id = found
        try:
            data = await self.maildrop.body(blob_id)
        except NotFound:
            # Expunged by another session and already collected: the snapshot outlived it.
            return Reply(wire.err("Message was removed by another session"))
        if lines is not None:
            return Reply(wire.message(wire.ok("Top of message follows"), wire.top(data, lines)))
        return Reply(wire.message(wire.ok(f"{size} octets"), data))

    # --- UPDATE -------------------------------------------------------------------------------

    async def _quit(self) -> Reply:
        drop, self._drop = self._drop, None
        in_transaction = self.state is State.TRANSACTION
        self.state = State.UPDATE
        if not in_transaction or drop is None:
            return Reply(wire.ok(f"{IMPLEMENTATION} POP3 server signing off"), After.CLOSE)
        uids = sorted(drop.listing.messages[n - 1][0] for n in drop.deleted)
        removed = await self.maildrop.pop3_delete(drop.account_id, drop.listing.mailbox_id, uids)
        log.info(
            "pop3 ref=%s account=%d quit deleted=%d already_gone=%d",
            self.facts.ref,
            drop.account_id,
            len(removed),
            len(uids) - len(removed),
        )
        return Reply(
            wire.ok(f"{IMPLEMENTATION} POP3 server signing off ({len(uids)} messages deleted)"),
            After.CLOSE,
        )
