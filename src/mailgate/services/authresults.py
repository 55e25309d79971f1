"""SPF and DKIM verification of inbound mail, reported as an `Authentication-Results` header
field (RFC 8601). The MX adds it; it does not reject on the results (yet).

Never raises: a DNS failure is `temperror`, anything unexpected is logged and reported as
`temperror`, so a broken record at a sender can never cost us a message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from functools import cache

import dkim

from mailgate.domain.ports import Resolver
from mailgate.services.dnsresolver import DnsResolver
from mailgate.services.spf import SpfResult, check_host

log = logging.getLogger(__name__)
MAX_SIGNATURES = 5
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]+$")
_TAG = re.compile(rb"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)")


@cache
def _default_resolver() -> DnsResolver:
    return DnsResolver()


def _value(text: str) -> str:
    """A property value: as it is when it is a plain token, otherwise quoted (RFC 8601 2.2)."""
    text = "".join(c for c in text if c.isprintable())[:320]
    if text and _TOKEN.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _signature_tags(data: bytes) -> list[dict[bytes, bytes]]:
    """The tags of each DKIM-Signature field, in order (unfolded, whitespace removed)."""
    end = data.find(b"\r\n\r\n")
    head = data[: end + 2] if end >= 0 else data
    fields = re.split(rb"\r?\n(?![ \t])", head)
    out = []
    for f in fields:
        name, _, value = f.partition(b":")
        if name.strip().lower() != b"dkim-signature":
            continue
        flat = re.sub(rb"\s+", b"", value)
        out.append({m.group(1): m.group(2) for m in _TAG.finditer(flat)})
    return out


async def _dkim(data: bytes, resolver: Resolver) -> list[str]:
    sigs = _signature_tags(data)[:MAX_SIGNATURES]
    if not sigs:
        return ["dkim=none"]
    records: dict[bytes, bytes] = {}
    failed_dns: set[int] = set()
    for i, tags in enumerate(sigs):
        name = tags.get(b"s", b"") + b"._domainkey." + tags.get(b"d", b"")
        try:
            found = await resolver.txt(name.decode("ascii", "replace"))
        except OSError:
            failed_dns.add(i)
            continue
        if found:
            records[name] = found[0].encode("utf-8")

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name.rstrip(b"."))

    def verify_all() -> list[bool]:
        checker = dkim.DKIM(data)
        results = []
        for i in range(len(sigs)):
            try:
                results.append(bool(checker.verify(idx=i, dnsfunc=lookup)))
            except dkim.DKIMException:
                results.append(False)
        return results

    verdicts = await asyncio.to_thread(verify_all)
    out = []
    for i, (tags, ok) in enumerate(zip(sigs, verdicts, strict=True)):
        result = "pass" if ok else ("temperror" if i in failed_dns else "fail")
        d = tags.get(b"d", b"").decode("ascii", "replace")
        s = tags.get(b"s", b"").decode("ascii", "replace")
        b = tags.get(b"b", b"")[:8].decode("ascii", "replace")
        out.append(f"dkim={result} header.d={_value(d)} header.s={_value(s)} header.b={_value(b)}")
    return out


async def authentication_results(
    data: bytes,
    mail_from: str,
    helo: str,
    client_ip: str,
    hostname: str,
    *,
    resolver: Resolver | None = None,
) -> str:
    """`Authentication-Results: HOSTNAME; spf=...; dkim=...` (one line, no line ending).

    `mail_from` is the envelope sender ("" for <>: SPF then checks the HELO name), `client_ip`
    the connecting address, `hostname` our own name (the authserv-id). `resolver` defaults to
    the system's DNS.
    """
    try:
        res: Resolver = resolver if resolver is not None else _default_resolver()
    except Exception:
        log.exception("authentication results: no DNS resolver")
        return f"Authentication-Results: {hostname}; spf=temperror; dkim=temperror"
    try:
        spf = await check_host(res, client_ip, mail_from, helo)
    except Exception:
        log.exception("SPF check failed unexpectedly")
        spf = SpfResult.TEMPERROR
    if mail_from:
        spf_part = f"spf={spf.value} smtp.mailfrom={_value(mail_from)}"
    else:
        spf_part = f"spf={spf.value} smtp.helo={_value(helo)}"
    try:
        dkim_parts = await _dkim(data, res)
    except Exception:
        log.exception("DKIM verification failed unexpectedly")
        dkim_parts = ["dkim=temperror"]
    return "Authentication-Results: " + "; ".join([_value(hostname), spf_part, *dkim_parts])
