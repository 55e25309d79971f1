"""The one place that wires settings -> storage -> services -> servers (web, later mail)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import uvicorn

from mailgate.cli.main import build_cli
from mailgate.domain.access import Actor
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.services.hashing import Argon2Hasher
from mailgate.settings import Settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database, open_database
from mailgate.storage.migrate import current_revision, head_revision, upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.tlscert import ensure_self_signed
from mailgate.web.app import create_app


def hasher_for(settings: Settings) -> Argon2Hasher:
    sec = settings.security
    return Argon2Hasher(sec.argon2_time_cost, sec.argon2_memory_kib, sec.argon2_parallelism)


@dataclass(slots=True)
class Runtime:
    """What the CLI needs from the wiring; built from settings, nothing global."""

    settings: Settings

    def _prepare_dir(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _open(self) -> Database:
        if self.settings.database.url is None:
            self._prepare_dir()
        return open_database(self.settings.database_url, pool_size=self.settings.database.pool_size)

    @asynccontextmanager
    async def services(self, *, migrate: bool = False) -> AsyncIterator[Services]:
        db = self._open()
        try:
            if migrate:
                await upgrade(db)
            elif await current_revision(db) != head_revision():
                raise SystemExit(
                    "the database schema is not up to date; run 'mailgate db upgrade' "
                    "(or 'mailgate init' for a new data directory)"
                )
            yield Services.build(
                SqlUnitOfWorkFactory(db),
                SystemClock(),
                hasher_for(self.settings),
                FileBlobStore(self.settings.data_dir / "blobs"),
                session_idle=timedelta(minutes=self.settings.web.session_idle_minutes),
                session_absolute=timedelta(hours=self.settings.web.session_absolute_hours),
            )
        finally:
            await db.dispose()

    async def upgrade_db(self) -> str:
        db = self._open()
        try:
            await upgrade(db)
            return head_revision()
        finally:
            await db.dispose()

    def ensure_tls(self) -> bool:
        s = self.settings
        return ensure_self_signed(s.cert_file, s.key_file, s.tls.hostname)

    async def serve(self, actor: Actor, demo: bool, announce: bool = True) -> None:
        s = self.settings
        self.ensure_tls()
        async with self.services(migrate=True) as services:
            if demo and not await services.setup.is_initialised():
                admin, password = await services.setup.seed_demo(actor)
                print(
                    f"Demo organisation created. Platform admin: {admin}\n"
                    f"Password (shown once, write it down): {password}",
                    flush=True,
                )
            app = create_app(services, s)
            config = uvicorn.Config(
                app,
                host=s.web.host,
                port=s.web.port,
                log_level="info",
                proxy_headers=bool(s.web.trusted_proxies),
                forwarded_allow_ips=s.web.trusted_proxies or None,
                server_header=False,
            )
            server = uvicorn.Server(config)
            if announce:
                print(f"Mailgate web on http://{s.web.host}:{s.web.port}/", flush=True)
            await server.serve()


def main() -> None:
    cli = build_cli(Runtime)
    sys.exit(cli())
