"""`mailgate account lockdown|force-password-change|revoke-sessions` and `login search
--account`, in process, with the operator and with `--as` an admin of lesser rank."""

from __future__ import annotations

from tests.cli.conftest import Mailgate

PW = "a-long-enough-password"
LI = "li.na@acme.test"


def test_account_security_commands(mailgate: Mailgate, initialised: str) -> None:
    for address in (LI, "boss@acme.test", "desk@acme.test", "other@beta.test"):
        mailgate(
            "account", "create", address, "--password-stdin", "--skip-first-login", stdin=PW + "\n"
        )
    mailgate("account", "grant", "boss@acme.test", "org_admin", "--org", "acme")
    mailgate("account", "grant", "desk@acme.test", "helpdesk", "--org", "acme")
    mailgate("app-password", "create", LI, "--name", "Phone", "--scope", "imap")

    assert mailgate("account", "lockdown", LI, ok=False).code == 2  # --reason is required
    blank = mailgate("account", "lockdown", LI, "--reason", " ", ok=False)
    assert "give a reason" in blank.err
    desk = mailgate("--as", "desk@acme.test", "account", "lockdown", LI, "--reason", "x", ok=False)
    assert "may not account write" in desk.err
    own = mailgate(
        "--as", "boss@acme.test", "account", "lockdown", "boss@acme.test", "--reason", "x", ok=False
    )
    assert "your own account" in own.err
    hidden = mailgate(
        "--as",
        "boss@acme.test",
        "account",
        "lockdown",
        "other@beta.test",
        "--reason",
        "x",
        ok=False,
    )
    assert "there is no account" in hidden.err

    done = mailgate(
        "--json", "--as", "boss@acme.test", "account", "lockdown", LI, "--reason", "phishing"
    ).json()
    assert done == {
        "address": LI,
        "state": "locked",
        "state_before": "active",
        "sessions_ended": 0,
        "app_passwords_revoked": 1,
        "api_tokens_revoked": 0,
        "forwarding_removed": False,
        "required_actions": ["update_password"],
    }
    assert mailgate("--json", "app-password", "list", LI).json()["items"] == []
    changed = mailgate("--json", "account", "force-password-change", LI, "--reason", "again")
    assert changed.json() == {"address": LI, "changed": False}
    assert mailgate("--json", "account", "force-password-change", "other@beta.test").json()[
        "changed"
    ]
    ended = mailgate("--json", "account", "revoke-sessions", LI).json()
    assert ended == {"address": LI, "sessions_ended": 0}
    mailgate("--as", "desk@acme.test", "account", "revoke-sessions", LI, ok=False)
    mailgate("--as", "desk@acme.test", "account", "unlock", LI)

    events = mailgate("--json", "audit", "list", "--limit", "20").json()["items"]
    lockdown = next(e for e in events if e["action"] == "account.lockdown")
    assert lockdown["actor"] == "boss@acme.test" and lockdown["summary"]["reason"] == "phishing"
    assert {"account.force_password_change", "account.revoke_sessions"} <= {
        e["action"] for e in events
    }

    found = mailgate("--json", "login", "search", "--account", LI).json()
    assert found["total"] == 0
    mailgate("login", "search", "--account", "nobody@acme.test", ok=False)
    mailgate("--as", "boss@acme.test", "login", "search", "--account", "other@beta.test", ok=False)
