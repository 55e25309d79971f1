"""`mailgate domain dns` and `mailgate queue list|retry|delete`, scope-checked and audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import dkim
from tests.cli.conftest import Mailgate
from tests.outbound.conftest import message

from mailgate.bootstrap import Runtime
from mailgate.services.dkim import sign
from mailgate.settings import load_settings


def _runtime(env: dict[str, str]) -> Runtime:
    """The runtime the CLI under test uses (its data directory)."""
    return Runtime(load_settings(environ=env, data_dir=Path(env["MAILGATE_DATA_DIR"])))


def _enqueue(env: dict[str, str], sender: str, to: str) -> None:
    async def go() -> None:
        async with _runtime(env).services() as services:
            await services.outbound.enqueue(sender, [to], message(sender=sender, to=to))

    asyncio.run(go())


def test_domain_dns_prints_the_records_to_publish(mailgate: Mailgate, initialised: str) -> None:
    out = mailgate("domain", "dns", "acme.test", "--host", "mail.acme.test").out
    assert "MX" in out and "10 mail.acme.test." in out
    assert "v=spf1 mx a:mail.acme.test -all" in out
    assert "_dmarc.acme.test." in out and "v=DMARC1; p=quarantine" in out
    items = mailgate("--json", "domain", "dns", "acme.test").json()["items"]
    rows = {(r["name"], r["type"]): r["value"] for r in items}
    assert rows["mg2026._domainkey.acme.test.", "TXT"].startswith("v=DKIM1; k=rsa; p=MII")
    assert ("acme.test.", "MX") in rows


def test_the_published_key_verifies_what_is_signed(
    mailgate: Mailgate, initialised: str, cli_env: dict[str, str]
) -> None:
    rows = mailgate("--json", "domain", "dns", "acme.test").json()["items"]
    record = next(r["value"] for r in rows if "_domainkey" in r["name"])

    async def key_sign() -> bytes:
        async with _runtime(cli_env).services() as services:
            from mailgate.domain.access import SYSTEM

            key = await services.dkim.ensure_key(SYSTEM, "acme.test")
            return sign(message(), key)

    signed = asyncio.run(key_sign())
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record.encode())


def test_queue_list_retry_delete(
    mailgate: Mailgate, initialised: str, cli_env: dict[str, str]
) -> None:
    _enqueue(cli_env, "li.na@acme.test", "bob@remote.test")
    _enqueue(cli_env, "x@beta.test", "eve@remote.test")
    listing = mailgate("--json", "queue", "list").json()
    assert listing["total"] == 2
    first = listing["items"][0]
    assert first["from"] == "li.na@acme.test" and first["state"] == "queued"
    assert first["per_recipient"][0]["address"] == "bob@remote.test"
    table = mailgate("queue", "list").out
    assert "bob@remote.test" in table and "eve@remote.test" in table

    # An org admin of acme sees and manages acme's mail only.
    mailgate(
        "account",
        "create",
        "boss@acme.test",
        "--password-stdin",
        "--skip-first-login",
        stdin="a-long-enough-password\n",
    )
    mailgate("account", "grant", "boss@acme.test", "org_admin", "--org", "acme")
    mine = mailgate("--as", "boss@acme.test", "--json", "queue", "list").json()
    assert [i["from"] for i in mine["items"]] == ["li.na@acme.test"]
    beta_id = str(listing["items"][1]["id"])
    denied = mailgate("--as", "boss@acme.test", "queue", "delete", beta_id, ok=False)
    assert "no queued message" in denied.err

    acme_id = str(first["id"])
    mailgate("--as", "boss@acme.test", "queue", "retry", acme_id)
    mailgate("queue", "delete", beta_id)
    assert mailgate("--json", "queue", "list").json()["total"] == 1
    missing = mailgate("queue", "retry", "4242", ok=False)
    assert "no queued message 4242" in missing.err
    audit = mailgate("--json", "audit", "list").out
    assert "queue.retry" in audit and "queue.delete" in audit
