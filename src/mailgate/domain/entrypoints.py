"""Entry points (R3): where a person may apply for a mailbox, per organisation and region.

An organisation configures one or more entries: the internal portal, the IT service-desk ticket
API (a ticket system files applications on someone's behalf with the API bearer token of a
service account holding a role in the organisation; tokens expire like any API token) and the
external-partner portal (needs an invitation or agreement number). An entry may be limited to
corporate networks (CIDR list, e.g. the VPN ranges) or to trusted devices; a visitor from
elsewhere gets a page that says where the entry can be reached (`where_to_reach`), never a bare
refusal. Each entry has a landing text per language explaining who is eligible and what to
prepare.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from mailgate.domain.errors import InvalidInput
from mailgate.domain.policy import EntryPoint

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(items: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Normalised CIDR strings; InvalidInput names a bad one."""
    out: list[str] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            out.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise InvalidInput(
                f"{text!r} is not a network like 10.8.0.0/16 or 2001:db8::/48"
            ) from None
    return tuple(dict.fromkeys(out))


def address_in(ip: str, networks: tuple[str, ...]) -> bool:
    """Whether `ip` lies in one of `networks` (IPv4-mapped IPv6 counts as IPv4)."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for text in networks:
        net: Network = ipaddress.ip_network(text, strict=False)
        if addr.version == net.version and addr in net:
            return True
    return False


def check_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not _SLUG.fullmatch(slug):
        raise InvalidInput("an entry's slug is 1-40 of a-z, 0-9 and '-' (not at the ends)")
    return slug


@dataclass(slots=True)
class EntryPointConfig:
    id: int
    org_id: int
    slug: str  # /apply/<slug>
    kind: EntryPoint
    domain_id: int  # the mail domain accounts from this entry get
    region_id: int | None = None
    enabled: bool = True
    networks: tuple[str, ...] = ()  # empty: reachable from anywhere
    trusted_devices_only: bool = False
    landing: Mapping[str, str] = field(default_factory=dict)  # language -> text
    reach_hint: Mapping[str, str] = field(default_factory=dict)  # language -> "use the VPN ..."

    def reachable_from(self, ip: str, trusted_device: bool) -> bool:
        if self.networks and not address_in(ip, self.networks):
            return False
        return trusted_device or not self.trusted_devices_only

    def text(self, texts: Mapping[str, str], language: str) -> str:
        return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")
