"""POP3 over asyncio streams: reading bounded lines, writing replies, STLS and implicit TLS.

The connection loop only moves bytes: `Pop3Session` decides everything. What this module
guards against:
- Unbounded lines: a line longer than `max_line_length` is read and thrown away in chunks,
  then answered "-ERR Line too long" (it counts as a bad command).
- STLS command injection (CVE-2011-0411 and friends): whatever the client sent after STLS
  before the handshake is discarded, both from our line buffer and from the StreamReader.
- Idle clients: after `idle_timeout` seconds without a line the connection is closed without
  entering UPDATE (RFC 1939 section 3 autologout); a client that stops reading our replies
  gets the same time before it is dropped.
- Exceptions: logged with the connection's correlation id; the client gets
  "-ERR [SYS/TEMP] ... reference XXXX" and the connection is closed. No exception text leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from collections import Counter
from collections.abc import Iterable
from typing import SupportsIndex

from mailgate.protocols.pop3 import wire
from mailgate.protocols.pop3.session import (
    After,
    Authenticator,
    Facts,
    Limits,
    Maildrop,
    Pop3Session,
    greeting,
)
from mailgate.protocols.pop3.wire import Code

log = logging.getLogger(__name__)
READ_CHUNK = 1 << 16
STREAM_LIMIT = 1 << 16


class ConnectionCounter:
    """Open connections per client IP, shared by the listeners of one process."""

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


class CountingReader(asyncio.StreamReader):
    """A StreamReader that knows how many received bytes nobody has read yet."""

    def __init__(self, limit: int = STREAM_LIMIT) -> None:
        super().__init__(limit=limit)
        self.pending = 0

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        chunk = bytes(data)  # the protocol passes bytes: no copy
        self.pending += len(chunk)
        super().feed_data(chunk)

    async def read(self, n: int = -1) -> bytes:
        data = await super().read(n)
        self.pending -= len(data)
        return data


class LineReader:
    """CRLF (or LF) terminated lines of at most `limit` octets from a CountingReader."""

    def __init__(self, reader: CountingReader, limit: int) -> None:
        self.reader = reader
        self.limit = limit
        self.buffer = bytearray()
        self._discarding = False

    async def line(self) -> bytes | None:
        """The next line; b"" stands for a line that was too long; None at end of stream."""
        while True:
            nl = self.buffer.find(b"\n")
            if nl >= 0:
                line = bytes(self.buffer[: nl + 1])
                del self.buffer[: nl + 1]
                if self._discarding or len(line) > self.limit:
                    self._discarding = False
                    return b""
                return line
            if len(self.buffer) > self.limit:
                self._discarding = True
                self.buffer.clear()
            chunk = await self.reader.read(READ_CHUNK)
            if not chunk:
                return None
            self.buffer += chunk

    async def discard_pending(self) -> int:
        """Drop everything received but not yet handled; returns how many octets."""
        dropped = len(self.buffer)
        self.buffer.clear()
        pending = self.reader.pending
        if pending:
            dropped += len(await self.reader.readexactly(pending))
            self.reader.pending = 0
        return dropped


class Connection:
    """One client connection: the read-answer loop around a Pop3Session."""

    def __init__(
        self,
        reader: CountingReader,
        writer: asyncio.StreamWriter,
        session: Pop3Session,
        *,
        tls: ssl.SSLContext | None,
        max_line_length: int,
        idle_timeout: float,
    ) -> None:
        self.lines = LineReader(reader, max_line_length)
        self.writer = writer
        self.session = session
        self.tls = tls
        self.idle_timeout = idle_timeout

    @property
    def ref(self) -> str:
        return self.session.facts.ref

    async def _send(self, data: bytes) -> None:
        if data:
            self.writer.write(data)
            async with asyncio.timeout(self.idle_timeout):  # a client that stops reading
                await self.writer.drain()

    async def run(self) -> None:
        await self._send(greeting())
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    line = await self.lines.line()
            except TimeoutError:
                await self._send(wire.err("Autologout: idle for too long"))
                return
            if line is None:
                return
            if line == b"":
                reply = self.session.line_too_long()
            else:
                try:
                    reply = await self.session.receive(line)
                except Exception:
                    log.exception("pop3 ref=%s session error", self.ref)
                    await self._send(
                        wire.err(f"Internal error, reference {self.ref}", Code.SYS_TEMP)
                    )
                    return
            await self._send(reply.data)
            if reply.after is After.CLOSE:
                return
            if reply.after is After.START_TLS and not await self._start_tls():
                return

    async def _start_tls(self) -> bool:
        dropped = await self.lines.discard_pending()
        if dropped:
            log.info("pop3 ref=%s discarded %d octets pipelined after STLS", self.ref, dropped)
        assert self.tls is not None  # noqa: S101 - STLS is only accepted with a context
        try:
            await self.writer.start_tls(self.tls)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.info("pop3 ref=%s STLS handshake failed: %s", self.ref, type(exc).__name__)
            return False
        self.session.tls_started()
        return True


def new_ref() -> str:
    return secrets.token_hex(4).upper()


class Pop3Listener:
    """Accepts connections for one port (plain with STLS, or implicit TLS)."""

    def __init__(
        self,
        *,
        auth: Authenticator,
        maildrop: Maildrop,
        counter: ConnectionCounter,
        tls: ssl.SSLContext | None,
        implicit_tls: bool,
        limits: Limits,
        max_line_length: int,
        idle_timeout: float,
        allow_plaintext_on_loopback: bool,
        activate_url: str = "/activate",
    ) -> None:
        self.auth = auth
        self.maildrop = maildrop
        self.counter = counter
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.limits = limits
        self.max_line_length = max_line_length
        self.idle_timeout = idle_timeout
        self.allow_plaintext_on_loopback = allow_plaintext_on_loopback
        self.activate_url = activate_url  # the portal's first-login page, for refusals
        self.tasks: set[asyncio.Task[None]] = set()

    def protocol(self) -> asyncio.StreamReaderProtocol:
        """Protocol factory for loop.create_server (what asyncio.start_server does, with
        our CountingReader)."""
        reader = CountingReader()
        return asyncio.StreamReaderProtocol(reader, self._client_connected)

    def _client_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert isinstance(reader, CountingReader)  # noqa: S101 - made by protocol()
        task = asyncio.create_task(self._serve(reader, writer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(self, reader: CountingReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        ref = new_ref()
        if not self.counter.acquire(ip):
            log.info("pop3 ref=%s ip=%s refused: too many connections", ref, ip)
            try:
                writer.write(wire.err("Too many connections from your address", Code.SYS_TEMP))
                await writer.drain()
            except OSError:
                pass
            await _close(writer)
            return
        facts = Facts(
            client_ip=ip,
            ref=ref,
            tls=self.implicit_tls,
            tls_available=self.tls is not None and not self.implicit_tls,
            allow_plaintext_on_loopback=self.allow_plaintext_on_loopback,
        )
        session = Pop3Session(
            self.auth, self.maildrop, facts, self.limits, activate_url=self.activate_url
        )
        connection = Connection(
            reader,
            writer,
            session,
            tls=None if self.implicit_tls else self.tls,
            max_line_length=self.max_line_length,
            idle_timeout=self.idle_timeout,
        )
        log.debug("pop3 ref=%s ip=%s connected tls=%s", ref, ip, self.implicit_tls)
        try:
            await connection.run()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError):
            log.info("pop3 ref=%s ip=%s connection lost", ref, ip)
        except Exception:
            log.exception("pop3 ref=%s ip=%s connection error", ref, ip)
        finally:
            self.counter.release(ip)
            await _close(connection.writer)

    async def close(self) -> None:
        """Cancel the open sessions (none enters UPDATE) and wait for them."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def quiesce(self) -> None:
        """Wait until every session open now has ended (for tests and graceful stops)."""
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
