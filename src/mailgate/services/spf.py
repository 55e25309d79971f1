"""A small SPF evaluator (RFC 7208 `check_host`) over an injectable asynchronous resolver.

Covers the mechanisms in use today: all, include, a, mx, ptr (never matches; deprecated), ip4,
ip6, exists, and the redirect modifier, with the macros of section 7 for `exists`/`include`
targets. Limits of section 4.6.4: 10 DNS-querying terms, 10 MX names per `mx`, 2 void lookups.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field

from mailgate.domain.ports import Resolver

MAX_LOOKUPS = 10
MAX_VOID = 2
MAX_MX = 10
_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MACRO = re.compile(r"%\{([slodiphcrtv])(\d*)(r?)([.\-+,/_=]*)\}|%%|%_|%-", re.IGNORECASE)


class SpfResult(enum.StrEnum):
    NONE = "none"
    NEUTRAL = "neutral"
    PASS = "pass"  # noqa: S105 - an SPF result, not a password
    FAIL = "fail"
    SOFTFAIL = "softfail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class _PermError(Exception):
    pass


class _TempError(Exception):
    pass


@dataclass(slots=True)
class _State:
    resolver: Resolver
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    lookups: int = 0
    void: int = 0
    seen: set[str] = field(default_factory=set)

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise _PermError("more than 10 DNS lookups")

    async def query(self, kind: str, name: str) -> list[str]:
        fn = {"txt": self.resolver.txt, "a": self.resolver.a, "aaaa": self.resolver.aaaa}[kind]
        try:
            found = await fn(name)
        except OSError as exc:
            raise _TempError(str(exc)) from exc
        self._void(found)
        return found

    async def mx(self, name: str) -> list[str]:
        try:
            found = await self.resolver.mx(name)
        except OSError as exc:
            raise _TempError(str(exc)) from exc
        self._void(found)
        if len(found) > MAX_MX:
            raise _PermError("more than 10 MX names")
        return [host for _, host in found]

    def _void(self, found: list[object] | list[str] | list[tuple[int, str]]) -> None:
        if not found:
            self.void += 1
            if self.void > MAX_VOID:
                raise _PermError("more than 2 void lookups")


def _expand(text: str, st: _State, domain: str) -> str:
    local, _, sender_domain = st.sender.rpartition("@")

    def one(m: re.Match[str]) -> str:
        literal = {"%%": "%", "%_": " ", "%-": "%20"}.get(m.group(0))
        if literal is not None:
            return literal
        letter, digits, reverse, delims = (m.group(i) for i in range(1, 5))
        values = {
            "s": st.sender,
            "l": local or "postmaster",
            "o": sender_domain,
            "d": domain,
            "i": _ip_macro(st.ip),
            "h": st.helo,
            "v": "in-addr" if st.ip.version == 4 else "ip6",
            "p": "unknown",
        }
        value = values.get(letter.lower(), "")
        parts = re.split("[" + re.escape(delims or ".") + "]", value)
        if reverse:
            parts.reverse()
        if digits:
            parts = parts[-int(digits) :] if int(digits) else parts
        return ".".join(parts)

    return _MACRO.sub(one, text)


def _ip_macro(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def _split_cidr(spec: str) -> tuple[str, int | None, int | None]:
    """'domain/24//64' -> ('domain', 24, 64)."""
    v6: int | None = None
    if "//" in spec:
        spec, _, six = spec.partition("//")
        v6 = int(six) if six.isdigit() and int(six) <= 128 else _bad(f"bad cidr {six}")
    v4: int | None = None
    if "/" in spec:
        spec, _, four = spec.partition("/")
        v4 = int(four) if four.isdigit() and int(four) <= 32 else _bad(f"bad cidr {four}")
    return spec, v4, v6


def _bad(message: str) -> int:
    raise _PermError(message)


def _in(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, addr: str, v4: int | None, v6: int | None
) -> bool:
    try:
        prefix = v4 if ip.version == 4 else v6
        net = ipaddress.ip_network(
            f"{addr}/{prefix if prefix is not None else ip.max_prefixlen}", strict=False
        )
    except ValueError:
        return False
    return net.version == ip.version and ip in net


async def _record(st: _State, domain: str) -> list[str] | None:
    records = [
        r
        for r in await st.query("txt", domain)
        if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")
    ]
    if not records:
        return None
    if len(records) > 1:
        raise _PermError(f"{domain} has more than one SPF record")
    return records[0].split()[1:]


async def _check(st: _State, domain: str) -> SpfResult:
    terms = await _record(st, domain)
    if terms is None:
        return SpfResult.NONE
    redirect: str | None = None
    for term in terms:
        if "=" in term and not term.split("=", 1)[0].count(":"):
            name, _, value = term.partition("=")
            if name.lower() == "redirect":
                redirect = value
            continue
        qualifier = _QUALIFIERS.get(term[0], "")
        mech = term[1:] if qualifier else term
        if await _matches(st, domain, mech):
            return SpfResult(qualifier or "pass")
    if redirect is not None:
        st.count()
        target = _expand(redirect, st, domain)
        result = await _check(st, target)
        if result is SpfResult.NONE:
            raise _PermError(f"redirect to {target} without an SPF record")
        return result
    return SpfResult.NEUTRAL


async def _matches(st: _State, domain: str, mech: str) -> bool:
    name, _, arg = mech.partition(":")
    name = name.lower()
    if name.startswith(("a/", "mx/")) or name in ("a", "mx"):
        base, slash, cidr = name.partition("/")
        host, v4, v6 = _split_cidr((_expand(arg, st, domain) if arg else domain) + (slash + cidr))
        st.count()
        hosts = await st.mx(host) if base == "mx" else [host]
        for h in hosts:
            for addr in await st.query("a" if st.ip.version == 4 else "aaaa", h):
                if _in(st.ip, addr, v4, v6):
                    return True
        return False
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        try:
            net = ipaddress.ip_network(arg, strict=False)
        except ValueError:
            raise _PermError(f"bad {name} {arg!r}") from None
        if net.version != (4 if name == "ip4" else 6):
            raise _PermError(f"bad {name} {arg!r}")
        return net.version == st.ip.version and st.ip in net
    if name == "include":
        st.count()
        result = await _check(st, _expand(arg, st, domain))
        if result is SpfResult.NONE:
            raise _PermError(f"include of {arg} without an SPF record")
        if result in (SpfResult.TEMPERROR, SpfResult.PERMERROR):
            raise _PermError(f"include of {arg} failed")
        return result is SpfResult.PASS
    if name == "exists":
        st.count()
        return bool(await st.query("a", _expand(arg, st, domain)))
    if name == "ptr":
        st.count()
        return False
    raise _PermError(f"unknown mechanism {name!r}")


async def check_host(resolver: Resolver, ip: str, sender: str, helo: str) -> SpfResult:
    """The SPF result for `sender` (the MAIL FROM, or postmaster@HELO when empty) from `ip`."""
    try:
        addr = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return SpfResult.NONE
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    sender = sender or f"postmaster@{helo}"
    domain = sender.rpartition("@")[2].rstrip(".").lower()
    if not domain or "." not in domain:
        return SpfResult.NONE
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return SpfResult.NONE
    st = _State(resolver, addr, sender, helo)
    try:
        return await _check(st, domain)
    except _PermError:
        return SpfResult.PERMERROR
    except _TempError:
        return SpfResult.TEMPERROR
