"""IMAP listeners on 127.0.0.1 ephemeral ports over the real services, a trustme CA for TLS,
accounts in every state, and a small raw IMAP client on asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from mailgate.domain.access import Actor
from mailgate.domain.directory import AccountAction
from mailgate.protocols.imap.server import ImapListeners, start_imap
from mailgate.services.container import Services
from mailgate.settings import load_settings

PW = "a-long-enough-password"
USER = "li.na@acme.test"
_LITERAL = re.compile(rb"~?\{(\d+)\+?\}$")


@dataclass
class Imap:
    services: Services
    listeners: ImapListeners
    ids: dict[str, int]
    ca: trustme.CA

    @property
    def port(self) -> int:
        return self.listeners.port("imap")

    @property
    def tls_port(self) -> int:
        return self.listeners.port("imaps")

    def client_tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    async def client(self, login: str | None = USER) -> Client:
        c = await Client.connect(self.port)
        if login is not None:
            tagged = await c.ok(f"LOGIN {login} {PW}")
            assert b"OK" in tagged
        return c


async def seed(services: Services, root: Actor) -> dict[str, int]:
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    ids: dict[str, int] = {}
    for local in ("li.na", "wang.wei"):
        acc = await services.accounts.create(
            root, f"{local}@acme.test", password=PW, skip_first_login=True
        )
        ids[local] = acc.id
    small = await services.accounts.create(
        root, "small@acme.test", password=PW, skip_first_login=True, quota=2000
    )
    ids["small"] = small.id
    await services.accounts.create(root, "pending@acme.test", password=PW)
    states = {
        "locked": AccountAction.LOCK,
        "expired": AccountAction.EXPIRE,
        "disabled": AccountAction.DISABLE,
    }
    for local, action in states.items():
        await services.accounts.create(
            root, f"{local}@acme.test", password=PW, skip_first_login=True
        )
        await services.accounts.change_state(root, f"{local}@acme.test", action)
    return ids


def make_settings(tmp_path: Path, **imap: Any) -> Any:
    values: dict[str, Any] = {
        "port": 0,
        "tls_port": 0,
        "allow_plaintext_on_loopback": True,
        "max_line": 8192,
        "max_literal": 2_000_000,
        "max_command": 3_000_000,
        "max_bad_commands": 10,
    }
    values.update(imap)
    return load_settings(environ={}, data_dir=tmp_path / "data", imap=values)


@pytest.fixture
async def imap(services: Services, root: Actor, tmp_path: Path) -> AsyncIterator[Imap]:
    ids = await seed(services, root)
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    listeners = await start_imap(services, make_settings(tmp_path), server_ctx)
    yield Imap(services, listeners, ids, ca)
    await listeners.close()


class Client:
    """A raw IMAP client: send a command, get (untagged responses, tagged line)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.n = 0
        self.greeting = b""

    @classmethod
    async def connect(cls, port: int, tls: ssl.SSLContext | None = None) -> Client:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
        )
        c = cls(reader, writer)
        c.greeting = await c.response()
        return c

    async def response(self) -> bytes:
        """One response, literals included (the CRLF of the last line stripped)."""
        out = b""
        while True:
            line = await self.reader.readuntil(b"\r\n")
            out += line
            m = _LITERAL.search(line[:-2])
            if m is None:
                return out[:-2]
            out += await self.reader.readexactly(int(m.group(1)))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, text: str | bytes, *literals: bytes) -> tuple[list[bytes], bytes]:
        self.n += 1
        tag = b"t%d" % self.n
        raw = text.encode() if isinstance(text, str) else text
        parts = raw.split(b"\x00")  # \0 marks where a literal goes
        await self.send(tag + b" " + parts[0])
        for part, lit in zip(parts[1:], literals, strict=True):
            await self.send(b"{%d}\r\n" % len(lit))
            cont = await self.response()
            assert cont.startswith(b"+"), cont
            await self.send(lit + part)
        await self.send(b"\r\n")
        untagged: list[bytes] = []
        while True:
            line = await self.response()
            if line.startswith(tag + b" "):
                return untagged, line
            untagged.append(line)

    async def ok(self, text: str | bytes, *literals: bytes) -> bytes:
        untagged, tagged = await self.command(text, *literals)
        assert tagged.split(b" ")[1] == b"OK", (tagged, untagged)
        return b"\r\n".join([*untagged, tagged])

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


def message(subject: str = "Hello", body: str = "Hi there.") -> bytes:
    return (
        f"From: Someone <someone@example.org>\r\nTo: {USER}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n\r\n{body}\r\n"
    ).encode()
