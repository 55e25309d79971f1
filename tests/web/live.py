"""A real Mailgate web app under uvicorn on an ephemeral loopback port, for the browser tests.

`live_server(tmp_path, seed)` seeds a fresh SQLite data dir with the demo (plus whatever `seed`
adds), serves it in a thread and yields its URL and the demo admin's credentials. The thread
signals when uvicorn has started: no polling, no sleeps.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.settings import Settings
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


@dataclass(slots=True)
class LiveServer:
    url: str
    admin: str
    password: str


def _services(db: Database, tmp_path: Path) -> Services:
    blobs = FileBlobStore(tmp_path / "blobs")
    return Services.build(SqlUnitOfWorkFactory(db), SystemClock(), FAST_HASHER, blobs)


@contextmanager
def live_server(tmp_path: Path, seed: Seed | None = None) -> Iterator[LiveServer]:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'mailgate.db'}"

    async def prepare() -> tuple[str, str]:
        db = open_database(db_url, pool_size=2)
        try:
            await upgrade(db)
            services = _services(db, tmp_path)
            admin = await services.setup.seed_demo()
            if seed is not None:
                await seed(services)
            return admin
        finally:
            await db.dispose()

    admin, password = asyncio.run(prepare())
    ready = threading.Event()
    holder: dict[str, _Server] = {}

    async def serve() -> None:
        db = open_database(db_url, pool_size=5)
        app = create_app(_services(db, tmp_path), Settings(data_dir=tmp_path / "data"))
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
        yield LiveServer(f"http://127.0.0.1:{port}", admin, password)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
