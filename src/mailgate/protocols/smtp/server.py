"""aiosmtpd's SMTP protocol, adapted: TLS awareness, our EHLO, limits, replies and hooks.

What this subclass changes in aiosmtpd 1.4.6, and why:
- Implicit TLS (port 465): aiosmtpd only knows about TLS it started itself (STARTTLS), so on an
  `ssl=` server it refused AUTH and left `session.ssl` unset (aio-libs/aiosmtpd#274, #281; the
  unset `session.ssl` also made asyncio warn at every client EOF). We read the transport's
  `ssl_object` when the connection is made and treat the session as TLS from the start.
- A second STARTTLS inside TLS is refused instead of nesting TLS.
- EHLO advertises exactly what we honour (PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
  ENHANCEDSTATUSCODES, STARTTLS before TLS, AUTH only after it).
- Every reply gets an enhanced status code (wire.with_enhanced_code).
- Exceptions never reach the client: they are logged with a reference that the 451 names.
- Connections per client IP are counted across all listeners; DATA has its own timeout.
- MAIL, RCPT, DATA and AUTH go to the typed MailHandler; aiosmtpd's handler hooks are not used.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import ssl
from collections import Counter
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from mailgate.domain.directory import Account
from mailgate.protocols.smtp import wire
from mailgate.protocols.smtp.handler import MailHandler, Mode, SessionFacts, Transaction
from mailgate.services.authentication import AuthReason

log = logging.getLogger(__name__)
MECHANISMS = ("LOGIN", "PLAIN")
_TLS_EXTRA = ("peercert", "cipher", "compression", "ssl_object", "sslcontext")


class TxEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.tx = Transaction()


class ConnectionCounter:
    """Open connections per client IP, shared by all listeners of a process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()

    def acquire(self, ip: str) -> bool:
        if self.open[ip] >= self.limit:
            return False
        self.open[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self.open[ip] -= 1
        if self.open[ip] <= 0:
            del self.open[ip]


class MailgateSMTP(SMTP):
    def __init__(
        self,
        handler: MailHandler,
        *,
        counter: ConnectionCounter,
        max_message_size: int,
        max_line_length: int,
        command_timeout: float,
        data_timeout: float,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        # Read by aiosmtpd's __init__ (stream limit, method discovery), so set before it runs.
        self.line_length_limit = max_line_length
        self._implicit_tls = False
        super().__init__(
            handler,
            data_size_limit=max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=handler.hostname,
            ident="Mailgate ESMTP",
            tls_context=tls_context,
            require_starttls=tls_context is not None and handler.mode is Mode.SUBMISSION,
            timeout=command_timeout,
            auth_required=False,  # enforced at MAIL by the handler, with our reply
            auth_require_tls=False,  # enforced in smtp_AUTH below, implicit TLS included
        )
        self.mail = handler
        # aiosmtpd looks for handle_* hooks on the handler object; ours are typed methods here.
        self._handle_hooks = {
            "MAIL": self.handle_MAIL,
            "RCPT": self.handle_RCPT,
            "DATA": self.handle_DATA,
        }
        # Per instance (aiosmtpd's is a class attribute): room for SIZE=, BODY= and SMTPUTF8.
        self.command_size_limits = collections.defaultdict(
            lambda: self.command_size_limit, {"MAIL": self.command_size_limit + 26 + 10 + 20}
        )
        self._counter = counter
        self._data_timeout = data_timeout
        self._client_ip = ""
        self._counted = False
        self._greeted = False
        self._raw_replies = False
        self._account: Account | None = None

    # -- connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        restarting_tls = self._original_transport is not None
        super().connection_made(transport)
        if restarting_tls:
            return
        peer = transport.get_extra_info("peername")
        self._client_ip = str(peer[0]) if peer else ""
        self._counted = self._counter.acquire(self._client_ip)
        if transport.get_extra_info("ssl_object") is not None:
            self._implicit_tls = True
            assert self.session is not None  # noqa: S101 - set by super()
            self.session.ssl = {k: transport.get_extra_info(k) for k in _TLS_EXTRA}

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._counter.release(self._client_ip)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if not self._counted:
            self._greeted = True
            await self.push(wire.TOO_MANY_CONNECTIONS)
            assert self.transport is not None  # noqa: S101
            self.transport.close()
            return
        await super()._handle_client()

    @property
    def tls_active(self) -> bool:
        return self._implicit_tls or self._tls_protocol is not None

    def _create_envelope(self) -> Envelope:
        return TxEnvelope()

    def _tx(self) -> Transaction:
        envelope = self.envelope
        assert isinstance(envelope, TxEnvelope)  # noqa: S101 - we create every envelope
        return envelope.tx

    def _facts(self) -> SessionFacts:
        session = self.session
        assert session is not None  # noqa: S101
        cipher = None
        if session.ssl and session.ssl.get("cipher"):
            cipher = str(session.ssl["cipher"][0])
        envelope = self.envelope
        return SessionFacts(
            client_ip=self._client_ip,
            helo=session.host_name or "unknown",
            esmtp=bool(session.extended_smtp),
            tls=self.tls_active,
            cipher=cipher,
            account=self._account,
            utf8=bool(envelope is not None and envelope.smtp_utf8),
        )

    # -- replies -------------------------------------------------------------------------
    async def push(self, status: str | bytes) -> None:
        greeting = not self._greeted  # the first push is the greeting, which takes no code
        self._greeted = True
        if isinstance(status, bytes):
            await super().push(status)
            return
        if not greeting and not self._raw_replies:
            status = wire.with_enhanced_code(status)
        await super().push(status)

    async def handle_exception(self, error: Exception) -> str:
        ref = secrets.token_hex(4).upper()
        log.error("SMTP session error ref=%s ip=%s", ref, self._client_ip, exc_info=error)
        return wire.INTERNAL_ERROR.format(ref)

    # -- commands ------------------------------------------------------------------------
    async def smtp_EHLO(self, hostname: str) -> None:
        if not hostname:
            await self.push("501 5.5.4 Syntax: EHLO hostname")
            return
        self._set_rset_state()  # type: ignore[no-untyped-call]
        assert self.session is not None  # noqa: S101
        self.session.extended_smtp = True
        self.session.host_name = hostname
        offer_auth = self.mail.mode is Mode.SUBMISSION and self.tls_active
        lines = wire.ehlo_lines(
            self.hostname,
            self.data_size_limit or 0,
            starttls=self.tls_context is not None and not self.tls_active,
            auth=offer_auth and not self.session.authenticated,
            mechanisms=MECHANISMS,
        )
        self._raw_replies = True
        try:
            for line in lines:
                await self.push(line)
        finally:
            self._raw_replies = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._raw_replies = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._raw_replies = False

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self.tls_active:
            await self.push(wire.ALREADY_TLS)
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg: str) -> None:
        if self.mail.mode is not Mode.SUBMISSION:
            await self.push('502 5.5.1 Error: command "AUTH" not recognized')
            return
        if not self.tls_active:
            await self.push("538 5.7.11 Encryption required for requested authentication")
            return
        await super().smtp_AUTH(arg)

    async def smtp_DATA(self, arg: str) -> None:
        self._reset_timeout(self._data_timeout)
        try:
            await super().smtp_DATA(arg)
        except Exception:
            # A failed transaction is over: the next MAIL starts afresh.
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            raise

    async def smtp_VRFY(self, arg: str) -> None:
        await self.push("252 2.5.0 Cannot VRFY user; send mail and delivery will be attempted")

    # -- AUTH mechanisms (override aiosmtpd's, which are synchronous at the decision) ---
    async def _decide(self, username: str, password: str) -> AuthResult:
        decision = await self.mail.authenticate(username, password, self._client_ip)
        if decision.reason is AuthReason.APP_PASSWORD_REQUIRED:
            return AuthResult(success=False, handled=False, message=wire.APP_PASSWORD_REQUIRED)
        if decision.reason in (AuthReason.NOT_ACTIVATED, AuthReason.FIRST_LOGIN_PENDING):
            message = wire.NOT_ACTIVATED.format(self.mail.activate_url)
            return AuthResult(success=False, handled=False, message=message)
        if not decision.allowed or decision.account is None:
            return AuthResult(success=False, handled=False)
        self._account = decision.account
        return AuthResult(success=True, auth_data=decision.account.address)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            raw = await self.challenge_auth("")
            if not isinstance(raw, bytes):
                return AuthResult(success=False, handled=True)
        else:
            raw = wire.decode_b64(args[1]) or b""
        credentials = wire.decode_plain(raw)
        if credentials is None:
            return AuthResult(success=False, handled=False)
        return await self._decide(*credentials)

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            user = await self.challenge_auth("Username:")
            if not isinstance(user, bytes):
                return AuthResult(success=False, handled=True)
        else:
            user = wire.decode_b64(args[1]) or b""
        password = await self.challenge_auth("Password:")
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        try:
            return await self._decide(user.decode("utf-8"), password.decode("utf-8"))
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd parses every path with the email package's RFC 5322 header parser, the
        # costliest step of a transaction; the common plain `<local@domain>` needs none of it.
        simple = wire.simple_path(arg)
        if simple is not None and not (
            self.local_part_limit and len(simple[0].rpartition("@")[0]) > self.local_part_limit
        ):
            return simple
        address, rest = super()._getaddr(arg)
        return address, rest

    # -- handler hooks (aiosmtpd calls these on its handler; ours is the server itself) ---
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        tx = self._tx()
        tx.declared_size = wire.declared_size(options)
        status = await self.mail.mail(self._facts(), tx, address)
        if status.startswith("250"):
            envelope.mail_from = address
            envelope.mail_options.extend(options)
        return status

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        status = await self.mail.rcpt(self._facts(), self._tx(), address)
        if status.startswith("250"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
        return status

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        return await self.mail.data(self._facts(), self._tx(), content)
