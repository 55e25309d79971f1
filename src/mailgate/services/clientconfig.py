"""Client auto-configuration (R10): what Thunderbird and Outlook are told about our servers.

A new person types name, address and password into a mail program; the program then asks the
web listener for the settings (web.wellknown: Thunderbird's autoconfig, Outlook's autodiscover).
This service decides what the answer is:

- `for_domain` answers only for a domain Mailgate hosts (Unicode or punycode spelling, looked up
  by its A-label); anything else - a foreign domain, a name that is not a domain - is None;
- it never looks at accounts: an existing and an unknown mailbox of a hosted domain get the same
  answer (the user name is the address the program sent), so the endpoints reveal no mailbox;
- `mail_servers` lists the servers in the order clients should try them: IMAP before POP3,
  implicit TLS (the 993/995/465 style) before STARTTLS (143/110/587 style) for each protocol.

Every hosted domain is served by the same listeners: the host is the certificate's host name and
the ports are the listeners' (bootstrap.mail_setup), the same values the welcome message shows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailgate.domain.errors import InvalidDomainName
from mailgate.domain.names import DomainName
from mailgate.domain.ports import UnitOfWorkFactory
from mailgate.services.activation import MailClientSetup

# Longer text is no domain name (253 octets once encoded); refuse it before any parsing work.
_MAX_DOMAIN_TEXT = 1024


class Security(enum.StrEnum):
    """How a connection is protected, named as in Thunderbird's `socketType`."""

    SSL = "SSL"  # implicit TLS from the first byte
    STARTTLS = "STARTTLS"  # plain text, upgraded before authentication


class MailProtocol(enum.StrEnum):
    IMAP = "imap"
    POP3 = "pop3"
    SMTP = "smtp"  # submission: AUTH required

    @property
    def incoming(self) -> bool:
        return self is not MailProtocol.SMTP


@dataclass(frozen=True, slots=True)
class MailServer:
    """One way to reach one protocol: host, port and the TLS mode on that port."""

    protocol: MailProtocol
    host: str
    port: int
    security: Security


def mail_servers(setup: MailClientSetup) -> tuple[MailServer, ...]:
    """Every server of `setup` in the order a client should try them (module docstring)."""
    pairs = setup.ports(tuple(p.value for p in MailProtocol))  # protocol -> (STARTTLS, implicit)
    out: list[MailServer] = []
    for protocol in (MailProtocol.IMAP, MailProtocol.POP3, MailProtocol.SMTP):
        starttls, implicit = pairs[protocol.value]
        out.append(MailServer(protocol, setup.host, implicit, Security.SSL))
        out.append(MailServer(protocol, setup.host, starttls, Security.STARTTLS))
    return tuple(out)


def parse_domain(text: str) -> DomainName | None:
    """`text` as a domain name, or None if it is not one."""
    if not text or len(text) > _MAX_DOMAIN_TEXT:
        return None
    try:
        return DomainName.parse(text)
    except InvalidDomainName:
        return None


@dataclass(slots=True)
class ClientConfigService:
    uow: UnitOfWorkFactory
    setup: MailClientSetup

    async def for_domain(self, domain: str) -> MailClientSetup | None:
        """The settings for mail programs of `domain` if we host it, otherwise None."""
        name = parse_domain(domain)
        if name is None:
            return None
        async with self.uow(write=False) as uow:
            hosted = await uow.domains.by_name(name.ascii)
        return self.setup if hosted is not None else None
