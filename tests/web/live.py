"""A real Mailgate web app under uvicorn on an ephemeral loopback port, for the browser tests.

`live_server(tmp_path, seed)` seeds a fresh SQLite data dir with the demo (plus whatever `seed`
adds), serves it in a thread and yields its URL and the demo admin's credentials. The thread
signals when uvicorn has started: no polling, no sleeps.

With `mail_sinks=("home.example", ...)` the same event loop also serves mail (`LiveServer.mail`):
IMAP and SMTP submission on 127.0.0.1 ephemeral ports with a trustme certificate, the outbound
worker, and a small aiosmtpd sink on 127.0.0.1 that is the next hop for those domains; what it
receives is handed to the test through a queue (`LiveMail.wait_for`).
"""

from __future__ import annotations

import asyncio
import queue
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
import uvicorn
from aiosmtpd.smtp import SMTP as SinkSMTP
from aiosmtpd.smtp import Envelope, Session

from mailgate.domain.ports import SmsSender
from mailgate.protocols.imap.server import start_imap
from mailgate.protocols.smtp import start_smtp
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.services.outbound import OutboundConfig, Relay
from mailgate.settings import Settings, load_settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database, open_database
from mailgate.storage.migrate import upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.web.app import create_app

from .conftest import FAST_HASHER

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
Seed = Callable[[Services], Awaitable[None]]


class _Server(uvicorn.Server):
    """uvicorn that signals the test thread once `started` is true."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


@dataclass(frozen=True, slots=True)
class Sunk:
    """One message the sink accepted."""

    rcpt_tos: list[str]
    data: bytes


@dataclass(slots=True)
class LiveMail:
    """The mail side of a live server: ports on 127.0.0.1 and what the sink received."""

    imaps_port: int
    submission_port: int
    client_tls: ssl.SSLContext  # trusts the servers' certificate (127.0.0.1, localhost)
    received: queue.Queue[Sunk] = field(default_factory=queue.Queue)
    seen: list[Sunk] = field(default_factory=list)

    def wait_for(self, match: Callable[[Sunk], bool], timeout: float = 30.0) -> Sunk:
        """The first message (already seen or still to come) that `match` accepts; blocks on
        the sink's queue, raises queue.Empty after `timeout` seconds without one."""
        for sunk in self.seen:
            if match(sunk):
                return sunk
        while True:
            sunk = self.received.get(timeout=timeout)
            self.seen.append(sunk)
            if match(sunk):
                return sunk


class _SinkHandler:
    def __init__(self, received: queue.Queue[Sunk]) -> None:
        self.received = received

    async def handle_DATA(self, server: SinkSMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content
        assert isinstance(data, bytes)
        self.received.put(Sunk(list(envelope.rcpt_tos), data))
        return "250 2.0.0 OK"


@dataclass(slots=True)
class LiveServer:
    url: str
    admin: str
    password: str
    mail: LiveMail | None = None  # with mail_sinks


def _services(db: Database, tmp_path: Path, sms: SmsSender | None = None) -> Services:
    blobs = FileBlobStore(tmp_path / "blobs")
    return Services.build(SqlUnitOfWorkFactory(db), SystemClock(), FAST_HASHER, blobs, sms=sms)


@contextmanager
def live_server(
    tmp_path: Path,
    seed: Seed | None = None,
    sms: SmsSender | None = None,
    mail_sinks: tuple[str, ...] | None = None,
) -> Iterator[LiveServer]:
    """`sms`: the SMS provider of the served app (e.g. a FileSmsSender the test reads);
    `mail_sinks`: serve mail too, relaying these domains to a sink (module docstring)."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'mailgate.db'}"

    async def prepare() -> tuple[str, str]:
        db = open_database(db_url, pool_size=2)
        try:
            await upgrade(db)
            services = _services(db, tmp_path, sms)
            admin = await services.setup.seed_demo()
            if seed is not None:
                await seed(services)
            return admin
        finally:
            await db.dispose()

    admin, password = asyncio.run(prepare())
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        db = open_database(db_url, pool_size=5)
        if mail_sinks is not None:
            try:
                await _serve_with_mail(db, tmp_path, sms, mail_sinks, holder, ready)
            finally:
                await db.dispose()
            return
        app = create_app(_services(db, tmp_path, sms), Settings(data_dir=tmp_path / "data"))
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        server = holder["server"] = _Server(config, ready)
        try:
            await server.serve()
        finally:
            await db.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(timeout=30), "uvicorn did not start"
    server = holder["server"]
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", admin, password, holder.get("mail"))
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def _serve_with_mail(
    db: Database,
    tmp_path: Path,
    sms: SmsSender | None,
    sinks: tuple[str, ...],
    holder: dict[str, Any],
    ready: threading.Event,
) -> None:
    """The app plus IMAP, submission, the outbound worker and the sink, on this loop."""
    received: queue.Queue[Sunk] = queue.Queue()
    loop = asyncio.get_running_loop()
    handler = _SinkHandler(received)
    sink = await loop.create_server(lambda: SinkSMTP(handler, hostname="sink.test"), "127.0.0.1", 0)
    sink_port = sink.sockets[0].getsockname()[1]
    outbound = OutboundConfig(
        transport_map={domain: Relay("127.0.0.1", sink_port) for domain in sinks},
        timeout=10,
        poll_interval=5,
    )
    blobs = FileBlobStore(tmp_path / "blobs")
    services = Services.build(
        SqlUnitOfWorkFactory(db), SystemClock(), FAST_HASHER, blobs, sms=sms, outbound=outbound
    )
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    settings = load_settings(
        environ={},
        data_dir=tmp_path / "data",
        imap={"port": 0, "tls_port": 0},
        smtp={"mx_port": 0, "submission_port": 0, "submissions_port": 0},
    )
    imap = await start_imap(services, settings, server_tls)
    smtp = await start_smtp(services, settings, server_tls)
    worker = services.outbound_worker(resolver=None)
    relay = asyncio.create_task(worker.run())
    holder["mail"] = LiveMail(
        imap.port("imaps"), smtp.port("submission"), client_tls, received=received
    )
    config = uvicorn.Config(
        create_app(services, settings),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
    )
    server = holder["server"] = _Server(config, ready)
    try:
        await server.serve()
    finally:
        worker.stop()
        await relay
        await imap.close()
        await smtp.close()
        sink.close()
        await sink.wait_closed()
