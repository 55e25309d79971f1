"""Outbound fixtures: a clock the test moves, loopback SMTP sinks scripted reply by reply, a DNS
resolver over a dictionary, and services wired to deliver remote.test to the sink."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, Envelope, Session
from tests.cli.conftest import initialised, mailgate  # noqa: F401 - CLI fixtures, shared
from tests.conftest import FAST_HASHER

from mailgate.domain.access import Actor
from mailgate.services.container import Services
from mailgate.services.outbound import OutboundConfig, Relay
from mailgate.services.relay import OutboundWorker
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

PW = "a-long-enough-password"


class FakeClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool


@dataclass
class Sink:
    """Answers RCPT and DATA from scripts (a reply per call, then 250), keeps what it got."""

    rcpt_replies: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        assert isinstance(envelope.original_content, bytes)
        self.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                envelope.original_content,
                session.ssl is not None,
            )
        )
        self.arrived.set()
        return "250 2.0.0 queued"


@pytest.fixture(scope="session")
def sink_tls() -> ssl.SSLContext:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("sink.remote.test").configure_cert(ctx)
    return ctx


@pytest.fixture
async def sink(sink_tls: ssl.SSLContext) -> AsyncIterator[Sink]:
    """An SMTP server on 127.0.0.1, an ephemeral port, offering STARTTLS (self-signed)."""
    handler = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.remote.test", tls_context=sink_tls),
        "127.0.0.1",
        0,
    )
    handler.port = server.sockets[0].getsockname()[1]
    yield handler
    server.close()
    await server.wait_closed()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mail(
    database: Database, tmp_path: Path, clock: FakeClock, sink: Sink, closed_port: int
) -> Services:
    """Services on a fake clock; remote.test goes to the sink, dead.test to a closed port."""
    config = OutboundConfig(
        hostname="mx.acme.test",
        transport_map={
            "remote.test": Relay("127.0.0.1", sink.port),
            "dead.test": Relay("127.0.0.1", closed_port),
        },
        timeout=10,
    )
    blobs = FileBlobStore(tmp_path / "blobs")
    return Services.build(
        SqlUnitOfWorkFactory(database), clock, FAST_HASHER, blobs, outbound=config
    )


@pytest.fixture
async def acme(mail: Services, root: Actor) -> Services:
    await mail.organisations.create(root, "acme", "Acme")
    await mail.organisations.add_domain(root, "acme", "acme.test")
    await mail.accounts.create(root, "li.na@acme.test", password=PW, skip_first_login=True)
    return mail


@pytest.fixture
def worker(acme: Services) -> OutboundWorker:
    return acme.outbound_worker(resolver=None)


def message(sender: str = "li.na@acme.test", to: str = "bob@remote.test") -> bytes:
    return (
        f"From: Li Na <{sender}>\r\nTo: <{to}>\r\nSubject: Quarterly report\r\n"
        "Message-ID: <q1@acme.test>\r\nDate: Sat, 28 Nov 2026 09:00:00 +0800\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "\r\nHello Bob,\r\n.leading dot stays\r\n"
    ).encode()
