"""SPF (RFC 7208) and DKIM results in an Authentication-Results field, over a fake resolver."""

from __future__ import annotations

import pytest
from tests.outbound.conftest import FakeClock, message
from tests.outbound.fakedns import FakeResolver

from mailgate.services.authresults import authentication_results
from mailgate.services.dkim import DkimService, dkim_txt, sign
from mailgate.services.spf import SpfResult, check_host


def spf_world() -> FakeResolver:
    r = FakeResolver()
    r.add("sender.test", "TXT", "v=spf1 ip4:192.0.2.0/24 include:partner.test mx ~all", "other")
    r.add("sender.test", "MX", (10, "mx.sender.test"))
    r.add("mx.sender.test", "A", "198.51.100.7")
    r.add("partner.test", "TXT", "v=spf1 ip6:2001:db8::/32 a:relay.partner.test -all")
    r.add("relay.partner.test", "A", "203.0.113.9")
    r.add("strict.test", "TXT", "v=spf1 redirect=partner.test")
    r.add("neutral.test", "TXT", "v=spf1 ?all")
    r.add("exists.test", "TXT", "v=spf1 exists:%{ir}.%{l}.allow.exists.test -all")
    r.add("5.2.0.192.bob.allow.exists.test", "A", "127.0.0.2")
    r.add("double.test", "TXT", "v=spf1 -all", "v=spf1 +all")
    loop = " ".join(f"include:l{i}.test" for i in range(11))
    r.add("loop.test", "TXT", f"v=spf1 {loop} -all")
    for i in range(11):
        r.add(f"l{i}.test", "TXT", "v=spf1 -all")
    r.broken.add("broken.test")
    return r


@pytest.mark.parametrize(
    ("ip", "sender", "expected"),
    [
        ("192.0.2.44", "a@sender.test", SpfResult.PASS),  # ip4
        ("198.51.100.7", "a@sender.test", SpfResult.PASS),  # mx
        ("2001:db8::1", "a@sender.test", SpfResult.PASS),  # include -> ip6
        ("203.0.113.9", "a@sender.test", SpfResult.PASS),  # include -> a
        ("203.0.113.10", "a@sender.test", SpfResult.SOFTFAIL),  # ~all
        ("203.0.113.10", "a@strict.test", SpfResult.FAIL),  # redirect -> -all
        ("203.0.113.9", "a@strict.test", SpfResult.PASS),
        ("203.0.113.10", "a@neutral.test", SpfResult.NEUTRAL),
        ("192.0.2.5", "bob@exists.test", SpfResult.PASS),  # macros %{ir} %{l}
        ("192.0.2.6", "bob@exists.test", SpfResult.FAIL),
        ("203.0.113.10", "a@nospf.test", SpfResult.NONE),
        ("203.0.113.10", "a@double.test", SpfResult.PERMERROR),
        ("203.0.113.10", "a@loop.test", SpfResult.PERMERROR),  # over 10 lookups
        ("203.0.113.10", "a@broken.test", SpfResult.TEMPERROR),
        ("::ffff:192.0.2.44", "a@sender.test", SpfResult.PASS),  # mapped IPv4
        ("not-an-ip", "a@sender.test", SpfResult.NONE),
    ],
)
async def test_spf_results(ip: str, sender: str, expected: SpfResult) -> None:
    assert await check_host(spf_world(), ip, sender, "helo.test") is expected


async def test_null_sender_checks_the_helo_name() -> None:
    assert await check_host(spf_world(), "192.0.2.1", "", "sender.test") is SpfResult.PASS


@pytest.fixture
async def signed() -> tuple[bytes, str]:
    key = await DkimService(None, FakeClock(), "sel1", 1024).new_key("sender.test")  # type: ignore[arg-type]
    return sign(message(sender="a@sender.test"), key), dkim_txt(key)


async def test_header_with_spf_pass_and_dkim_pass(signed: tuple[bytes, str]) -> None:
    data, record = signed
    dns = spf_world().add("sel1._domainkey.sender.test", "TXT", record)
    header = await authentication_results(
        data, "a@sender.test", "helo.test", "192.0.2.44", "mx.acme.test", resolver=dns
    )
    assert header.startswith("Authentication-Results: mx.acme.test; ")
    assert "spf=pass smtp.mailfrom=a@sender.test" in header
    assert "dkim=pass header.d=sender.test header.s=sel1 header.b=" in header
    assert "\r" not in header and "\n" not in header


async def test_dkim_fail_on_a_changed_body_and_none_without_signature(
    signed: tuple[bytes, str],
) -> None:
    data, record = signed
    dns = spf_world().add("sel1._domainkey.sender.test", "TXT", record)
    header = await authentication_results(
        data.replace(b"Hello Bob", b"Hello Eve"),
        "a@sender.test",
        "helo.test",
        "203.0.113.10",
        "mx.acme.test",
        resolver=dns,
    )
    assert "spf=softfail" in header and "dkim=fail header.d=sender.test" in header
    header = await authentication_results(
        message(), "", "sender.test", "203.0.113.10", "mx.acme.test", resolver=dns
    )
    assert "spf=softfail smtp.helo=sender.test" in header and header.endswith("dkim=none")


async def test_dns_failure_is_temperror_and_never_raises(signed: tuple[bytes, str]) -> None:
    data, _ = signed
    dns = FakeResolver(broken={"sender.test", "sel1._domainkey.sender.test"})
    header = await authentication_results(
        data, "a@sender.test", "h", "192.0.2.44", "mx.acme.test", resolver=dns
    )
    assert "spf=temperror" in header and "dkim=temperror" in header
    header = await authentication_results(
        b"\xff\x00garbage", 'we"ird\r\n@x', "h", "nonsense", "mx.acme.test", resolver=dns
    )
    assert header.startswith("Authentication-Results: mx.acme.test; spf=none")
    assert "\r" not in header and "\n" not in header
