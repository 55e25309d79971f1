"""The IMAP listeners: asyncio streams, TLS (STARTTLS on one port, implicit on the other),
IDLE, limits and shutdown.  Everything about IMAP itself is in :mod:`.session`.

Per connection: bytes read go through a :class:`~.framing.FrameReader` (bounded buffers);
each event goes to the session, whose responses are flushed with flow control before the
next event is handled.  In IDLE the connection waits on the socket and on the mailbox's
change subscription at once, so a delivery reaches the client without any polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import ssl
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mailgate.services.container import Services
from mailgate.settings import ImapSettings, Settings

from . import response
from .framing import CommandFrame, FrameError, FrameLimits, FrameReader, NeedContinuation
from .session import Action, Session, SessionConfig

__all__ = ["ImapListeners", "server_tls_context", "start_imap"]

log = logging.getLogger(__name__)
_READ = 64 * 1024


def server_tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class _StreamOutput:
    __slots__ = ("writer",)

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> None:
        if data:
            self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class ImapListeners:
    services: Services
    settings: ImapSettings
    tls: ssl.SSLContext
    servers: dict[str, asyncio.Server] = field(default_factory=dict)
    connections: set[asyncio.StreamWriter] = field(default_factory=set)
    per_ip: Counter[str] = field(default_factory=Counter)
    activate_url: str = "/activate"  # the portal's first-login page, for refusals

    def port(self, name: str) -> int:
        """``"imap"`` (STARTTLS) or ``"imaps"`` (implicit TLS)."""
        return int(self.servers[name].sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, say ``* BYE`` to every client and close their connections."""
        for server in self.servers.values():
            server.close()
        for writer in list(self.connections):
            with contextlib.suppress(Exception):
                writer.write(response.status_line("BYE", "Server shutting down"))
                writer.close()
        for server in self.servers.values():
            await server.wait_closed()

    async def handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, implicit: bool
    ) -> None:
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        s = self.settings
        if self.per_ip[ip] >= s.max_connections_per_ip:
            writer.write(response.status_line("BYE", "Too many connections from your address"))
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            return
        self.per_ip[ip] += 1
        self.connections.add(writer)
        config = SessionConfig(
            tls_available=not implicit,
            plaintext_ok=s.allow_plaintext_on_loopback and _is_loopback(ip),
            max_bad=s.max_bad_commands,
            append_limit=s.max_literal,
            activate_url=self.activate_url,
        )
        mb = self.services.mailboxes
        session = Session(
            mb, self.services.authentication, _StreamOutput(writer), ip, config, tls=implicit
        )
        try:
            await _Connection(self, reader, writer, session).run()
        except (ConnectionError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
            pass
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("IMAP connection from %s failed (ref %s)", ip, ref)
            with contextlib.suppress(Exception):
                writer.write(response.status_line("BYE", f"Internal error (ref {ref})"))
        finally:
            session.close()
            self.connections.discard(writer)
            self.per_ip[ip] -= 1
            if self.per_ip[ip] <= 0:
                del self.per_ip[ip]
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()


class _Connection:
    def __init__(
        self,
        listeners: ImapListeners,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: Session,
    ) -> None:
        s = listeners.settings
        self.listeners = listeners
        self.reader = reader
        self.writer = writer
        self.session = session
        self.limits = FrameLimits(s.max_line, s.max_literal, s.max_command)
        self.frames = FrameReader(self.limits)
        self.idle = False
        self.read_task: asyncio.Task[bytes] | None = None

    def _timeout(self) -> float:
        s = self.listeners.settings
        if self.idle:
            return s.idle_timeout
        return s.autologout if self.session.authenticated else s.login_timeout

    async def run(self) -> None:
        self.writer.write(self.session.greeting())
        try:
            while True:
                await self.writer.drain()
                data = await self._next()
                if data is None:
                    self.writer.write(response.status_line("BYE", "Autologout: idle too long"))
                    await self.writer.drain()
                    return
                if not data:
                    return
                if not await self._process(data):
                    await self.writer.drain()
                    return
        finally:
            if self.read_task is not None:
                self.read_task.cancel()

    async def _next(self) -> bytes | None:
        """The next bytes from the client (b"" at EOF, None on timeout); in IDLE, changes to
        the mailbox are sent while waiting."""
        while True:
            if self.read_task is None:
                self.read_task = asyncio.ensure_future(self.reader.read(_READ))
            waiters: set[asyncio.Future[object]] = {self.read_task}  # type: ignore[arg-type]
            change: asyncio.Task[object] | None = None
            sub = self.session.ctx.subscription
            if self.idle and sub is not None:
                change = asyncio.ensure_future(sub.wait())
                waiters.add(change)  # type: ignore[arg-type]
            try:
                done, _ = await asyncio.wait(
                    waiters, timeout=self._timeout(), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                if change is not None and not change.done():
                    change.cancel()
            if not done:
                return None
            if change is not None and change in done:
                if await self.session.idle_update() is Action.CLOSE:
                    await self.writer.drain()
                    return b""
                await self.writer.drain()
            if self.read_task in done:
                task, self.read_task = self.read_task, None
                return task.result()

    async def _process(self, data: bytes) -> bool:
        """Handle every event in `data`; False when the connection must close."""
        session = self.session
        for event in self.frames.feed(data):
            if isinstance(event, NeedContinuation):
                self.writer.write(b"+ Ready for literal\r\n")
                await self.writer.drain()
                continue
            if isinstance(event, FrameError):
                action = await session.on_frame_error(event)
            else:
                assert isinstance(event, CommandFrame)  # noqa: S101 - the Event union
                action = await session.on_frame(event)
            await self.writer.drain()
            if action is Action.CLOSE:
                return False
            self.idle = action is Action.IDLE
            if action is Action.STARTTLS:
                # Anything pipelined after STARTTLS was sent in clear text: drop it.
                self.frames = FrameReader(self.limits)
                await self.writer.start_tls(self.listeners.tls)
                session.tls_started()
                return True
        return True


async def start_imap(
    services: Services, settings: Settings, tls: ssl.SSLContext | None = None
) -> ImapListeners:
    """Bind the STARTTLS and implicit-TLS listeners (port 0 picks a free one), serving."""
    s = settings.imap
    tls = tls or server_tls_context(settings.cert_file, settings.key_file)
    listeners = ImapListeners(services, s, tls, activate_url=f"{settings.portal_url}/activate")

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await listeners.handle(reader, writer, implicit=False)

    async def implicit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await listeners.handle(reader, writer, implicit=True)

    try:
        listeners.servers["imap"] = await asyncio.start_server(
            plain, s.host, s.port, reuse_address=True, limit=_READ
        )
        listeners.servers["imaps"] = await asyncio.start_server(
            implicit, s.host, s.tls_port, ssl=tls, reuse_address=True, limit=_READ
        )
    except BaseException:
        await listeners.close()
        raise
    log.info(
        "IMAP listening on %s: imap %d, imaps %d",
        s.host,
        listeners.port("imap"),
        listeners.port("imaps"),
    )
    return listeners
