"""The pure SMTP helpers byte by byte, and the authentication service's reason codes."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from tests.smtp.conftest import PW, seed

from mailgate.domain.access import Actor
from mailgate.domain.directory import Account, AccountState, RequiredAction
from mailgate.protocols.smtp import wire
from mailgate.services.authentication import AuthReason, usability
from mailgate.services.container import Services


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("250 OK", "250 2.0.0 OK"),
        ("503 Error: need MAIL command", "503 5.5.1 Error: need MAIL command"),
        ("552 Error: Too much mail data", "552 5.3.4 Message size exceeds the fixed maximum size"),
        (
            "535 5.7.8 Authentication credentials invalid",
            "535 5.7.8 Authentication credentials invalid",
        ),
        ("354 End data with <CR><LF>.<CR><LF>", "354 End data with <CR><LF>.<CR><LF>"),
        ("334 VXNlcm5hbWU6", "334 VXNlcm5hbWU6"),
        ("221 Bye", "221 2.0.0 Bye"),
    ],
)
def test_enhanced_codes(reply: str, expected: str) -> None:
    assert wire.with_enhanced_code(reply) == expected


@pytest.mark.parametrize(
    ("data", "bare"),
    [
        (b"a\r\nb\r\n", False),
        (b"", False),
        (b"a\nb\r\n", True),
        (b"a\rb\r\n", True),
        (b"a\r\r\n", True),
        (b"a\r\n\n", True),
        (b"a\r\n\r", True),
    ],
)
def test_bare_line_endings(data: bytes, bare: bool) -> None:
    assert wire.has_bare_line_ending(data) is bare


def test_plain_payloads() -> None:
    assert wire.decode_plain(b"\0u@x.test\0pw") == ("u@x.test", "pw")
    assert wire.decode_plain(b"u@x.test\0u@x.test\0pw") == ("u@x.test", "pw")
    assert wire.decode_plain(b"other@x.test\0u@x.test\0pw") is None
    assert wire.decode_plain(b"u\0pw") is None
    assert wire.decode_plain(b"\0\xff\0pw") is None
    assert wire.decode_b64("!!") is None


def test_received_header_is_folded_and_cleaned() -> None:
    info = wire.ReceivedInfo(
        helo="evil (injected)\r\nX-Bad: 1",
        client_ip="192.0.2.7",
        by_host="mx.acme.test",
        queue_id="ABC",
        when=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        tls=True,
        authenticated=True,
        cipher="TLS_AES_256_GCM_SHA384",
        recipient="li.na@acme.test",
    )
    header = wire.received_header(info)
    assert header == (
        b"Received: from evil ?injected???X-Bad: 1 ([192.0.2.7])\r\n"
        b"\tby mx.acme.test (Mailgate)\r\n"
        b"\twith ESMTPSA (TLS_AES_256_GCM_SHA384)\r\n"
        b"\tid ABC\r\n"
        b"\tfor <li.na@acme.test>;\r\n"
        b"\tSat, 28 Nov 2026 09:00:00 +0000\r\n"
    )
    assert wire.with_protocol(replace(info, esmtp=False)) == "SMTP"
    assert wire.with_protocol(replace(info, utf8=True, authenticated=False)) == "UTF8SMTPS"


def test_ehlo_lines() -> None:
    assert wire.ehlo_lines("h", 10, starttls=True, auth=False, mechanisms=("PLAIN",)) == [
        "250-h",
        "250-PIPELINING",
        "250-SIZE 10",
        "250-8BITMIME",
        "250-SMTPUTF8",
        "250-ENHANCEDSTATUSCODES",
        "250 STARTTLS",
    ]


def test_usability_of_an_account_whose_password_matched() -> None:
    account = Account(
        1, "a@x.test", "a@x.test", 1, None, "A", AccountState.ACTIVE, 1, None, "en", "UTC", None
    )
    today = date(2026, 11, 28).toordinal()
    assert usability(account, today) is AuthReason.OK
    pending = replace(account, required_actions=[RequiredAction.SET_PASSWORD])
    assert usability(pending, today) is AuthReason.FIRST_LOGIN_PENDING
    assert usability(replace(pending, skipped_first_login=True), today) is AuthReason.OK
    past = replace(account, expires_on=date(2026, 11, 27))
    assert usability(past, today) is AuthReason.EXPIRED
    for state, reason in [
        (AccountState.PENDING_ACTIVATION, AuthReason.NOT_ACTIVATED),
        (AccountState.LOCKED, AuthReason.LOCKED),
        (AccountState.SUSPENDED, AuthReason.SUSPENDED),
        (AccountState.EXPIRED, AuthReason.EXPIRED),
        (AccountState.DISABLED, AuthReason.DISABLED),
    ]:
        assert usability(replace(account, state=state), today) is reason


async def test_authenticate_reasons_and_uniform_cost(services: Services, root: Actor) -> None:
    await seed(services, root)
    auth = services.authentication
    ok = await auth.authenticate("Li.Na@acme.test", PW, "smtp", "192.0.2.1")
    assert ok.allowed and ok.reason is AuthReason.OK
    assert ok.account is not None and ok.actor is not None
    assert ok.actor.source_ip == "192.0.2.1"
    cases = {
        ("li.na@acme.test", "wrong"): AuthReason.BAD_CREDENTIALS,
        ("ghost@acme.test", PW): AuthReason.BAD_CREDENTIALS,
        ("not an address", PW): AuthReason.BAD_CREDENTIALS,
        ("locked@acme.test", "wrong"): AuthReason.BAD_CREDENTIALS,  # state not revealed
        ("pending@acme.test", PW): AuthReason.NOT_ACTIVATED,
        ("locked@acme.test", PW): AuthReason.LOCKED,
        ("suspended@acme.test", PW): AuthReason.SUSPENDED,
        ("expired@acme.test", PW): AuthReason.EXPIRED,
        ("disabled@acme.test", PW): AuthReason.DISABLED,
    }
    for (user, password), reason in cases.items():
        decision = await auth.authenticate(user, password, "imap", "")
        assert not decision.allowed and decision.reason is reason, user
        assert decision.actor is None  # the account stays known to the web's errands

    async def cost(user: str, password: str, rounds: int = 15) -> float:
        start = time.perf_counter()
        for _ in range(rounds):
            await auth.authenticate(user, password, "pop3", "")
        return time.perf_counter() - start

    await cost("ghost@acme.test", PW, 2)  # warm up
    unknown = await cost("ghost@acme.test", PW)
    wrong = await cost("li.na@acme.test", "wrong")
    assert 0.5 < unknown / wrong < 2.0
