"""`mailgate account forwarding ADDRESS [--remove]`, in process, with the operator and with `--as`
an organisation admin (may) and a helpdesk account (may not); the forwarding itself is set and
confirmed by the person through the services, as the portal does."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from pathlib import Path

from tests.cli.conftest import Mailgate

from mailgate.bootstrap import Runtime
from mailgate.domain.access import operator
from mailgate.settings import load_settings

PW = "a-long-enough-password"
LI = "li.na@acme.test"
PEER = "wang.fang@acme.test"
_CODE = re.compile(r"\b(\d{6})\b")


def _forward(data_dir: Path, address: str, target: str) -> None:
    """`address` forwards to `target` with a copy, confirmed with the code sent there."""

    async def main() -> None:
        runtime = Runtime(load_settings(environ={}, data_dir=data_dir))
        async with runtime.services() as s:
            person = await s.identity.act_as(address)
            await s.forwarding.set(person, target, keep_copy=True)
            found, _ = await s.mailstore.messages(operator("cli:test"), target)
            raw = await s.mailstore.read(found[-1].blob_id)
            subject = str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"])
            await s.forwarding.verify(person, _CODE.findall(subject)[-1])

    asyncio.run(main())


def test_show_and_remove_a_forwarding(mailgate: Mailgate, initialised: str, data_dir: Path) -> None:
    for address in (LI, PEER, "boss@acme.test", "desk@acme.test", "other@beta.test"):
        mailgate(
            "account", "create", address, "--password-stdin", "--skip-first-login", stdin=PW + "\n"
        )
    mailgate("account", "grant", "boss@acme.test", "org_admin", "--org", "acme")
    mailgate("account", "grant", "desk@acme.test", "helpdesk", "--org", "acme")

    nothing = mailgate("--json", "account", "forwarding", LI).json()
    assert nothing["address"] == LI and nothing["target"] is None

    _forward(data_dir, LI, PEER)
    shown = mailgate("--json", "account", "forwarding", LI).json()
    assert (shown["target"], shown["verified"], shown["keep_copy"]) == (PEER, True, True)
    assert shown["created_at"] and shown["verified_at"] and shown["applies"] is True
    table = mailgate("account", "forwarding", LI).out
    assert re.search(rf"target\s+{re.escape(PEER)}", table)

    seen = mailgate("--json", "--as", "desk@acme.test", "account", "forwarding", LI).json()
    assert seen["target"] == PEER  # the IT desk sees where the mail goes, may not remove it
    desk = mailgate("--as", "desk@acme.test", "account", "forwarding", LI, "--remove", ok=False)
    assert "may not account write" in desk.err
    hidden = mailgate(
        "--as", "boss@acme.test", "account", "forwarding", "other@beta.test", ok=False
    )
    assert "there is no account" in hidden.err

    removed = mailgate(
        "--json", "--as", "boss@acme.test", "account", "forwarding", LI, "--remove"
    ).json()
    assert removed == {"address": LI, "removed": PEER}
    assert mailgate("--json", "account", "forwarding", LI).json()["target"] is None
    again = mailgate("account", "forwarding", LI, "--remove", ok=False)
    assert "has no forwarding" in again.err

    events = mailgate("--json", "audit", "list", "--limit", "20").json()["items"]
    removal = next(e for e in events if e["action"] == "forwarding.remove")
    assert removal["actor"] == "boss@acme.test" and removal["summary"]["target"] == PEER
