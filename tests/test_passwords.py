"""Password policy (NIST SP 800-63B-4): length, Unicode, block list with Chinese passwords and
decorations, context words with pinyin, rotation, messages in three languages, and the
k-anonymity breach check against a range API served on loopback."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.domain.directory import (
    EmploymentType,
    Organisation,
    OrgKind,
    RosterEntry,
    RosterStatus,
)
from mailgate.domain.errors import InvalidInput
from mailgate.domain.password_messages import LANGUAGES, MESSAGES, language_for, render
from mailgate.domain.passwords import (
    BlockList,
    ContextKind,
    PasswordContext,
    PasswordPolicy,
    ProblemCode,
    check_password,
    expiry_warning,
    normalise_password,
    packaged_block_list,
    password_expired,
    password_expires_on,
)
from mailgate.services.passwords import (
    BreachCheckConfig,
    PasswordChecker,
    RangeApiBreachChecker,
    breach_checker_from,
    name_pinyin,
    password_context_for,
)

POLICY = PasswordPolicy()
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def codes(password: str, **kwargs: object) -> list[str]:
    return [p.code.value for p in check_password(password, POLICY, **kwargs)]  # type: ignore[arg-type]


def roster(**overrides: object) -> RosterEntry:
    values: dict[str, object] = {
        "id": 1,
        "org_id": 1,
        "employee_id": "E10001",
        "name_zh": "张伟",
        "name_latin": "Wei Zhang",
        "org_unit_id": None,
        "position_id": None,
        "region_id": None,
        "employment_type": EmploymentType.FULL_TIME,
        "supervisor_employee_id": "",
        "mobile": "",
        "status": RosterStatus.ACTIVE,
        "start_date": None,
        "end_date": None,
        "updated_at": T0,
    }
    values.update(overrides)
    return RosterEntry(**values)  # type: ignore[arg-type]


ORG = Organisation(
    id=1,
    slug="acme",
    name="Acme Widgets 有限公司",
    kind=OrgKind.INTERNAL,
    account_pool_limit=None,
    default_quota=0,
    helpdesk_contact="",
    created_at=T0,
)


@pytest.fixture
def context() -> PasswordContext:
    return password_context_for("zhang.wei@example.com", roster=roster(), organisation=ORG)


# --- length and Unicode --------------------------------------------------------------------


def test_rejects_14_characters_without_second_factor() -> None:
    problems = check_password("wren fjord k9x", POLICY)
    assert [p.code for p in problems] == [ProblemCode.TOO_SHORT]
    assert problems[0].key == "password.too_short"
    assert problems[0].params == {"min_length": 15}
    assert problems[0].message == "Use at least 15 characters."
    assert problems[0].message_in("zh_Hans") == "密码至少需要 15 个字符。"


def test_accepts_14_characters_with_second_factor() -> None:
    assert check_password("wren fjord k9x", POLICY, has_second_factor=True) == []
    assert [p.params for p in check_password("kettle", POLICY, has_second_factor=True)] == [
        {"min_length": 8}
    ]


def test_accepts_long_passwords_with_spaces_and_chinese(context: PasswordContext) -> None:
    password = (
        "我们在春天的傍晚沿着河边慢慢散步 and the old ferry horn sounds twice at dusk "
        "夜里下了一场小雨"
    )
    assert len(password) >= 64
    assert check_password(password, POLICY, context) == []
    assert check_password("x" * 64 + "7", PasswordPolicy(max_length=64)) != []
    assert [p.code for p in check_password("q" * 257, POLICY)] == [ProblemCode.TOO_LONG]


@pytest.mark.parametrize(
    "password", ["stapleorbitmoss", "correct horse battery", "tidal wren oxbow"]
)
def test_accepts_lowercase_passphrase_not_on_the_list(
    password: str, context: PasswordContext
) -> None:
    assert password not in packaged_block_list()
    assert check_password(password, POLICY, context) == []


def test_nfkc_fullwidth_digits_equal_ascii() -> None:
    assert normalise_password("１２３４５６") == "123456"
    assert normalise_password("ｐａｓｓ\u3000ｗｏｒｄ") == "pass word"
    assert codes("１２３４５６") == codes("123456") == ["too_short", "common_password"]


async def test_never_truncated() -> None:
    checker = PasswordChecker()
    base = "lantern meadow quartz " * 9 + "ab"
    assert len(base) == 200
    first = await checker.check(base[:-1] + "x", POLICY)
    second = await checker.check(base[:-1] + "y", POLICY)
    assert first.ok and second.ok
    assert len(first.normalised) == len(second.normalised) == 200
    assert first.normalised != second.normalised
    padded = await checker.check("  " + base + "  ", POLICY)
    assert padded.normalised == "  " + base + "  "  # nothing trimmed either


def test_control_characters_refused() -> None:
    assert "unsupported_character" in codes("correct horse\x00battery staple")


# --- block list ----------------------------------------------------------------------------


def test_block_list_loads_once_with_chinese_passwords() -> None:
    block_list = packaged_block_list()
    assert block_list is packaged_block_list()
    for word in ("123456", "5201314", "1314520", "woaini", "1qaz2wsx", "zhangwei", "password"):
        assert word in block_list
    assert len(block_list) > 60_000


def test_rejects_woaini1314woaini_as_common() -> None:
    problems = check_password("woaini1314woaini", POLICY)
    assert ProblemCode.COMMON_PASSWORD in [p.code for p in problems]
    assert "too common" in next(p.message for p in problems if p.code == "common_password")


@pytest.mark.parametrize(
    "password",
    [
        "123456789012345",
        "P@ssw0rd2024!!!!",
        "iloveyou5201314",
        "Wodemima19880808",
        "w0@1n1w0@1n1w0@1n1",
        "1qaz2wsx3edc4rfv",
        "qwertyuiopasdfgh",
        "aaaaaaaaaaaaaaaa",
        "abcdefghijklmnop",
        "xqzvbn1234xqzvbn",
        "19880808 20200101",
        "dragonmonkey2024",
        "internationally",
    ],
)
def test_rejects_common_and_trivial_passwords(password: str) -> None:
    assert codes(password), password


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("aaaaaaaaaaaaaaaa", "repetitive"),
        ("abcdefghijklmnop", "sequence"),
        ("2wsx3edc4rfv5tgb", "keyboard_walk"),
        ("19880808 20200101", "date"),
        ("woaini1314woaini", "common_password"),
    ],
)
def test_says_why(password: str, code: str) -> None:
    assert code in codes(password)


def test_a_common_word_inside_a_passphrase_is_fine() -> None:
    assert "dragon" in packaged_block_list()
    assert codes("dragon under the quiet fjord") == []
    assert codes("monkey1") == ["too_short", "common_password"]


def test_custom_block_list() -> None:
    block_list = BlockList.of(["hunter2"])
    policy = PasswordPolicy(min_length=8)
    problems = check_password("Hunter2", policy, block_list=block_list)
    assert [p.code for p in problems] == ["too_short", "common_password"]
    assert check_password("plain words here", policy, block_list=block_list) == []


# --- context words -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "kind"),
    [
        ("blue kettle E10001 river", ContextKind.EMPLOYEE_ID),
        ("lantern 10001 meadow walk", ContextKind.EMPLOYEE_ID),
        ("morning zhangwei tulips!", ContextKind.NAME),
        ("morning Zhang-Wei tulips!", ContextKind.NAME),
        ("quietly WEIZHANG at dawn", ContextKind.NAME),
        ("张伟的邮箱密码很长很长不会被猜到", ContextKind.NAME),
        ("lantern exAmple harbour", ContextKind.DOMAIN),
        ("my acme widgets key ring", ContextKind.ORGANISATION),
        ("lantern @cme harbour night", ContextKind.ORGANISATION),
    ],
)
def test_rejects_context_words(password: str, kind: ContextKind, context: PasswordContext) -> None:
    problems = check_password(password, POLICY, context)
    keys = {p.key for p in problems}
    assert f"password.contains_context_word.{kind}" in keys, problems
    assert all(p.code == "contains_context_word" for p in problems)
    assert all(p.message.startswith("The password must not contain") for p in problems)


def test_context_words_can_be_turned_off(context: PasswordContext) -> None:
    policy = PasswordPolicy(context_words=False)
    assert check_password("blue kettle E10001 river", policy, context) == []


def test_pinyin_of_the_name() -> None:
    assert name_pinyin("张伟") == ("zhang wei", "wei zhang")
    assert "zeng xiaoming" in name_pinyin("曾小明")  # every reading of the family name
    assert name_pinyin("Wei Zhang") == ()
    ctx = password_context_for("xm@example.com", display_name="曾小明")
    assert check_password("river xiaoming lantern", POLICY, ctx)[0].key == (
        "password.contains_context_word.name"
    )


# --- rotation ------------------------------------------------------------------------------


def test_rotation_off_by_default() -> None:
    assert POLICY.rotation_days is None
    assert password_expires_on(T0, POLICY) is None
    assert expiry_warning(T0, POLICY, date(2099, 1, 1)) is None
    assert not password_expired(T0, POLICY, date(2099, 1, 1))


def test_expiry_warning_when_rotation_is_on() -> None:
    policy = PasswordPolicy(rotation_days=90)
    expires = date(2026, 5, 30)
    assert password_expires_on(T0, policy) == expires
    assert expiry_warning(T0, policy, expires - timedelta(days=15)) is None
    warning = expiry_warning(T0, policy, expires - timedelta(days=14))
    assert warning is not None and warning.days_left == 14 and not warning.expired
    assert "14 days" in warning.message_in("en")
    assert "14 天" in warning.message_in("zh_Hans")
    late = expiry_warning(T0, policy, expires)
    assert late is not None and late.expired and late.key == "password.expired"
    assert password_expired(T0, policy, expires)
    assert not password_expired(T0, policy, expires - timedelta(days=1))


def test_policy_validation() -> None:
    with pytest.raises(InvalidInput):
        PasswordPolicy(max_length=63)
    with pytest.raises(InvalidInput):
        PasswordPolicy(min_length_with_second_factor=6)
    with pytest.raises(InvalidInput):
        PasswordPolicy(rotation_days=0)
    policy = PasswordPolicy(required_character_classes=3)
    assert codes("lantern meadow quartz") == []
    assert [p.code for p in check_password("lantern meadow quartz", policy)] == ["composition"]
    assert check_password("Lantern meadow quartz 9", policy) == []


# --- messages ------------------------------------------------------------------------------


def test_every_message_in_three_languages() -> None:
    assert set(LANGUAGES) == {"zh_Hans", "zh_Hant", "en"}
    params: dict[str, str | int] = {
        "min_length": 15,
        "max_length": 256,
        "classes": 3,
        "days": 5,
        "expires_on": "2026-05-30",
    }
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key
        for language in LANGUAGES:
            assert render(key, language, params)
    keys = {f"password.{code}" for code in ProblemCode} - {"password.contains_context_word"}
    keys |= {f"password.contains_context_word.{kind}" for kind in ContextKind}
    assert keys <= set(MESSAGES)
    assert language_for("zh-TW") == "zh_Hant" and language_for("zh-Hans-CN") == "zh_Hans"
    assert render("password.too_short", "zh-Hant", {"min_length": 8}) == "密碼至少需要 8 個字元。"


# --- arbitrary input -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300))
def test_arbitrary_unicode_never_raises(password: str) -> None:
    ctx = PasswordContext(
        name_zh="张伟", name_pinyin=("zhang wei",), employee_id="E1", domain="a.b"
    )
    for has_second_factor in (False, True):
        for problem in check_password(password, POLICY, ctx, has_second_factor):
            assert problem.message and problem.message_in("zh_Hant")


# --- breach check --------------------------------------------------------------------------


@dataclass
class RangeServer:
    """A Pwned-Passwords-style range API on 127.0.0.1 that records what it was asked."""

    answers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        _method, path, _version = head[0].split(" ")
        headers = dict(line.split(": ", 1) for line in head[1:] if line)
        self.requests.append((path, {k.lower(): v for k, v in headers.items()}))
        prefix = path.rsplit("/", 1)[-1]
        body = self.answers.get(prefix, "").encode()
        status = "200 OK" if path.startswith("/range/") else "404 Not Found"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def range_server() -> AsyncIterator[RangeServer]:
    state = RangeServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


BREACHED = "lantern meadow quartz harbour"


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest().upper()


async def test_breach_check_sends_only_the_prefix(range_server: RangeServer) -> None:
    digest = _sha1(BREACHED)
    range_server.answers[digest[:5]] = (
        f"0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{digest[5:]}:42\r\n"
    )
    config = BreachCheckConfig(enabled=True, base_url=f"http://127.0.0.1:{range_server.port}")
    checker = PasswordChecker(breach_checker_from(config))
    policy = PasswordPolicy(breach_check_enabled=True)

    result = await checker.check(BREACHED, policy)
    assert not result.ok and result.breach_checked
    assert [p.code for p in result.problems] == ["breached"]
    assert result.problems[0].message_in("zh_Hans").startswith("该密码曾出现在数据泄露")
    [(path, headers)] = range_server.requests
    assert path == f"/range/{digest[:5]}"
    assert headers["add-padding"] == "true"
    assert digest[5:] not in path and BREACHED.split()[0] not in path

    clean = await checker.check("tidal wren oxbow lantern", policy)
    assert clean.ok and clean.breach_checked
    assert len(range_server.requests) == 2


async def test_breach_check_off_by_default(range_server: RangeServer) -> None:
    url = f"http://127.0.0.1:{range_server.port}"
    assert breach_checker_from(BreachCheckConfig(base_url=url)) is None
    checker = PasswordChecker(RangeApiBreachChecker(url))
    result = await checker.check(BREACHED, POLICY)  # the policy does not enable it
    assert result.ok and not result.breach_checked
    result = await checker.check("123456", PasswordPolicy(breach_check_enabled=True))
    assert not result.ok  # refused locally: nothing is sent
    assert range_server.requests == []


async def test_breach_check_unreachable_does_not_block() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    checker = PasswordChecker(RangeApiBreachChecker(f"http://127.0.0.1:{port}", 1.0))
    result = await checker.check(BREACHED, PasswordPolicy(breach_check_enabled=True))
    assert result.ok and not result.breach_checked


def test_breach_checker_needs_http_url() -> None:
    with pytest.raises(ValueError, match="http"):
        RangeApiBreachChecker("file:///etc/passwd")
