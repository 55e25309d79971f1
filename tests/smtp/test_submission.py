"""Submission (STARTTLS then AUTH) and submissions (implicit TLS): authentication through the one
authentication service, send-as, remote recipients, rate limits, and real clients."""

from __future__ import annotations

import base64
import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest
from tests.smtp.conftest import PW, Raw, Smtp, in_thread, message, submit

from mailgate.services.outbound import OutboundService

# A pending account is refused too, but its reply points to /activate (tests/test_activation.py).
REFUSED_STATES = ["locked", "suspended", "expired", "disabled"]


def auth_reply(port: int, context: ssl.SSLContext, user: str, password: str, mech: str) -> str:
    client = smtplib.SMTP("127.0.0.1", port, timeout=20)
    try:
        client.starttls(context=context)
        client.ehlo()
        client.user, client.password = user, password
        authobject = client.auth_plain if mech == "PLAIN" else client.auth_login
        code, text = client.auth(mech, authobject, initial_response_ok=mech == "PLAIN")
        return f"{code} {text.decode()}"
    except smtplib.SMTPAuthenticationError as exc:
        return f"{exc.smtp_code} {exc.smtp_error.decode()}"
    finally:
        client.close()


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
async def test_starttls_then_auth_and_send(
    smtp: Smtp, client_tls: ssl.SSLContext, mech: str
) -> None:
    assert (
        await in_thread(auth_reply, smtp.submission, client_tls, "li.na@acme.test", PW, mech)
    ) == ("235 2.7.0 Authentication successful")

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", smtp.submission, timeout=20) as client:
            client.starttls(context=client_tls)
            client.login("Li.Na@acme.test", PW)
            return client.sendmail("li.na@acme.test", ["wang.wei@acme.test"], message("sub"))

    assert await in_thread(send) == {}
    [stored] = await smtp.inbox("wang.wei@acme.test")
    assert b"with ESMTPSA" in stored


async def test_before_tls_no_auth_is_offered_and_nothing_but_starttls_works(
    smtp: Smtp,
) -> None:
    def conversation() -> tuple[str, str, str]:
        raw = Raw(smtp.submission)
        try:
            return (
                raw.cmd("EHLO c.example"),
                raw.cmd("AUTH PLAIN AGxpLm5hAHB3"),
                raw.cmd("MAIL FROM:<li.na@acme.test>"),
            )
        finally:
            raw.close()

    ehlo, auth, mail = await in_thread(conversation)
    assert "STARTTLS" in ehlo and "AUTH" not in ehlo
    assert auth.startswith("530 5.7.0") and mail.startswith("530 5.7.0")


async def test_after_tls_auth_is_offered_and_required(
    smtp: Smtp, client_tls: ssl.SSLContext
) -> None:
    def conversation() -> tuple[str, str, str]:
        with smtplib.SMTP("127.0.0.1", smtp.submission, timeout=20) as client:
            client.starttls(context=client_tls)
            _, ehlo = client.ehlo()
            mail = client.docmd("MAIL FROM:<li.na@acme.test>")
            again = client.docmd("STARTTLS")
            return ehlo.decode(), f"{mail[0]} {mail[1].decode()}", f"{again[0]}"

    ehlo, mail, again = await in_thread(conversation)
    assert "AUTH LOGIN PLAIN" in ehlo and "STARTTLS" not in ehlo
    assert mail.startswith("530 5.7.0")
    assert again == "503"


async def test_implicit_tls_session_knows_it_is_tls(smtp: Smtp, client_tls: ssl.SSLContext) -> None:
    def conversation() -> tuple[str, dict[str, tuple[int, bytes]]]:
        with smtplib.SMTP_SSL("127.0.0.1", smtp.submissions, context=client_tls, timeout=20) as c:
            ehlo = c.ehlo()[1].decode()
            c.login("li.na@acme.test", PW)
            return ehlo, c.sendmail("li.na@acme.test", ["zhao.min@acme.test"], message("465"))

    ehlo, refused = await in_thread(conversation)
    assert "AUTH LOGIN PLAIN" in ehlo and "STARTTLS" not in ehlo
    assert refused == {}
    [stored] = await smtp.inbox("zhao.min@acme.test")
    assert b"with ESMTPSA (TLS" in stored


@pytest.mark.parametrize("user", [*(f"{s}@acme.test" for s in REFUSED_STATES), "ghost@acme.test"])
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
async def test_every_refusal_looks_like_a_wrong_password(
    smtp: Smtp, client_tls: ssl.SSLContext, user: str, mech: str
) -> None:
    wrong = await in_thread(
        auth_reply, smtp.submission, client_tls, "li.na@acme.test", "nope", mech
    )
    refused = await in_thread(auth_reply, smtp.submission, client_tls, user, PW, mech)
    assert wrong == refused == "535 5.7.8 Authentication credentials invalid"


