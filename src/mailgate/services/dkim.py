"""DKIM keys per domain: generated when a domain is added, used to sign outbound mail, and the DNS
records (MX, SPF, DKIM, DMARC) an administrator publishes for the domain."""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailgate.domain.access import Actor, Permission
from mailgate.domain.errors import NotFound
from mailgate.domain.names import DomainName
from mailgate.domain.ports import Clock, UnitOfWorkFactory
from mailgate.domain.queue import DkimKey
from mailgate.services.audit import record

log = logging.getLogger(__name__)
DEFAULT_SELECTOR = "mg2026"
KEY_BITS = 2048
# What a signature covers: the fields a reader sees plus those that change how the body reads.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"in-reply-to",
    b"references",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
)


@dataclass(frozen=True, slots=True)
class DnsRecord:
    type: str
    name: str  # fully qualified, with the trailing dot
    value: str


def _generate(bits: int) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(public).decode("ascii")


def dkim_txt(key: DkimKey) -> str:
    return f"v=DKIM1; k=rsa; p={key.public_b64}"


def sign(data: bytes, key: DkimKey) -> bytes:
    """`data` with a DKIM-Signature field in front (relaxed/relaxed, rsa-sha256)."""
    signature: bytes = dkim.sign(
        data,
        key.selector.encode("ascii"),
        key.domain.encode("ascii"),
        key.private_pem.encode("ascii"),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[h for h in SIGNED_HEADERS if _has_header(data, h)] or [b"from"],
    )
    return signature + data


def _has_header(data: bytes, name: bytes) -> bool:
    end = data.find(b"\r\n\r\n")
    head = (data if end < 0 else data[: end + 2]).lower()
    return head.startswith(name + b":") or (b"\n" + name + b":") in head


@dataclass(slots=True)
class DkimService:
    uow: UnitOfWorkFactory
    clock: Clock
    selector: str = DEFAULT_SELECTOR
    bits: int = KEY_BITS

    async def new_key(self, ascii_domain: str) -> DkimKey:
        """A fresh RSA key for the domain (generated off the event loop; not stored yet)."""
        private, public = await asyncio.to_thread(_generate, self.bits)
        return DkimKey(ascii_domain, self.selector, private, public, self.clock.now())

    async def ensure_key(self, actor: Actor, name: str) -> DkimKey:
        """The domain's signing key, generated (and audited) if the domain has none yet."""
        parsed = DomainName.parse(name)
        async with self.uow() as uow:
            domain = await uow.domains.by_name(parsed.ascii)
            if domain is None or not actor.can(Permission.DIRECTORY_READ, domain.org_id):
                raise NotFound(f"there is no domain {parsed.unicode}")
            key = await uow.dkim.for_domain(parsed.ascii)
            if key is not None:
                return key
            actor.require(Permission.DIRECTORY_WRITE, domain.org_id)
            key = await self.new_key(parsed.ascii)
            await uow.dkim.add(key)
            await record(
                uow,
                self.clock,
                actor,
                "dkim.generate",
                f"domain:{parsed.ascii}",
                domain.org_id,
                {"selector": key.selector},
            )
            await uow.commit()
        return key

    async def records(self, actor: Actor, name: str, mail_host: str) -> list[DnsRecord]:
        """The records to publish for the domain, with `mail_host` as MX and sending host."""
        key = await self.ensure_key(actor, name)
        d = key.domain
        host = mail_host.rstrip(".")
        return [
            DnsRecord("MX", f"{d}.", f"10 {host}."),
            DnsRecord("TXT", f"{d}.", "v=spf1 mx a:" + host + " -all"),
            DnsRecord("TXT", f"{key.selector}._domainkey.{d}.", dkim_txt(key)),
            DnsRecord("TXT", f"_dmarc.{d}.", f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{d}"),
        ]
