"""An organisation admin acting through the CLI (--as) sees and changes only their own
organisation; helpdesk may unlock and read, nothing more."""

from __future__ import annotations

import pytest
from tests.cli.conftest import Mailgate


@pytest.fixture
def scoped(mailgate: Mailgate, initialised: str) -> Mailgate:
    for address in ("boss@acme.test", "desk@acme.test", "victim@beta.test", "own@acme.test"):
        mailgate(
            "account",
            "create",
            address,
            "--password-stdin",
            "--skip-first-login",
            stdin="a-long-enough-password\n",
        )
    mailgate("account", "grant", "boss@acme.test", "org_admin", "--org", "acme")
    mailgate("account", "grant", "desk@acme.test", "helpdesk", "--org", "acme")
    mailgate("account", "lock", "victim@beta.test")
    mailgate("account", "lock", "own@acme.test")
    return mailgate


FORBIDDEN_FOR_ACME_ADMIN = [
    ("org", "show", "beta"),
    ("org", "create", "evil", "--name", "Evil"),
    ("domain", "add", "evil.test", "--org", "acme"),
    ("domain", "list", "--org", "beta"),
    ("region", "add", "X", "--org", "beta", "--name", "X"),
    ("orgunit", "list", "--org", "beta"),
    ("roster", "list", "--org", "beta"),
    ("account", "show", "victim@beta.test"),
    ("account", "unlock", "victim@beta.test"),
    ("account", "disable", "victim@beta.test"),
    ("account", "create", "new@beta.test"),
    ("account", "list", "--org", "beta"),
    ("account", "grant", "boss@acme.test", "org_admin", "--org", "beta"),
    ("account", "grant", "boss@acme.test", "platform_admin"),
    ("alias", "add", "x@beta.test", "victim@beta.test"),
    ("group", "create", "g@beta.test"),
    ("audit", "verify"),
]


@pytest.mark.parametrize("command", FORBIDDEN_FOR_ACME_ADMIN, ids=" ".join)
def test_org_admin_cannot_touch_another_organisation(
    scoped: Mailgate, command: tuple[str, ...]
) -> None:
    res = scoped("--as", "boss@acme.test", *command, ok=False)
    assert res.code == 1
    assert "there is no" in res.err or "may not" in res.err


def test_org_admin_lists_only_their_own_objects(scoped: Mailgate) -> None:
    orgs = scoped("--as", "boss@acme.test", "--json", "org", "list").json()["items"]
    assert [o["slug"] for o in orgs] == ["acme"]
    accounts = scoped("--as", "boss@acme.test", "--json", "account", "list").json()["items"]
    assert all(a["address"].endswith("@acme.test") for a in accounts) and accounts
    domains = scoped("--as", "boss@acme.test", "--json", "domain", "list").json()["items"]
    assert [d["domain"] for d in domains] == ["acme.test"]
    scoped("--as", "boss@acme.test", "account", "create", "fresh@acme.test")


def test_helpdesk_unlocks_but_does_not_change_anything_else(scoped: Mailgate) -> None:
    scoped("--as", "desk@acme.test", "account", "unlock", "own@acme.test")
    scoped("--as", "desk@acme.test", "account", "show", "own@acme.test")
    for command in (
        ("account", "lock", "own@acme.test"),
        ("account", "create", "n@acme.test"),
        ("alias", "add", "y@acme.test", "own@acme.test"),
    ):
        assert "may not" in scoped("--as", "desk@acme.test", *command, ok=False).err
