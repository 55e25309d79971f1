"""The real DNS resolver (dnspython, asynchronous), implementing `mailgate.domain.ports.Resolver`.

Tests never use it: they pass a resolver over a dictionary, so nothing leaves the machine.
"""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.resolver


class DnsResolver:
    def __init__(self, timeout: float = 5.0) -> None:
        self._resolver = dns.asyncresolver.Resolver()
        self._resolver.lifetime = timeout
        # Answers (NXDOMAIN included) are kept for their TTL: SPF and DKIM checks ask the
        # same few names for every message of a sender.
        self._resolver.cache = dns.resolver.LRUCache(50_000)

    async def _query(self, name: str, rdtype: str) -> list[object]:
        try:
            answer = await self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.LifetimeTimeout as exc:
            raise TimeoutError(f"DNS lookup of {name} {rdtype} timed out") from exc
        except dns.exception.DNSException as exc:
            raise OSError(f"DNS lookup of {name} {rdtype} failed: {exc}") from exc
        return list(answer)

    async def txt(self, name: str) -> list[str]:
        out = []
        for rr in await self._query(name, "TXT"):
            strings: list[bytes] = getattr(rr, "strings", [])
            out.append(b"".join(strings).decode("utf-8", "replace"))
        return out

    async def a(self, name: str) -> list[str]:
        return [str(getattr(rr, "address", "")) for rr in await self._query(name, "A")]

    async def aaaa(self, name: str) -> list[str]:
        return [str(getattr(rr, "address", "")) for rr in await self._query(name, "AAAA")]

    async def mx(self, name: str) -> list[tuple[int, str]]:
        return [
            (int(getattr(rr, "preference", 0)), str(getattr(rr, "exchange", "")).rstrip("."))
            for rr in await self._query(name, "MX")
        ]
