"""POP3 listeners on 127.0.0.1 ephemeral ports over the real services, a trustme CA for TLS,
accounts in every state, and small blocking clients to run in a thread."""

from __future__ import annotations

import asyncio
import poplib
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
from mailgate.domain.mailbox import NewAppend
from mailgate.protocols.pop3 import Pop3Listeners, start_pop3
from mailgate.services.container import Services
from mailgate.settings import Settings, load_settings

PW = "a-long-enough-password"
USER = "li.na@acme.test"
T = TypeVar("T")
LIMITS: dict[str, Any] = {
    "max_connections_per_ip": 8,
    "max_bad_commands": 15,
    "max_auth_failures": 3,
    "idle_timeout": 60,
    "max_line_length": 2048,
}
REFUSED_STATES = {
    "locked": AccountAction.LOCK,
    "suspended": AccountAction.SUSPEND,
    "expired": AccountAction.EXPIRE,
    "disabled": AccountAction.DISABLE,
}

# 8-bit body, lines that start with ".", a line that is only ".", CRLF throughout.
EIGHT_BIT = (
    "From: Wang Wei <wang.wei@acme.test>\r\nTo: li.na@acme.test\r\n"
    "Subject: =?UTF-8?B?5Lit5paH?=\r\nMessage-ID: <m1@acme.test>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    "\r\n你好，世界。\r\n.starts with a dot\r\n..two dots\r\n.\r\nÄÖÜ last line\r\n"
).encode()
PLAIN = (
    b"From: Zhao Min <zhao.min@acme.test>\r\nTo: li.na@acme.test\r\nSubject: Lines\r\n"
    b"Message-ID: <m2@acme.test>\r\n\r\nline 1\r\nline 2\r\nline 3\r\nline 4\r\n"
)
THIRD = b"Subject: third\r\nMessage-ID: <m3@acme.test>\r\n\r\nthird body\r\n"
MESSAGES = [EIGHT_BIT, PLAIN, THIRD]


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


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", common_name="localhost").configure_cert(context)
    return context


@dataclass
class Pop3:
    services: Services
    listeners: Pop3Listeners
    root: Actor
    account_id: int
    client_tls: ssl.SSLContext

    @property
    def port(self) -> int:
        return self.listeners.port("pop3")

    @property
    def tls_port(self) -> int:
        return self.listeners.port("pop3s")

    async def uids(self) -> list[int]:
        listing = await self.services.mailboxes.pop3_listing(self.account_id)
        return [uid for uid, _, _ in listing.messages]


async def seed(services: Services, root: Actor) -> int:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    account = await services.accounts.create(root, USER, password=PW, skip_first_login=True)
    await services.accounts.create(root, "wang.wei@acme.test", password=PW, skip_first_login=True)
    await services.accounts.create(root, "pending@acme.test", password=PW)
    for local, action in REFUSED_STATES.items():
        address = f"{local}@acme.test"
        await services.accounts.create(root, address, password=PW, skip_first_login=True)
        await services.accounts.change_state(root, address, action)
    await services.mailboxes.append(account.id, "INBOX", [NewAppend(m) for m in MESSAGES])
    return account.id


def pop3_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        environ={},
        data_dir=tmp_path / "data",
        pop3={"port": 0, "tls_port": 0, **LIMITS, **overrides},
    )


@pytest.fixture
async def pop3(
    services: Services,
    root: Actor,
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
    tmp_path: Path,
) -> AsyncIterator[Pop3]:
    account_id = await seed(services, root)
    listeners = await start_pop3(services, pop3_settings(tmp_path), server_tls)
    yield Pop3(services, listeners, root, account_id, client_tls)
    await listeners.close()


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client while the server serves on this loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def login(pop3: Pop3, user: str = USER, password: str = PW) -> poplib.POP3:
    """poplib over STLS, logged in with USER/PASS."""
    client = poplib.POP3("127.0.0.1", pop3.port, timeout=20)
    client.stls(pop3.client_tls)
    client.user(user)
    client.pass_(password)
    return client


def error_of(fn: Callable[[], object]) -> str:
    try:
        fn()
    except poplib.error_proto as exc:
        return str(exc.args[0].decode() if isinstance(exc.args[0], bytes) else exc.args[0])
    raise AssertionError("expected -ERR")


class Raw:
    """A byte-exact POP3 client over a plain socket, upgraded with `stls()`."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock: socket.socket = sock
        if context is not None:
            self.sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        self.buf = b""
        self.greeting = self.line()

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def multiline(self) -> bytes:
        """The body of a multi-line response, still byte-stuffed, up to the terminator."""
        while b"\r\n.\r\n" not in b"\r\n" + self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data = b"\r\n" + self.buf
        end = data.index(b"\r\n.\r\n")
        self.buf = data[end + 5 :]
        return data[2 : end + 2]

    def cmd(self, line: str | bytes) -> str:
        self.send(line if isinstance(line, bytes) else line.encode() + b"\r\n")
        return self.line().decode()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def stls(self, context: ssl.SSLContext) -> str:
        reply = self.cmd("STLS")
        assert reply.startswith("+OK"), reply
        assert not self.buf
        self.sock = context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        return reply

    def closed(self) -> bool:
        """Whether the server closed the connection (reads what is left)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self) -> None:
        self.sock.close()


def unstuff(data: bytes) -> bytes:
    return b"".join(
        line[1:] if line.startswith(b".") else line for line in data.splitlines(keepends=True)
    )
