"""The three SMTP listeners of one Mailgate process: MX, submission (STARTTLS) and submissions
(implicit TLS), started from settings and closed together."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from mailgate.domain.ports import Resolver
from mailgate.protocols.smtp.handler import AuthResultsFn, MailHandler, Mode
from mailgate.protocols.smtp.server import ConnectionCounter, MailgateSMTP
from mailgate.services.authresults import authentication_results
from mailgate.services.container import Services
from mailgate.services.ratelimit import SubmissionLimiter
from mailgate.settings import Settings, SmtpSettings

log = logging.getLogger(__name__)


def server_tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context; clients are not asked for certificates."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def _auth_results(hostname: str, resolver: Resolver | None) -> AuthResultsFn:
    """SPF/DKIM verdicts for the MX's Authentication-Results field (services/authresults.py)."""

    async def results(data: bytes, mail_from: str, helo: str, client_ip: str) -> str:
        return await authentication_results(
            data, mail_from, helo, client_ip, hostname, resolver=resolver
        )

    return results


@dataclass(slots=True)
class SmtpListeners:
    servers: dict[str, asyncio.Server] = field(default_factory=dict)

    def port(self, name: str) -> int:
        sockets = self.servers[name].sockets
        return int(sockets[0].getsockname()[1])

    async def close(self) -> None:
        for server in self.servers.values():
            server.close()
        for server in self.servers.values():
            await server.wait_closed()


async def start_smtp(
    services: Services,
    settings: Settings,
    tls: ssl.SSLContext | None = None,
    resolver: Resolver | None = None,
) -> SmtpListeners:
    """Bind the three listeners (port 0 picks a free one) and return them, serving.

    `tls` defaults to the certificate of the settings, `resolver` (for SPF and DKIM on the
    MX) to the system's DNS.
    """
    s: SmtpSettings = settings.smtp
    tls = tls or server_tls_context(settings.cert_file, settings.key_file)
    hostname = s.hostname or settings.tls.hostname
    clock = services.authentication.clock
    limiter = SubmissionLimiter(
        clock, s.submission_messages_per_hour, s.submission_recipients_per_message
    )
    counter = ConnectionCounter(s.max_connections_per_ip)
    auth_results = _auth_results(hostname, resolver)

    def handler(mode: Mode) -> MailHandler:
        return MailHandler(
            mode=mode,
            hostname=hostname,
            clock=clock,
            delivery=services.delivery,
            authentication=services.authentication,
            outbound=services.outbound,
            limiter=limiter,
            max_recipients=s.max_recipients,
            auth_results=auth_results,
            activate_url=f"{settings.portal_url}/activate",
        )

    def factory(mode: Mode, starttls: ssl.SSLContext | None) -> MailgateSMTP:
        return MailgateSMTP(
            handler(mode),
            counter=counter,
            max_message_size=s.max_message_size,
            max_line_length=s.max_line_length,
            command_timeout=s.command_timeout,
            data_timeout=s.data_timeout,
            tls_context=starttls,
        )

    loop = asyncio.get_running_loop()
    listeners = SmtpListeners()
    plan: list[tuple[str, int, Mode, ssl.SSLContext | None, ssl.SSLContext | None]] = [
        ("mx", s.mx_port, Mode.MX, tls, None),
        ("submission", s.submission_port, Mode.SUBMISSION, tls, None),
        ("submissions", s.submissions_port, Mode.SUBMISSION, None, tls),
    ]
    try:
        for name, port, mode, starttls, implicit in plan:
            listeners.servers[name] = await loop.create_server(
                functools.partial(factory, mode, starttls),
                host=s.host,
                port=port,
                ssl=implicit,
                reuse_address=True,
            )
    except BaseException:
        await listeners.close()
        raise
    log.info(
        "SMTP listening on %s: mx %d, submission %d, submissions %d",
        s.host,
        listeners.port("mx"),
        listeners.port("submission"),
        listeners.port("submissions"),
    )
    return listeners
