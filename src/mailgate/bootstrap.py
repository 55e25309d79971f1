"""The one place that wires settings -> storage -> services -> servers (web, later mail)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import uvicorn

from mailgate.cli.main import build_cli
from mailgate.domain.access import Actor
from mailgate.domain.ports import SmsSender
from mailgate.domain.queue import RetryPolicy
from mailgate.domain.security import ThrottlePolicy
from mailgate.protocols.imap.server import start_imap
from mailgate.protocols.pop3 import start_pop3
from mailgate.protocols.smtp import start_smtp
from mailgate.services.activation import MailClientSetup
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.services.dnsresolver import DnsResolver
from mailgate.services.factors import FactorConfig
from mailgate.services.hashing import Argon2Hasher, CachingHasher
from mailgate.services.outbound import OutboundConfig, Relay, parse_relay
from mailgate.services.sms import FileSmsSender, WebhookSmsSender
from mailgate.settings import Settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database, open_database
from mailgate.storage.migrate import current_revision, head_revision, upgrade
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.tlscert import ensure_self_signed
from mailgate.web.app import create_app


def hasher_for(settings: Settings) -> CachingHasher:
    sec = settings.security
    argon2 = Argon2Hasher(sec.argon2_time_cost, sec.argon2_memory_kib, sec.argon2_parallelism)
    return CachingHasher(argon2, ttl=sec.auth_cache_seconds)


def throttle_policy(settings: Settings) -> ThrottlePolicy:
    t = settings.throttle
    return ThrottlePolicy(
        wait_increment=timedelta(seconds=t.wait_increment_seconds),
        max_wait=timedelta(seconds=t.max_wait_seconds),
        failure_reset_time=timedelta(hours=t.failure_reset_hours),
        pair_free_failures=t.pair_free_failures,
        ip_free_failures=t.ip_free_failures,
        burst_failures=t.burst_failures,
        burst_min_ips=t.burst_min_ips,
        burst_window=timedelta(minutes=t.burst_window_minutes),
    )


def sms_sender(settings: Settings) -> SmsSender | None:
    sec = settings.security
    if sec.sms_provider == "file":
        return FileSmsSender(settings.data_dir / "sms-outbox.jsonl")
    if sec.sms_provider == "webhook" and sec.sms_webhook_url:
        token = sec.sms_webhook_token.get_secret_value() if sec.sms_webhook_token else ""
        return WebhookSmsSender(sec.sms_webhook_url, token)
    return None


def mail_setup(settings: Settings) -> MailClientSetup:
    """What the welcome message and page tell mail programs: the certificate's host name and
    the listeners' ports."""
    return MailClientSetup(
        host=settings.tls.hostname,
        imap_port=settings.imap.port,
        imaps_port=settings.imap.tls_port,
        pop3_port=settings.pop3.port,
        pop3s_port=settings.pop3.tls_port,
        submission_port=settings.smtp.submission_port,
        submissions_port=settings.smtp.submissions_port,
    )


def outbound_config(settings: Settings) -> OutboundConfig:
    o = settings.outbound
    smarthost: Relay | None = None
    if o.smarthost:
        hop = parse_relay(o.smarthost, 587)
        password = o.smarthost_password.get_secret_value() if o.smarthost_password else None
        smarthost = Relay(hop.host, hop.port, o.smarthost_user, password, o.smarthost_require_tls)
    return OutboundConfig(
        hostname=o.hostname or settings.tls.hostname,
        transport_map={d.lower(): parse_relay(t) for d, t in o.transport_map.items()},
        smarthost=smarthost,
        retry=RetryPolicy(
            initial=timedelta(minutes=o.retry_initial_minutes),
            factor=o.retry_factor,
            ceiling=timedelta(minutes=o.retry_max_minutes),
            max_age=timedelta(days=o.max_age_days),
        ),
        concurrency=o.concurrency,
        timeout=o.timeout_seconds,
        poll_interval=o.poll_seconds,
    )


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
                sudo=timedelta(minutes=self.settings.security.sudo_minutes),
                outbound=outbound_config(self.settings),
                dkim_selector=self.settings.outbound.dkim_selector,
                throttle=throttle_policy(self.settings),
                factors=FactorConfig(
                    rp_id=self.settings.webauthn_rp_id,
                    origins=tuple(self.settings.webauthn_origins),
                    secret_key=self.settings.secret_key(),
                ),
                sms=sms_sender(self.settings),
                portal_url=self.settings.portal_url,
                activation_lifetime=timedelta(hours=self.settings.onboarding.activation_hours),
                onboarding_batch=self.settings.onboarding.sweep_batch,
                mail_setup=mail_setup(self.settings),
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
            smtp = await start_smtp(services, s)
            if announce:
                print(
                    f"Mailgate SMTP on {s.smtp.host}: mx {smtp.port('mx')}, "
                    f"submission {smtp.port('submission')}, "
                    f"submissions {smtp.port('submissions')}",
                    flush=True,
                )
            pop3 = await start_pop3(services, s)
            if announce:
                print(
                    f"Mailgate POP3 on {s.pop3.host}: pop3 {pop3.port('pop3')}, "
                    f"pop3s {pop3.port('pop3s')}",
                    flush=True,
                )
            imap = await start_imap(services, s)
            if announce:
                print(
                    f"Mailgate IMAP on {s.imap.host}: imap {imap.port('imap')} (STARTTLS), "
                    f"imaps {imap.port('imaps')}",
                    flush=True,
                )
            worker = services.outbound_worker(DnsResolver()) if s.outbound.enabled else None
            relay = asyncio.create_task(worker.run()) if worker else None
            # Expire overdue applications, remind approvers, route stranded applications.
            sweeps = asyncio.create_task(services.workflow.run_sweeps(s.onboarding.sweep_seconds))
            # Security alerts (failure bursts, "this wasn't me") to the organisations' admins.
            alert_loop = asyncio.create_task(services.alerts.run())
            try:
                await server.serve()
            finally:
                services.alerts.stop()
                await alert_loop
                await services.alerts.drain()
                sweeps.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeps
                await imap.close()
                await smtp.close()
                await pop3.close()
                if worker is not None and relay is not None:
                    worker.stop()
                    await relay


def main() -> None:
    cli = build_cli(Runtime)
    sys.exit(cli())
