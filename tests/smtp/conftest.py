"""SMTP listeners on 127.0.0.1 ephemeral ports over the real services, a trustme CA for TLS,
and a directory with an account in every state."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme

from mailgate.domain.access import Actor
from mailgate.domain.directory import AccountAction
from mailgate.protocols.smtp import SmtpListeners, start_smtp
from mailgate.services.container import Services
from mailgate.settings import Settings, load_settings

PW = "a-long-enough-password"
T = TypeVar("T")
LIMITS = {
    "max_message_size": 200_000,
    "max_recipients": 8,
    "max_connections_per_ip": 12,
    "submission_messages_per_hour": 4,
    "submission_recipients_per_message": 5,
    "command_timeout": 30,
    "data_timeout": 30,
}


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class FakeDns:
    """The Resolver port in memory: SPF for example.org allows 127.0.0.1, nothing else exists."""

    async def txt(self, name: str) -> list[str]:
        return ["v=spf1 ip4:127.0.0.1 -all"] if name == "example.org" else []

    async def a(self, name: str) -> list[str]:
        return []

    async def aaaa(self, name: str) -> list[str]:
        return []

    async def mx(self, name: str) -> list[tuple[int, str]]:
        return []


@dataclass
class Smtp:
    services: Services
    listeners: SmtpListeners
    root: Actor
    settings: Settings

    @property
    def mx(self) -> int:
        return self.listeners.port("mx")

    @property
    def submission(self) -> int:
        return self.listeners.port("submission")

    @property
    def submissions(self) -> int:
        return self.listeners.port("submissions")

    async def inbox(self, address: str, folder: str = "INBOX") -> list[bytes]:
        found, _ = await self.services.mailstore.messages(self.root, address, folder, limit=500)
        return [await self.services.mailstore.read(m.blob_id) for m in found]


async def seed(services: Services, root: Actor) -> None:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    accounts = ["li.na", "wang.wei", "zhao.min", "sender2", "sender3"]
    for local in accounts:
        await services.accounts.create(
            root, f"{local}@acme.test", password=PW, skip_first_login=True
        )
    await services.accounts.create(
        root, "small@acme.test", password=PW, skip_first_login=True, quota=1000
    )
    await services.accounts.create(root, "pending@acme.test", password=PW)
    states = {
        "locked": [AccountAction.LOCK],
        "suspended": [AccountAction.SUSPEND],
        "expired": [AccountAction.EXPIRE],
        "disabled": [AccountAction.DISABLE],
    }
    for local, actions in states.items():
        await services.accounts.create(
            root, f"{local}@acme.test", password=PW, skip_first_login=True
        )
        for action in actions:
            await services.accounts.change_state(root, f"{local}@acme.test", action)
    await services.routes.add_alias(
        root, "team@acme.test", ["li.na@acme.test", "wang.wei@acme.test"]
    )
    await services.routes.create_group(root, "all@acme.test", "All", "anyone")
    for member in ("li.na", "wang.wei", "zhao.min"):
        await services.routes.add_member(root, "all@acme.test", f"{member}@acme.test")
    await services.routes.create_group(root, "board@acme.test", "Board", "members")
    await services.routes.add_member(root, "board@acme.test", "zhao.min@acme.test")


@pytest.fixture
async def smtp(
    services: Services, root: Actor, ca: trustme.CA, tmp_path: Path
) -> AsyncIterator[Smtp]:
    await seed(services, root)
    settings = load_settings(
        environ={},
        data_dir=tmp_path / "data",
        smtp={"mx_port": 0, "submission_port": 0, "submissions_port": 0, **LIMITS},
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    listeners = await start_smtp(services, settings, server_ctx, FakeDns())
    yield Smtp(services, listeners, root, settings)
    await listeners.close()


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client (smtplib, a raw socket, a subprocess) while the server serves."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def message(subject: str = "Hello", body: str = "Hi there.", to: str = "li.na@acme.test") -> bytes:
    return (
        f"From: Someone <someone@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


def submit(
    port: int,
    context: ssl.SSLContext,
    user: str,
    mail_from: str,
    rcpts: list[str],
    data: bytes,
    *,
    implicit: bool = False,
    password: str = PW,
) -> dict[str, tuple[int, bytes]]:
    """Send through submission (STARTTLS) or submissions (implicit TLS) with AUTH."""
    client: smtplib.SMTP
    if implicit:
        client = smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=20)
    else:
        client = smtplib.SMTP("127.0.0.1", port, timeout=20)
        client.starttls(context=context)
    with client:
        client.login(user, password)
        return client.sendmail(mail_from, rcpts, data)


class Raw:
    """A plain TCP SMTP client for byte-exact conversations."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""
        self.greeting = self.reply()

    def reply(self) -> str:
        """One complete (possibly multi-line) reply."""
        lines: list[str] = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed: " + "|".join(lines))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def cmd(self, line: str | bytes) -> str:
        self.send(line if isinstance(line, bytes) else line.encode() + b"\r\n")
        return self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()
