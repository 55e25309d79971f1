"""Domain names and addresses: IDNA normalisation, script rules, rejections, keys."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.domain.errors import InvalidAddress, InvalidDomainName
from mailgate.domain.names import Address, DomainName, address_key


@pytest.mark.parametrize(
    "text",
    [
        "例子.测试",
        "xn--fsqu00a.xn--0zwm56d",
        "XN--FSQU00A.XN--0ZWM56D",
        "例子。测试",  # ideographic full stop
        "例子．测试",  # fullwidth full stop
        "例子｡测试",  # halfwidth ideographic full stop
        "例子.测试.",  # trailing root dot
        "  例子.测试  ",
    ],
)
def test_idn_forms_normalise_to_one_name(text: str) -> None:
    name = DomainName.parse(text)
    assert name.ascii == "xn--fsqu00a.xn--0zwm56d"
    assert name.unicode == "例子.测试"
    assert str(name) == "例子.测试"


def test_uppercase_and_fullwidth_ascii_are_folded() -> None:
    assert DomainName.parse("Mail.EXAMPLE.Com") == DomainName(
        "mail.example.com", "mail.example.com"
    )
    assert DomainName.parse("ＥＸＡＭＰＬＥ．ｃｏｍ").ascii == "example.com"


@pytest.mark.parametrize("text", ["中国abc.com", "日本語.jp", "한국.kr", "bücher.de", "ab1-2.cn"])
def test_allowed_scripts_and_mixes(text: str) -> None:
    name = DomainName.parse(text)
    assert DomainName.parse(name.ascii) == name


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("pаypal.com", "mixes scripts (Cyrillic, Latin)"),  # Cyrillic а
        ("a..com", "empty label"),
        (".example.com", "empty label"),
        ("", "empty"),
        ("   ", "empty"),
        ("com", "at least two labels"),
        ("-a.com", "may not start or end with a hyphen"),
        ("a-.com", "may not start or end with a hyphen"),
        ("-例子.测试", "starts or ends with a hyphen"),
        ("例子--试.com", "'--' in the third and fourth place"),
        ("xn--zz.com", "invalid punycode"),
        ("xn--9999999999.com", "invalid punycode"),
        ("xn--abc-.com", "not canonical"),
        ("a" * 64 + ".com", "1-63"),
        (".".join(["a" * 60] * 5), "longer than 253 octets"),
        ("例子测试例子测试" * 8 + ".com", "longer than 63 octets"),
        ("1.2.3.4", "IP address"),
        ("ex ample.com", "not a valid domain name"),
        ("例子!.测试", "U+0021"),
        ("例_子.测试", "U+005F"),
    ],
)
def test_rejections_say_why(text: str, fragment: str) -> None:
    with pytest.raises(InvalidDomainName) as info:
        DomainName.parse(text)
    assert fragment in str(info.value)


def test_mixed_script_names_the_domain() -> None:
    with pytest.raises(InvalidDomainName, match=re.escape("pаypal.com")):
        DomainName.parse("pаypal.com")


def test_address_key_is_case_insensitive_in_the_local_part() -> None:
    a = Address.parse("Zhang.Wei@Example.COM")
    b = Address.parse("zhang.wei@example.com")
    assert a.key == b.key == "zhang.wei@example.com"
    assert a.local == "Zhang.Wei"  # the spelling is kept for display
    assert str(a) == "Zhang.Wei@example.com"
    assert address_key("ZHANG.WEI@EXAMPLE.COM") == a.key


def test_address_in_idn_domain() -> None:
    a = Address.parse("张伟@例子。测试")
    assert str(a) == "张伟@例子.测试"
    assert a.key == "张伟@xn--fsqu00a.xn--0zwm56d"
    assert a.ascii == "张伟@xn--fsqu00a.xn--0zwm56d"
    assert Address.parse("张伟@xn--fsqu00a.xn--0zwm56d").key == a.key


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a b@x.com", "contains ' '"),
        ("a\x00b@x.com", "contains '\\x00'"),
        ('a"b@x.com', "not allowed before the @"),
        ("a,b@x.com", "not allowed before the @"),
        ("a@b@c.com", "of the form name@domain"),
        ("nobody", "of the form name@domain"),
        ("@x.com", "nothing before the @"),
        (".a@x.com", "dot at the start or end"),
        ("a.@x.com", "dot at the start or end"),
        ("a..b@x.com", "two dots in a row"),
        ("a" * 65 + "@x.com", "longer than 64 octets"),
        ("x@pаypal.com", "mixes scripts"),
        ("x@", "empty"),
    ],
)
def test_address_rejections(text: str, fragment: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        Address.parse(text)
    assert fragment in str(info.value)


@settings(max_examples=400)
@given(st.text(max_size=80))
def test_address_parse_raises_only_invalid_address(text: str) -> None:
    try:
        parsed = Address.parse(text)
    except InvalidAddress:
        return
    assert Address.parse(str(parsed)).key == parsed.key
    assert Address.parse(parsed.ascii).key == parsed.key


@settings(max_examples=400)
@given(st.text(max_size=80))
def test_domain_parse_raises_only_invalid_domain(text: str) -> None:
    try:
        DomainName.parse(text)
    except InvalidDomainName:
        return


_LABEL_CHARS = st.sampled_from(
    list("abcxyz019-") + list("例子测试中国邮件张伟北京上海") + ["ü", "é"]
)


@settings(max_examples=300)
@given(st.lists(st.text(_LABEL_CHARS, min_size=1, max_size=12), min_size=2, max_size=4))
def test_domain_round_trip(labels: list[str]) -> None:
    try:
        name = DomainName.parse(".".join(labels))
    except InvalidDomainName:
        return
    assert DomainName.parse(name.ascii) == name
    assert DomainName.parse(name.unicode) == name
    assert DomainName.parse(name.unicode.upper()) == name
    assert name.ascii.isascii()
