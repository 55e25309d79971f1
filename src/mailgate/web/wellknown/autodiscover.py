"""Outlook's plain-XML ("POX") autodiscover, [MS-OXDSCLI].

Outlook (and other programs speaking the protocol) POSTs, for `li.na@example.com`, to
`https://example.com/autodiscover/autodiscover.xml` or
`https://autodiscover.example.com/autodiscover/autodiscover.xml` (also found through the
`_autodiscover._tcp` SRV record):

    <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
      <Request>
        <EMailAddress>li.na@example.com</EMailAddress>
        <AcceptableResponseSchema>
          http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a
        </AcceptableResponseSchema>
      </Request>
    </Autodiscover>

The answer (`Autodiscover` in the responseschema/2006 namespace, `Response` in
outlook/responseschema/2006a) is one email `Account` with `Action` settings and one `Protocol`
each for IMAP, SMTP and POP3, the implicit-TLS port of each (services.clientconfig: the first of
its kind), `LoginName` the address as sent, SSL on, `Encryption` SSL (TLS for a STARTTLS port),
SPA off, AuthRequired on.

Status codes: a body over 16 KiB is 413; a body that is not DTD-free UTF-8 XML, or XML without
`Autodiscover/Request/EMailAddress`, is 400 (web.wellknown.xmlbody); an address that is not one,
a domain we do not host, or a request for another response schema (e.g. ActiveSync's
mobilesync) is 404. The protocol defines POST only (there is no address without a body), so GET
is a 405 naming POST in `Allow`. Both spellings of the path are served, as clients use both.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi import APIRouter, Request
from starlette.responses import Response

from mailgate.services.clientconfig import (
    ClientConfigService,
    MailProtocol,
    MailServer,
    Security,
    mail_servers,
)
from mailgate.web.wellknown.autoconfig import address_domain
from mailgate.web.wellknown.replies import bad_request, not_found, too_large, use_post, xml_reply
from mailgate.web.wellknown.xmlbody import BodyTooLarge, NotXml, local_name, parse_xml, read_body

PATHS = ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml")
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MAX_BODY = 16 * 1024
_TYPES = {MailProtocol.IMAP: "IMAP", MailProtocol.SMTP: "SMTP", MailProtocol.POP3: "POP3"}
_ENCRYPTION = {Security.SSL: "SSL", Security.STARTTLS: "TLS"}


class NotAutodiscover(Exception):
    """Well-formed XML that is not an autodiscover request."""


def _child(parent: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in parent if local_name(c.tag) == name), None)


def requested(root: ET.Element) -> tuple[str, str | None]:
    """(EMailAddress, AcceptableResponseSchema or None) of a request; any namespace is taken."""
    request = _child(root, "Request") if local_name(root.tag) == "Autodiscover" else None
    address = _child(request, "EMailAddress") if request is not None else None
    if request is None or address is None:
        raise NotAutodiscover("no Autodiscover/Request/EMailAddress")
    schema = _child(request, "AcceptableResponseSchema")
    wanted = (schema.text or "").strip() if schema is not None else ""
    return (address.text or "").strip(), wanted or None


def _protocol(account: ET.Element, server: MailServer, login: str) -> None:
    element = ET.SubElement(account, "Protocol")
    ET.SubElement(element, "Type").text = _TYPES[server.protocol]
    ET.SubElement(element, "Server").text = server.host
    ET.SubElement(element, "Port").text = str(server.port)
    ET.SubElement(element, "DomainRequired").text = "off"
    ET.SubElement(element, "LoginName").text = login
    ET.SubElement(element, "SPA").text = "off"
    ET.SubElement(element, "SSL").text = "on"
    # [MS-OXDSCLI]: when present, Encryption overrides SSL (TLS there means STARTTLS).
    ET.SubElement(element, "Encryption").text = _ENCRYPTION[server.security]
    ET.SubElement(element, "AuthRequired").text = "on"
    if server.protocol is MailProtocol.SMTP:
        ET.SubElement(element, "UsePOPAuth").text = "off"
        ET.SubElement(element, "SMTPLast").text = "off"


def autodiscover_xml(login: str, servers: tuple[MailServer, ...]) -> ET.Element:
    """The response for `login`: the first server of each protocol, IMAP, SMTP, POP3."""
    # The namespaces are plain attributes so the document has default namespaces, as
    # Outlook expects, rather than ElementTree's ns0: prefixes.
    root = ET.Element("Autodiscover", xmlns=RESPONSE_NS)
    response = ET.SubElement(root, "Response", xmlns=OUTLOOK_NS)
    account = ET.SubElement(response, "Account")
    ET.SubElement(account, "AccountType").text = "email"
    ET.SubElement(account, "Action").text = "settings"
    for protocol in (MailProtocol.IMAP, MailProtocol.SMTP, MailProtocol.POP3):
        first = next((s for s in servers if s.protocol is protocol), None)
        if first is not None:
            _protocol(account, first, login)
    return root


def autodiscover_router(config: ClientConfigService) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def answer(request: Request) -> Response:
        try:
            address, schema = requested(parse_xml(await read_body(request, MAX_BODY)))
        except BodyTooLarge:
            return too_large()
        except (NotXml, NotAutodiscover):
            return bad_request()
        if schema is not None and schema != OUTLOOK_NS:
            return not_found()
        domain = address_domain(address)
        setup = await config.for_domain(domain.ascii) if domain is not None else None
        if setup is None:
            return not_found()
        return xml_reply(autodiscover_xml(address, mail_servers(setup)))

    async def get() -> Response:
        return use_post()

    for path in PATHS:
        router.add_api_route(path, answer, methods=["POST"])
        router.add_api_route(path, get, methods=["GET"])
    return router