async def test_send_as_is_limited_to_own_addresses(smtp: Smtp, client_tls: ssl.SSLContext) -> None:
    def conversation() -> list[int]:
        with smtplib.SMTP("127.0.0.1", smtp.submission, timeout=20) as client:
            client.starttls(context=client_tls)
            client.login("li.na@acme.test", PW)
            codes = []
            for sender in (
                "wang.wei@acme.test",
                "ceo@example.org",
                "team@acme.test",
                "all@acme.test",
                "board@acme.test",
                "",
            ):
                codes.append(client.docmd(f"MAIL FROM:<{sender}>")[0])
                client.rset()
            return codes

    # other user, foreign, alias targeting li.na, group with li.na, group without her, <>
    assert await in_thread(conversation) == [553, 553, 250, 250, 553, 553]


async def test_remote_recipients_go_to_the_outbound_queue(
    smtp: Smtp, client_tls: ssl.SSLContext
) -> None:
    queued = await in_thread(
        submit,
        smtp.submission,
        client_tls,
        "li.na@acme.test",
        "li.na@acme.test",
        ["friend@elsewhere.example", "wang.wei@acme.test"],
        message("out"),
    )
    assert queued == {}
    assert len(await smtp.inbox("wang.wei@acme.test")) == 1
    outbound = smtp.services.outbound
    assert isinstance(outbound, OutboundService)
    async with outbound.uow(write=False) as uow:
        items, total = await uow.queue.list(None, True, 0, 10)
    assert total == 1
    assert [r.address for r in items[0].recipients] == ["friend@elsewhere.example"]


async def test_rate_limits(smtp: Smtp, client_tls: ssl.SSLContext) -> None:
    rcpts = [f"{n}@acme.test" for n in ("li.na", "wang.wei", "zhao.min", "sender3", "small")]

    def conversation() -> tuple[dict[str, tuple[int, bytes]], list[tuple[int, bytes]]]:
        with smtplib.SMTP("127.0.0.1", smtp.submission, timeout=20) as client:
            client.starttls(context=client_tls)
            client.login("sender2@acme.test", PW)
            client.mail("sender2@acme.test")
            for rcpt in rcpts:
                assert client.rcpt(rcpt)[0] == 250
            too_many = client.rcpt("sender2@acme.test")
            client.rset()
            for n in range(4):
                client.sendmail("sender2@acme.test", ["li.na@acme.test"], message(f"r{n}"))
            return {"": too_many}, [client.docmd("MAIL FROM:<sender2@acme.test>")]

    too_many, [over] = await in_thread(conversation)
    code, text = too_many[""]
    assert code == 452 and text.startswith(b"4.5.3") and b"at most 5 recipients" in text
    assert over[0] == 450 and over[1].startswith(b"4.7.1")
    assert b"4 messages in the last hour" in over[1]


def swaks(port: int, ca_file: Path, tls: str, mech: str) -> subprocess.CompletedProcess[str]:
    argv = f"""swaks --server 127.0.0.1 --port {port} {tls} --tls-verify --tls-ca-path {ca_file}
        --auth {mech} --auth-user li.na@acme.test --auth-password {PW}
        --from li.na@acme.test --to wang.wei@acme.test""".split()
    argv += ["--header", "Subject: via swaks", "--body", "hello from swaks"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


async def test_swaks_and_msmtp(smtp: Smtp, ca_file: Path, tmp_path: Path) -> None:
    for port, tls, mech in (
        (smtp.submission, "--tls", "LOGIN"),
        (smtp.submissions, "--tls-on-connect", "PLAIN"),
    ):
        res = await in_thread(swaks, port, ca_file, tls, mech)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "235 2.7.0" in res.stdout and "250 2.0.0 OK" in res.stdout

    config = tmp_path / "msmtprc"
    config.write_text(
        "account default\nhost 127.0.0.1\n"
        f"port {smtp.submissions}\ntls on\ntls_starttls off\ntls_trust_file {ca_file}\n"
        "tls_host_override localhost\nauth plain\nuser li.na@acme.test\n"
        f"password {PW}\nfrom li.na@acme.test\n",
        encoding="utf-8",
    )
    config.chmod(0o600)
    res = await in_thread(
        subprocess.run,
        ["msmtp", "-C", str(config), "zhao.min@acme.test"],
        input="Subject: via msmtp\n\nhello from msmtp\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    subjects = [
        m.split(b"Subject: ")[1].split(b"\r\n")[0]
        for m in await smtp.inbox("wang.wei@acme.test") + await smtp.inbox("zhao.min@acme.test")
    ]
    assert sorted(subjects) == [b"via msmtp", b"via swaks", b"via swaks"]


async def test_auth_plain_malformed_and_authzid(smtp: Smtp, client_tls: ssl.SSLContext) -> None:
    def conversation() -> list[tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", smtp.submission, timeout=20) as client:
            client.starttls(context=client_tls)
            client.ehlo()
            proxy = base64.b64encode(f"wang.wei@acme.test\0li.na@acme.test\0{PW}".encode())
            return [
                client.docmd("AUTH PLAIN", "not-base64!"),
                client.docmd("AUTH PLAIN", proxy.decode()),
            ]

    for code, text in await in_thread(conversation):
        assert (code, text) == (535, b"5.7.8 Authentication credentials invalid")
