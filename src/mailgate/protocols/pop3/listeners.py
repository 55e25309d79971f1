"""The two POP3 listeners of one Mailgate process: 110-style (STLS) and 995-style (implicit TLS),
started from settings and closed together."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field

from mailgate.protocols.pop3.server import ConnectionCounter, Pop3Listener
from mailgate.protocols.pop3.session import Limits
from mailgate.protocols.smtp import server_tls_context
from mailgate.services.container import Services
from mailgate.settings import Pop3Settings, Settings

log = logging.getLogger(__name__)
HANDSHAKE_TIMEOUT = 30.0


@dataclass(slots=True)
class Pop3Listeners:
    servers: dict[str, asyncio.Server] = field(default_factory=dict)
    listeners: dict[str, Pop3Listener] = field(default_factory=dict)

    def port(self, name: str) -> int:
        """The bound port of "pop3" (STLS) or "pop3s" (implicit TLS)."""
        return int(self.servers[name].sockets[0].getsockname()[1])

    async def quiesce(self) -> None:
        """Wait until the sessions open now have ended."""
        for listener in self.listeners.values():
            await listener.quiesce()

    async def close(self) -> None:
        """Stop accepting, then end the open sessions (none of them enters UPDATE)."""
        for server in self.servers.values():
            server.close()
        for listener in self.listeners.values():
            await listener.close()
        for server in self.servers.values():
            await server.wait_closed()


async def start_pop3(
    services: Services, settings: Settings, tls: ssl.SSLContext | None = None
) -> Pop3Listeners:
    """Bind both listeners (port 0 picks a free one) and return them, serving.

    `tls` defaults to the certificate of the settings.
    """
    s: Pop3Settings = settings.pop3
    tls = tls or server_tls_context(settings.cert_file, settings.key_file)
    counter = ConnectionCounter(s.max_connections_per_ip)
    limits = Limits(max_bad_commands=s.max_bad_commands, max_auth_failures=s.max_auth_failures)
    loop = asyncio.get_running_loop()
    result = Pop3Listeners()
    try:
        for name, port, implicit in (("pop3", s.port, False), ("pop3s", s.tls_port, True)):
            listener = Pop3Listener(
                auth=services.authentication,
                maildrop=services.mailboxes,
                counter=counter,
                tls=tls,
                implicit_tls=implicit,
                limits=limits,
                max_line_length=s.max_line_length,
                idle_timeout=s.idle_timeout,
                allow_plaintext_on_loopback=s.allow_plaintext_on_loopback,
                activate_url=f"{settings.portal_url}/activate",
            )
            result.listeners[name] = listener
            result.servers[name] = await loop.create_server(
                listener.protocol,
                host=s.host,
                port=port,
                ssl=tls if implicit else None,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT if implicit else None,
                reuse_address=True,
            )
    except BaseException:
        await result.close()
        raise
    log.info(
        "POP3 listening on %s: pop3 %d, pop3s %d", s.host, result.port("pop3"), result.port("pop3s")
    )
    return result
