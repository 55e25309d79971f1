"""Thunderbird's autoconfig: `config-v1.1.xml` (clientConfig version 1.1).

Thunderbird (and other programs that read the format: K-9/Thunderbird for Android, Evolution,
KMail) asks, for `li.na@example.com`,

    https://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=li.na@example.com
    https://example.com/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=...

Both paths are served here. The domain is the one of `emailaddress` when the query has it (a
garbled address is a 404, never a guess), otherwise the Host header without its port and without
a leading `autoconfig.`. The answer lists every server (services.clientconfig.mail_servers, the
first of each kind is the default, the others the alternatives Thunderbird offers) with the
user name `%EMAILADDRESS%`, which the program fills in itself, and `password-cleartext` (a plain
password over TLS: every listener asks for TLS before authentication).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi import APIRouter, Request
from starlette.responses import Response

from mailgate.domain.errors import InvalidAddress
from mailgate.domain.names import Address, DomainName
from mailgate.services.clientconfig import (
    ClientConfigService,
    MailServer,
    mail_servers,
    parse_domain,
)
from mailgate.web.wellknown.replies import not_found, xml_reply

CONFIG_FILE = "config-v1.1.xml"
WELL_KNOWN_PATH = f"/.well-known/autoconfig/mail/{CONFIG_FILE}"
AUTOCONFIG_HOST_PATH = f"/mail/{CONFIG_FILE}"  # on autoconfig.DOMAIN
USERNAME = "%EMAILADDRESS%"
AUTHENTICATION = "password-cleartext"
_SUBDOMAIN = "autoconfig."
_MAX_ADDRESS = 320


def address_domain(text: str) -> DomainName | None:
    """The domain of the mail address `text`, or None if it is not one."""
    if not text or len(text) > _MAX_ADDRESS:
        return None
    try:
        return Address.parse(text).domain
    except InvalidAddress:
        return None


def host_domain(host: str) -> DomainName | None:
    """The domain a Host header names: the port and a leading `autoconfig.` taken off; None for
    an IP address or anything that is not a domain name."""
    if host.startswith("["):  # an IPv6 literal
        return None
    name, colon, port = host.rpartition(":")
    if not colon or not port.isdigit():
        name = host
    name = name.strip().lower()
    if name.startswith(_SUBDOMAIN):
        name = name[len(_SUBDOMAIN) :]
    return parse_domain(name)


def client_config_xml(domain: DomainName, servers: tuple[MailServer, ...]) -> ET.Element:
    """The clientConfig document for `domain`."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain.ascii)
    ET.SubElement(provider, "domain").text = domain.ascii
    ET.SubElement(provider, "displayName").text = domain.unicode
    ET.SubElement(provider, "displayShortName").text = domain.unicode
    for server in servers:
        kind = "incomingServer" if server.protocol.incoming else "outgoingServer"
        element = ET.SubElement(provider, kind, type=server.protocol.value)
        ET.SubElement(element, "hostname").text = server.host
        ET.SubElement(element, "port").text = str(server.port)
        ET.SubElement(element, "socketType").text = server.security.value
        ET.SubElement(element, "username").text = USERNAME
        ET.SubElement(element, "authentication").text = AUTHENTICATION
    return root


def autoconfig_router(config: ClientConfigService) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def answer(request: Request) -> Response:
        address = request.query_params.get("emailaddress")
        if address is not None:
            domain = address_domain(address)
        else:
            domain = host_domain(request.headers.get("host", ""))
        if domain is None:
            return not_found()
        setup = await config.for_domain(domain.ascii)
        if setup is None:
            return not_found()
        return xml_reply(client_config_xml(domain, mail_servers(setup)))

    router.add_api_route(WELL_KNOWN_PATH, answer, methods=["GET"])
    router.add_api_route(AUTOCONFIG_HOST_PATH, answer, methods=["GET"])
    return router
