"""The login and app-password commands, in process."""

from __future__ import annotations

import re

from tests.cli.conftest import Mailgate

PW = "a-long-enough-password"


def test_app_password_and_login_commands(mailgate: Mailgate, initialised: str) -> None:
    for address in ("li.na@acme.test", "boss@acme.test", "other@acme.test"):
        mailgate(
            "account", "create", address, "--password-stdin", "--skip-first-login", stdin=PW + "\n"
        )
    mailgate("account", "grant", "boss@acme.test", "org_admin", "--org", "acme")
    made = mailgate(
        "--json",
        "app-password",
        "create",
        "li.na@acme.test",
        "--name",
        "iPhone Mail",
        "--scope",
        "imap,smtp",
        "--expires",
        "2099-12-31",
    ).json()
    assert re.fullmatch(r"[a-z]{4}(-[a-z]{4}){4}", made["password"])
    assert made["scopes"] == "imap,smtp"
    listed = mailgate("--json", "app-password", "list", "li.na@acme.test").json()["items"]
    assert [a["name"] for a in listed] == ["iPhone Mail"]
    assert made["password"] not in str(listed)
    mailgate("--as", "other@acme.test", "app-password", "list", "li.na@acme.test", ok=False)
    mailgate("--as", "boss@acme.test", "app-password", "revoke", "li.na@acme.test", "iPhone Mail")
    assert mailgate("--json", "app-password", "list", "li.na@acme.test").json()["items"] == []
    assert mailgate("--json", "login", "list", "li.na@acme.test").json()["items"] == []
    found = mailgate("--json", "login", "search", "--org", "acme", "--result", "failure").json()
    assert found["total"] == 0
    csv = mailgate("login", "search", "--org", "acme", "--csv").out
    assert csv.startswith("occurred_at,username,protocol,ip,client_id,result,reason")
    mailgate("--as", "other@acme.test", "login", "search", "--org", "acme", ok=False)
