"""The IMAP session state machine (RFC 9051 section 3): one per connection, no sockets.

The server feeds it command frames; the session parses them, checks the state, calls the
mail store and authentication services through the handlers, writes responses to its
:class:`~.context.Output` and returns an :class:`Action` for the few things only the server
can do (start TLS, enter IDLE, close).  Untagged updates from other sessions are sent after
each command, never in the middle of one, and EXPUNGE never after FETCH, STORE or SEARCH
(RFC 9051 7.4.1).  Unexpected exceptions are logged with a reference the client sees in
``NO [SERVERBUG]``; their text never reaches the client.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mailgate.services.authentication import AuthenticationService
from mailgate.services.mailboxes import MailboxService

from . import commands as c
from . import (
    handlers_fetch,
    handlers_list,
    handlers_mailbox,
    handlers_search,
    handlers_store,
    response,
)
from .auth import SaslExchange, authenticate, client_id_text, decision_reply, parse_plain
from .context import Context, Output, Phase, SessionEnd
from .framing import CommandFrame, FrameError
from .lexer import ParseError
from .parser import is_done, parse_command, parse_sasl_response

__all__ = ["Action", "Session", "SessionConfig"]

log = logging.getLogger(__name__)

_ALWAYS = (
    "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN "
    "LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE UIDPLUS MOVE CONDSTORE QRESYNC "
    "ESEARCH SORT BINARY MULTIAPPEND UTF8=ACCEPT QUOTA QUOTA=RES-STORAGE STATUS=SIZE"
)
_NO_EXPUNGE = (c.Fetch, c.Store, c.Search, c.Sort)
_ENABLEABLE = frozenset(("CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"))
_SERVER_ID = b'* ID ("name" "Mailgate" "vendor" "Mailgate")\r\n'


class Action(enum.Enum):
    CONTINUE = "continue"
    STARTTLS = "starttls"  # reply written; the server upgrades, then calls tls_started()
    IDLE = "idle"  # "+ idling" written; the server waits for DONE or changes
    CLOSE = "close"  # BYE (and the tagged reply) written; close the connection


@dataclass(frozen=True, slots=True)
class SessionConfig:
    tls_available: bool = True  # STARTTLS may be offered (false on the implicit-TLS port)
    plaintext_ok: bool = False  # loopback with imap.allow_plaintext_on_loopback
    max_bad: int = 20
    append_limit: int = 0
    activate_url: str = "/activate"  # named in refusals of accounts owing their first login


Handler = Callable[[Context, Any], Awaitable[bytes]]

_SELECTED_HANDLERS: dict[type[c.Command], Handler] = {
    c.Fetch: handlers_fetch.fetch,
    c.Store: handlers_store.store,
    c.Copy: handlers_store.copy_or_move,
    c.Move: handlers_store.copy_or_move,
    c.Expunge: handlers_store.expunge,
    c.Close: handlers_store.close,
    c.Unselect: handlers_store.unselect,
    c.Search: handlers_search.search,
    c.Sort: handlers_search.sort,
}
_AUTH_HANDLERS: dict[type[c.Command], Handler] = {
    c.Select: handlers_mailbox.select,
    c.Examine: handlers_mailbox.select,
    c.Create: handlers_mailbox.create,
    c.Delete: handlers_mailbox.delete,
    c.Rename: handlers_mailbox.rename,
    c.Subscribe: handlers_mailbox.subscribe,
    c.Unsubscribe: handlers_mailbox.subscribe,
    c.Status: handlers_mailbox.status,
    c.Append: handlers_mailbox.append,
    c.GetQuota: handlers_mailbox.getquota,
    c.GetQuotaRoot: handlers_mailbox.getquotaroot,
    c.Namespace: handlers_mailbox.namespace,
    c.List: handlers_list.list_,
    c.Lsub: handlers_list.lsub,
}


class Session:
    def __init__(
        self,
        mailboxes: MailboxService,
        authentication: AuthenticationService,
        out: Output,
        client_ip: str,
        config: SessionConfig,
        *,
        tls: bool = False,
    ) -> None:
        self.ctx = Context(mailboxes, out, client_ip, append_limit=config.append_limit)
        self.auth = authentication
        self.config = config
        self.tls = tls
        self.bad_in_a_row = 0
        self.sasl: SaslExchange | None = None
        self.client_id = ""  # what the client said in ID, for the login record
        self.idle_tag: str | None = None

    # --- what the server asks ---------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        return self.ctx.phase

    @property
    def authenticated(self) -> bool:
        return self.ctx.phase in (Phase.AUTHENTICATED, Phase.SELECTED)

    def capabilities(self) -> str:
        caps = _ALWAYS
        if self.authenticated:
            return caps
        if not self.tls and self.config.tls_available:
            caps += " STARTTLS"
        if self.tls or self.config.plaintext_ok:
            return caps + " AUTH=PLAIN AUTH=LOGIN"
        return caps + " LOGINDISABLED"

    def greeting(self) -> bytes:
        return response.status_line(
            "OK", "Mailgate IMAP ready", "CAPABILITY " + self.capabilities()
        )

    @property
    def may_login(self) -> bool:
        return self.tls or self.config.plaintext_ok

    def tls_started(self) -> None:
        self.tls = True

    def close(self) -> None:
        self.ctx.unselect()
        self.ctx.phase = Phase.LOGOUT

    # --- frames -----------------------------------------------------------------------------
    async def on_frame_error(self, err: FrameError) -> Action:
        self.ctx.out.write(response.tagged(err.response_tag, err.status, err.text, err.code))
        return self._count_bad(err.status == "BAD" or err.tag is None)

    def _count_bad(self, bad: bool) -> Action:
        if not bad:
            self.bad_in_a_row = 0
            return Action.CONTINUE
        self.bad_in_a_row += 1
        if self.bad_in_a_row >= self.config.max_bad:
            self.ctx.out.write(response.status_line("BYE", "Too many invalid commands"))
            return Action.CLOSE
        return Action.CONTINUE

    async def on_frame(self, frame: CommandFrame) -> Action:
        if self.sasl is not None:
            return await self._sasl_step(frame)
        if self.idle_tag is not None:
            return await self.end_idle(frame)
        try:
            cmd = parse_command(frame, self.ctx.parser_options)
        except ParseError as exc:
            self.ctx.out.write(response.tagged(exc.tag, exc.status, exc.text, exc.code))
            return self._count_bad(exc.status == "BAD")
        self.bad_in_a_row = 0
        try:
            return await self._run(cmd)
        except SessionEnd as end:
            self.ctx.out.write(response.status_line("BYE", end.text))
            return Action.CLOSE
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("IMAP command %s failed (ref %s)", type(cmd).__name__, ref)
            self.ctx.out.write(
                response.tagged(cmd.tag, "NO", f"Internal error (ref {ref})", "SERVERBUG")
            )
            return Action.CONTINUE

    async def _run(self, cmd: c.Command) -> Action:
        ctx = self.ctx
        tag = cmd.tag
        out = ctx.out
        phase = ctx.phase
        if isinstance(cmd, c.Capability):
            out.write(response.untagged(b"CAPABILITY", self.capabilities()))
            out.write(response.tagged(tag, "OK", "Capability completed"))
        elif isinstance(cmd, c.Noop | c.Check):
            await ctx.sync(expunge=True)
            out.write(response.tagged(tag, "OK", f"{type(cmd).__name__.upper()} completed"))
            return Action.CONTINUE
        elif isinstance(cmd, c.Logout):
            out.write(response.status_line("BYE", "Logging out"))
            out.write(response.tagged(tag, "OK", "Logout completed"))
            self.close()
            return Action.CLOSE
        elif isinstance(cmd, c.Id):
            self.client_id = client_id_text(cmd.parameters)
            out.write(_SERVER_ID)
            out.write(response.tagged(tag, "OK", "ID completed"))
        elif phase is Phase.NOT_AUTHENTICATED:
            return await self._not_authenticated(cmd)
        elif isinstance(cmd, c.StartTLS | c.Login | c.Authenticate):
            out.write(response.tagged(tag, "BAD", "Already authenticated"))
        elif isinstance(cmd, c.Enable):
            self._enable(cmd)
        elif isinstance(cmd, c.Idle):
            await ctx.sync(expunge=True)
            out.write(b"+ idling\r\n")
            self.idle_tag = tag
            return Action.IDLE
        elif isinstance(cmd, c.Compress):
            out.write(response.tagged(tag, "NO", "Compression is not supported", "CANNOT"))
        elif type(cmd) in _AUTH_HANDLERS:
            reply = await _AUTH_HANDLERS[type(cmd)](ctx, cmd)
            if not isinstance(cmd, c.Select):
                await ctx.sync(expunge=True)
            out.write(reply)
        elif type(cmd) in _SELECTED_HANDLERS:
            if phase is not Phase.SELECTED:
                out.write(response.tagged(tag, "BAD", "No mailbox selected"))
                return Action.CONTINUE
            reply = await _SELECTED_HANDLERS[type(cmd)](ctx, cmd)
            await ctx.sync(expunge=not isinstance(cmd, _NO_EXPUNGE))
            out.write(reply)
            return Action.CONTINUE
        else:
            out.write(response.tagged(tag, "BAD", "Command not valid here"))
            return Action.CONTINUE
        return Action.CONTINUE

    # --- not authenticated ------------------------------------------------------------------
    async def _not_authenticated(self, cmd: c.Command) -> Action:
        out = self.ctx.out
        tag = cmd.tag
        if isinstance(cmd, c.StartTLS):
            if self.tls or not self.config.tls_available:
                out.write(response.tagged(tag, "BAD", "TLS is already active"))
                return Action.CONTINUE
            out.write(response.tagged(tag, "OK", "Begin TLS negotiation now"))
            return Action.STARTTLS
        if isinstance(cmd, c.Login):
            if not self.may_login:
                out.write(response.tagged(tag, "NO", "Use STARTTLS first", "PRIVACYREQUIRED"))
                return Action.CONTINUE
            await self._login(tag, cmd.username, cmd.password)
            return Action.CONTINUE
        if isinstance(cmd, c.Authenticate):
            return await self._authenticate(cmd)
        out.write(response.tagged(tag, "BAD", "Log in first"))
        return Action.CONTINUE

    async def _login(self, tag: str, user: str, password: str) -> None:
        decision = await authenticate(self.auth, user, password, self.ctx.client_ip, self.client_id)
        if decision.allowed and decision.account is not None:
            self.ctx.phase = Phase.AUTHENTICATED
            self.ctx.account_id = decision.account.id
            self.ctx.username = user
        self.ctx.out.write(
            decision_reply(tag, decision, self.capabilities(), self.config.activate_url)
        )

    async def _authenticate(self, cmd: c.Authenticate) -> Action:
        out = self.ctx.out
        if not self.may_login:
            out.write(response.tagged(cmd.tag, "NO", "Use STARTTLS first", "PRIVACYREQUIRED"))
            return Action.CONTINUE
        if cmd.mechanism not in ("PLAIN", "LOGIN"):
            out.write(response.tagged(cmd.tag, "NO", "Unsupported mechanism", "CANNOT"))
            return Action.CONTINUE
        exchange = SaslExchange(cmd.tag, cmd.mechanism)
        if cmd.initial_response is not None and cmd.mechanism == "PLAIN":
            creds = parse_plain(cmd.initial_response)
            if creds is None:
                out.write(response.tagged(cmd.tag, "BAD", "Malformed PLAIN response"))
            else:
                await self._login(cmd.tag, *creds)
            return Action.CONTINUE
        if cmd.initial_response is not None:
            challenge, _ = exchange.step(cmd.initial_response)
            out.write(challenge or exchange.first_challenge())
        else:
            out.write(exchange.first_challenge())
        self.sasl = exchange
        return Action.CONTINUE

    async def _sasl_step(self, frame: CommandFrame) -> Action:
        exchange = self.sasl
        assert exchange is not None  # noqa: S101 - checked by the caller
        out = self.ctx.out
        try:
            data = parse_sasl_response(frame)
        except ParseError:
            self.sasl = None
            out.write(response.tagged(exchange.tag, "BAD", "Invalid base64 in SASL response"))
            return self._count_bad(True)
        if data is None:
            self.sasl = None
            out.write(response.tagged(exchange.tag, "BAD", "Authentication cancelled"))
            return Action.CONTINUE
        challenge, creds = exchange.step(data)
        if challenge is not None:
            out.write(challenge)
            return Action.CONTINUE
        self.sasl = None
        if creds is None:
            out.write(response.tagged(exchange.tag, "BAD", "Malformed SASL response"))
            return Action.CONTINUE
        await self._login(exchange.tag, *creds)
        return Action.CONTINUE

    # --- authenticated ----------------------------------------------------------------------
    def _enable(self, cmd: c.Enable) -> None:
        ctx = self.ctx
        done: list[str] = []
        for cap in cmd.capabilities:
            if cap not in _ENABLEABLE or cap in ctx.enabled:
                continue
            ctx.enabled.add(cap)
            done.append(cap)
            if cap == "QRESYNC":
                ctx.qresync = ctx.condstore = True
            elif cap == "CONDSTORE":
                ctx.condstore = True
            elif cap == "UTF8=ACCEPT":
                ctx.utf8 = True
            elif cap == "IMAP4REV2":
                ctx.rev2 = True
        names = " ".join("IMAP4rev2" if d == "IMAP4REV2" else d for d in done)
        ctx.out.write(b"* ENABLED" + (b" " + names.encode() if names else b"") + b"\r\n")
        ctx.out.write(response.tagged(cmd.tag, "OK", "Enable completed"))

    # --- IDLE -------------------------------------------------------------------------------
    async def idle_update(self) -> Action:
        """Changes arrived during IDLE: send them now."""
        try:
            await self.ctx.sync(expunge=True, force=True)
        except SessionEnd as end:
            self.ctx.out.write(response.status_line("BYE", end.text))
            return Action.CLOSE
        return Action.IDLE

    async def end_idle(self, frame: CommandFrame) -> Action:
        tag = self.idle_tag or "*"
        self.idle_tag = None
        if is_done(frame):
            self.ctx.out.write(response.tagged(tag, "OK", "Idle completed"))
            return Action.CONTINUE
        self.ctx.out.write(response.tagged(tag, "BAD", "Expected DONE"))
        return self._count_bad(True)
