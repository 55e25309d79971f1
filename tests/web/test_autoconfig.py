"""Client auto-configuration over the real app (httpx over ASGI, both databases): Thunderbird's
autoconfig and Outlook's autodiscover (web.wellknown, services.clientconfig) answer for hosted
domains only, the same for every mailbox, refuse DTDs, garbage and oversized bodies; and a real
IMAP, POP3 and SMTP client configured only from the autoconfig document reads and sends mail."""

from __future__ import annotations

import asyncio
import email
import email.policy
import imaplib
import itertools
import poplib
import re
import smtplib
import ssl
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trustme

from mailgate.domain.access import Actor
from mailgate.protocols.imap.server import start_imap
from mailgate.protocols.pop3 import start_pop3
from mailgate.protocols.smtp import start_smtp
from mailgate.services.activation import MailClientSetup
from mailgate.services.clock import SystemClock
from mailgate.services.container import Services
from mailgate.settings import Settings, load_settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.web.app import create_app
from mailgate.web.i18n import LANG_COOKIE
from mailgate.web.wellknown.xmlbody import parse_xml

from .conftest import BASE_URL, FAST_HASHER, PASSWORD

WELL_KNOWN = "/.well-known/autoconfig/mail/config-v1.1.xml"
AUTOCONFIG = "/mail/config-v1.1.xml"
AUTODISCOVER = "/autodiscover/autodiscover.xml"
AUTODISCOVER_PATHS = (AUTODISCOVER, "/Autodiscover/Autodiscover.xml")
RESPONSE_NS = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
OUTLOOK_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
OUTLOOK_SCHEMA = OUTLOOK_NS.strip("{}")
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
USER = "user@a.test"  # has a mailbox
NOBODY = "nobody@a.test"  # has none
IDN = "例子.test"
IDN_ASCII = "xn--fsqu00a.test"
SETUP = MailClientSetup(
    host="mail.corp.test",
    imap_port=143,
    imaps_port=993,
    pop3_port=110,
    pop3s_port=995,
    submission_port=587,
    submissions_port=465,
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def build_services(database: Database, tmp_path: Path, setup: MailClientSetup) -> Services:
    blobs = FileBlobStore(tmp_path / "app-blobs")
    return Services.build(
        SqlUnitOfWorkFactory(database), SystemClock(), FAST_HASHER, blobs, mail_setup=setup
    )


async def seed(services: Services, root: Actor) -> None:
    await services.organisations.create(root, "alpha", "Alpha Corp")
    await services.organisations.add_domain(root, "alpha", "a.test")
    await services.organisations.add_domain(root, "alpha", IDN)
    await services.accounts.create(root, USER, password=PASSWORD, skip_first_login=True)


@pytest.fixture
async def app_services(database: Database, root: Actor, tmp_path: Path) -> AsyncIterator[Services]:
    built = build_services(database, tmp_path, SETUP)
    await seed(built, root)
    yield built
    await built.alerts.drain()


@pytest.fixture
async def client(app_services: Services, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(app_services, Settings(data_dir=tmp_path / "data"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as c:
        yield c


def servers_of(document: bytes) -> list[dict[str, str]]:
    """The servers of a clientConfig in document order: direction, type and the child values."""
    root = parse_xml(document)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None
    out = []
    for element in provider:
        if element.tag in ("incomingServer", "outgoingServer"):
            values = {child.tag: child.text or "" for child in element}
            out.append({"direction": element.tag, "type": element.get("type", ""), **values})
    return out


def is_xml(response: httpx.Response) -> bool:
    return response.headers["content-type"] == "application/xml; charset=utf-8"


def refused(response: httpx.Response, status: int) -> bool:
    """A short plain-text refusal with that status: no page, no stack trace."""
    return (
        response.status_code == status
        and response.headers["content-type"].startswith("text/plain")
        and len(response.text) < 200
        and "Traceback" not in response.text
    )


# --- Thunderbird autoconfig -------------------------------------------------------------------


async def test_autoconfig_lists_the_configured_servers_implicit_tls_first(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(WELL_KNOWN, params={"emailaddress": USER})
    assert response.status_code == 200 and is_xml(response)
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert "set-cookie" not in response.headers
    root = parse_xml(response.content)
    provider = root.find("emailProvider")
    assert provider is not None and provider.get("id") == "a.test"
    assert provider.findtext("domain") == "a.test"
    servers = servers_of(response.content)
    assert [(s["direction"], s["type"], s["port"], s["socketType"]) for s in servers] == [
        ("incomingServer", "imap", "993", "SSL"),
        ("incomingServer", "imap", "143", "STARTTLS"),
        ("incomingServer", "pop3", "995", "SSL"),
        ("incomingServer", "pop3", "110", "STARTTLS"),
        ("outgoingServer", "smtp", "465", "SSL"),
        ("outgoingServer", "smtp", "587", "STARTTLS"),
    ]
    for server in servers:
        assert server["hostname"] == "mail.corp.test"
        assert server["username"] == "%EMAILADDRESS%"
        assert server["authentication"] == "password-cleartext"


async def test_both_url_forms_give_the_same_document(client: httpx.AsyncClient) -> None:
    reference = await client.get(WELL_KNOWN, params={"emailaddress": USER})
    asks = [
        # https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=...
        client.get(f"https://autoconfig.a.test{AUTOCONFIG}", params={"emailaddress": USER}),
        # the domain from the Host header alone (with a port, in capitals)
        client.get(AUTOCONFIG, headers={"Host": "AUTOCONFIG.a.test:8443"}),
        # https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml
        client.get(f"https://a.test{WELL_KNOWN}"),
    ]
    for response in await asyncio.gather(*asks):
        assert response.status_code == 200 and is_xml(response)
        assert response.content == reference.content


NOT_HOSTED: list[tuple[str, dict[str, str]]] = [
    (WELL_KNOWN, {"emailaddress": "someone@elsewhere.test"}),  # a domain we do not host
    (AUTOCONFIG, {"emailaddress": "user@sub.a.test"}),
    (f"https://autoconfig.elsewhere.test{AUTOCONFIG}", {}),
    (WELL_KNOWN, {"emailaddress": "not-an-address"}),  # garbled
    (WELL_KNOWN, {"emailaddress": "user@"}),
    (WELL_KNOWN, {"emailaddress": ""}),
    (WELL_KNOWN, {"emailaddress": "user@a.test\r\nX: y"}),
    (WELL_KNOWN, {"emailaddress": "a" * 5000 + "@a.test"}),
    # an address in the query wins over the Host header, even when it is garbled
    (f"https://autoconfig.a.test{AUTOCONFIG}", {"emailaddress": "garbled"}),
    (WELL_KNOWN, {}),  # Host "testserver": no domain
    ("https://127.0.0.1:8443" + AUTOCONFIG, {}),  # an IP address
    ("https://[::1]:8443" + AUTOCONFIG, {}),
]


async def test_unknown_domains_and_garbled_addresses_are_404(client: httpx.AsyncClient) -> None:
    for url, params in NOT_HOSTED:
        response = await client.get(url, params=params)
        assert refused(response, 404), (url, params, response.text)
        assert "No mail settings" in response.text


IDN_ASKS: list[tuple[str, dict[str, str]]] = [
    (WELL_KNOWN, {"emailaddress": f"张伟@{IDN}"}),
    (WELL_KNOWN, {"emailaddress": f"user@{IDN_ASCII}"}),
    (WELL_KNOWN, {"emailaddress": "user@例子。test"}),  # an ideographic full stop
    (f"https://autoconfig.{IDN_ASCII}{AUTOCONFIG}", {}),  # Host is punycode on the wire
    (f"https://autoconfig.{IDN}{AUTOCONFIG}", {}),  # httpx encodes the Unicode name
]


async def test_an_idn_domain_works_in_unicode_and_punycode(client: httpx.AsyncClient) -> None:
    for url, params in IDN_ASKS:
        response = await client.get(url, params=params)
        assert response.status_code == 200 and is_xml(response), (url, params)
        provider = parse_xml(response.content).find("emailProvider")
        assert provider is not None and provider.get("id") == IDN_ASCII
        assert provider.findtext("domain") == IDN_ASCII
        assert provider.findtext("displayName") == IDN


async def test_an_existing_and_an_unknown_mailbox_get_identical_answers(
    client: httpx.AsyncClient,
) -> None:
    existing = await client.get(WELL_KNOWN, params={"emailaddress": USER})
    unknown = await client.get(WELL_KNOWN, params={"emailaddress": NOBODY})
    assert existing.status_code == unknown.status_code == 200
    assert existing.content == unknown.content
    assert existing.headers == unknown.headers

    answers = [
        await client.post(AUTODISCOVER, content=autodiscover_request(address))
        for address in (USER, NOBODY)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].text.replace(USER, "ADDRESS") == answers[1].text.replace(NOBODY, "ADDRESS")
    assert all(is_xml(a) for a in answers)


# --- Outlook autodiscover ---------------------------------------------------------------------


def autodiscover_request(address: str, namespace: str | None = REQUEST_NS) -> bytes:
    """The POX request Outlook sends, built with ElementTree (namespace None: without one)."""
    root = ET.Element("Autodiscover", {"xmlns": namespace} if namespace else {})
    request = ET.SubElement(root, "Request")
    ET.SubElement(request, "EMailAddress").text = address
    ET.SubElement(request, "AcceptableResponseSchema").text = OUTLOOK_SCHEMA
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def protocols_of(document: bytes) -> list[dict[str, str]]:
    root = parse_xml(document)
    assert root.tag == f"{RESPONSE_NS}Autodiscover"
    response = root.find(f"{OUTLOOK_NS}Response")
    assert response is not None
    account = response.find(f"{OUTLOOK_NS}Account")
    assert account is not None
    assert account.findtext(f"{OUTLOOK_NS}AccountType") == "email"
    assert account.findtext(f"{OUTLOOK_NS}Action") == "settings"
    return [
        {child.tag.removeprefix(OUTLOOK_NS): child.text or "" for child in protocol}
        for protocol in account.findall(f"{OUTLOOK_NS}Protocol")
    ]


async def test_autodiscover_answers_in_the_outlook_schema(client: httpx.AsyncClient) -> None:
    for path, namespace in itertools.product(AUTODISCOVER_PATHS, (REQUEST_NS, None)):
        response = await client.post(
            path,
            content=autodiscover_request(USER, namespace),
            headers={"Content-Type": "text/xml"},
        )
        assert response.status_code == 200 and is_xml(response)
        assert "set-cookie" not in response.headers
        protocols = protocols_of(response.content)
        assert [(p["Type"], p["Port"], p["SSL"], p["Encryption"]) for p in protocols] == [
            ("IMAP", "993", "on", "SSL"),
            ("SMTP", "465", "on", "SSL"),
            ("POP3", "995", "on", "SSL"),
        ]
        for protocol in protocols:
            assert protocol["Server"] == "mail.corp.test"
            assert protocol["LoginName"] == USER
            assert protocol["SPA"] == "off"
            assert protocol["AuthRequired"] == "on"
            assert protocol["DomainRequired"] == "off"


async def test_the_smallest_request_is_enough(client: httpx.AsyncClient) -> None:
    body = (
        b"<Autodiscover><Request><EMailAddress>user@a.test</EMailAddress></Request></Autodiscover>"
    )
    response = await client.post(AUTODISCOVER, content=body)
    assert response.status_code == 200
    assert [p["Type"] for p in protocols_of(response.content)] == ["IMAP", "SMTP", "POP3"]


async def test_autodiscover_for_an_idn_address_names_it_as_sent(
    client: httpx.AsyncClient,
) -> None:
    for address in (f"张伟@{IDN}", f"zhang.wei@{IDN_ASCII}"):
        response = await client.post(AUTODISCOVER, content=autodiscover_request(address))
        assert response.status_code == 200
        assert {p["LoginName"] for p in protocols_of(response.content)} == {address}


async def test_autodiscover_for_foreign_or_garbled_addresses_is_404(
    client: httpx.AsyncClient,
) -> None:
    for address in ("someone@elsewhere.test", "not-an-address", "", "user@", "x" * 400 + "@a.test"):
        response = await client.post(AUTODISCOVER, content=autodiscover_request(address))
        assert refused(response, 404), address


async def test_autodiscover_for_another_response_schema_is_404(
    client: httpx.AsyncClient,
) -> None:
    body = autodiscover_request(USER).replace(
        OUTLOOK_SCHEMA.encode(),
        b"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006",
    )
    assert refused(await client.post(AUTODISCOVER, content=body), 404)


async def test_autodiscover_by_get_is_405_naming_post(client: httpx.AsyncClient) -> None:
    for path in AUTODISCOVER_PATHS:
        response = await client.get(path)
        assert refused(response, 405)
        assert response.headers["allow"] == "POST"


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b"]>\n<Autodiscover><Request><EMailAddress>&lol9;@a.test</EMailAddress></Request>"
    b"</Autodiscover>"
)


DECLARATIONS: list[bytes] = [
    BILLION_LAUGHS,
    # would be a valid request for user@a.test if the entity were expanded
    b'<!DOCTYPE a [<!ENTITY who "user@a.test">]>'
    b"<Autodiscover><Request><EMailAddress>&who;</EMailAddress></Request></Autodiscover>",
    # an external entity (XXE)
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>",
    b'<!doctype Autodiscover SYSTEM "http://127.0.0.1:9/x.dtd"><Autodiscover/>',
    b"<! ENTITY x 'y'><Autodiscover/>",
    # the same declaration in UTF-16 cannot slip past the check
    '<!DOCTYPE a [<!ENTITY who "user@a.test">]><Autodiscover><Request><EMailAddress>&who;'
    "</EMailAddress></Request></Autodiscover>".encode("utf-16"),
]


async def test_a_dtd_or_entity_is_refused_unexpanded(client: httpx.AsyncClient) -> None:
    for body in DECLARATIONS:
        response = await client.post(AUTODISCOVER, content=body)
        assert refused(response, 400), body
        assert "lol" not in response.text and "root:" not in response.text


GARBAGE: list[bytes] = [
    b"",
    b"hello",
    b"\xff\xfe\x00\x00garbage",
    b"<Autodiscover><Request>",  # not well-formed
    b"<Autodiscover><Request><EMailAddress>&who;</EMailAddress></Request></Autodiscover>",
    b"<Autodiscover><Request/></Autodiscover>",  # no address
    b"<Other><Request><EMailAddress>user@a.test</EMailAddress></Request></Other>",
    b'{"EMailAddress": "user@a.test"}',
]


async def test_garbage_is_400(client: httpx.AsyncClient) -> None:
    for body in GARBAGE:
        response = await client.post(AUTODISCOVER, content=body)
        assert refused(response, 400), body


async def test_an_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    padding = b"<!--" + b"x" * (17 * 1024) + b"-->"
    body = autodiscover_request(USER).replace(b"<Request>", b"<Request>" + padding)
    assert refused(await client.post(AUTODISCOVER, content=body), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(40):
            yield b" " * 1024

    assert refused(await client.post(AUTODISCOVER, content=chunks()), 413)
    # just under the limit is still read and answered
    fits = autodiscover_request(USER)
    fits = fits.replace(
        b"<Request>", b"<Request><!--" + b"x" * (16 * 1024 - len(fits) - 7) + b"-->"
    )
    assert len(fits) == 16 * 1024
    assert (await client.post(AUTODISCOVER, content=fits)).status_code == 200


# --- the welcome page -------------------------------------------------------------------------


HINTS = {
    "en": "Thunderbird and Outlook set themselves up from your address",
    "zh_Hans": "Thunderbird 和 Outlook 只需您的邮件地址即可自动完成设置",
    "zh_Hant": "Thunderbird 和 Outlook 只需您的郵件地址即可自動完成設定",
}


async def test_the_welcome_page_says_the_programs_set_themselves_up(
    client: httpx.AsyncClient,
) -> None:
    form = await client.get("/admin/signin")
    token = _CSRF.search(form.text)
    assert token is not None
    signed_in = await client.post(
        "/admin/signin",
        data={"address": USER, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert signed_in.status_code == 303
    for lang, sentence in HINTS.items():
        client.cookies.set(LANG_COOKIE, lang)
        welcome = await client.get("/activate/done")
        assert welcome.status_code == 200
        assert 'id="autoconfig-hint"' in welcome.text and sentence in welcome.text
        assert "<code>mail.corp.test</code>" in welcome.text  # the same settings as autoconfig


# --- end to end: real clients use only what the autoconfig document says ----------------------


def use(server: dict[str, str], address: str, tls: ssl.SSLContext) -> str:
    """Log in to one advertised server exactly as described (host, port, socketType, user)."""
    host, port, user = server["hostname"], int(server["port"]), server["username"]
    user = user.replace("%EMAILADDRESS%", address)
    implicit = server["socketType"] == "SSL"
    assert server["authentication"] == "password-cleartext"
    if server["type"] == "imap":
        imap = (
            imaplib.IMAP4_SSL(host, port, ssl_context=tls, timeout=20)
            if implicit
            else imaplib.IMAP4(host, port, timeout=20)
        )
        if not implicit:
            imap.starttls(ssl_context=tls)
        typ, _ = imap.login(user, PASSWORD)
        imap.logout()
        return str(typ)
    if server["type"] == "pop3":
        pop = (
            poplib.POP3_SSL(host, port, timeout=20, context=tls)
            if implicit
            else poplib.POP3(host, port, timeout=20)
        )
        if not implicit:
            pop.stls(context=tls)
        pop.user(user)
        reply = pop.pass_(PASSWORD).decode()
        pop.quit()
        return reply.split()[0]
    smtp = (
        smtplib.SMTP_SSL(host, port, context=tls, timeout=20)
        if implicit
        else smtplib.SMTP(host, port, timeout=20)
    )
    with smtp:
        if not implicit:
            smtp.starttls(context=tls)
        code, _ = smtp.login(user, PASSWORD)
        return str(code)


def send(server: dict[str, str], address: str, tls: ssl.SSLContext, subject: str) -> None:
    assert server["socketType"] == "SSL"
    user = server["username"].replace("%EMAILADDRESS%", address)
    message = (
        f"From: {address}\r\nTo: {address}\r\nSubject: {subject}\r\n"
        f"Message-ID: <autoconfig-proof@a.test>\r\n\r\nSet up from the autoconfig document.\r\n"
    ).encode()
    with smtplib.SMTP_SSL(server["hostname"], int(server["port"]), context=tls, timeout=20) as c:
        c.login(user, PASSWORD)
        assert c.sendmail(address, [address], message) == {}


def read(server: dict[str, str], address: str, tls: ssl.SSLContext, subject: str) -> str:
    assert server["type"] == "imap" and server["socketType"] == "SSL"
    user = server["username"].replace("%EMAILADDRESS%", address)
    imap = imaplib.IMAP4_SSL(server["hostname"], int(server["port"]), ssl_context=tls, timeout=20)
    try:
        imap.login(user, PASSWORD)
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "SUBJECT", f'"{subject}"')
        numbers = found[0].split()
        assert len(numbers) == 1, found
        _, data = imap.fetch(numbers[0].decode(), "(RFC822)")
        raw = data[0]
        assert isinstance(raw, tuple)
        parsed = email.message_from_bytes(raw[1], policy=email.policy.default)
        return str(parsed["Subject"])
    finally:
        imap.logout()


async def test_a_client_set_up_only_from_autoconfig_reads_and_sends_mail(
    services: Services, database: Database, root: Actor, tmp_path: Path
) -> None:
    await services.organisations.create(root, "alpha", "Alpha Corp")
    await services.organisations.add_domain(root, "alpha", "a.test")
    await services.accounts.create(root, USER, password=PASSWORD, skip_first_login=True)
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    settings = load_settings(
        environ={},
        data_dir=tmp_path / "data",
        imap={"port": 0, "tls_port": 0},
        pop3={"port": 0, "tls_port": 0},
        smtp={"mx_port": 0, "submission_port": 0, "submissions_port": 0},
    )
    imap = await start_imap(services, settings, server_tls)
    pop3 = await start_pop3(services, settings, server_tls)
    smtp = await start_smtp(services, settings, server_tls)
    # The app is built like bootstrap builds it: the listeners' host and ports.
    web = build_services(
        database,
        tmp_path,
        MailClientSetup(
            host="127.0.0.1",
            imap_port=imap.port("imap"),
            imaps_port=imap.port("imaps"),
            pop3_port=pop3.port("pop3"),
            pop3s_port=pop3.port("pop3s"),
            submission_port=smtp.port("submission"),
            submissions_port=smtp.port("submissions"),
        ),
    )
    app = create_app(web, settings)
    try:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            response = await client.get(
                f"https://autoconfig.a.test{AUTOCONFIG}", params={"emailaddress": USER}
            )
        assert response.status_code == 200
        servers = servers_of(response.content)
        assert len(servers) == 6
        # every advertised way in works with the advertised user name
        for server in servers:
            assert await asyncio.to_thread(use, server, USER, client_tls) in ("OK", "+OK", "235")
        # the defaults (first of each direction) carry a message from the user to the user
        outgoing = next(s for s in servers if s["direction"] == "outgoingServer")
        incoming = next(s for s in servers if s["direction"] == "incomingServer")
        subject = "Sent with autoconfig settings"
        await asyncio.to_thread(send, outgoing, USER, client_tls, subject)
        assert await asyncio.to_thread(read, incoming, USER, client_tls, subject) == subject
    finally:
        await web.alerts.drain()
        await imap.close()
        await pop3.close()
        await smtp.close()
