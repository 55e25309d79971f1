"""API tokens on both backends: listed by a non-secret handle and revoked one by one, the revoked
token refused by the real JSON API over HTTP; who may list and revoke; an administrator's
lockdown and the person's "this wasn't me" revoke every token and remove the forwarding (mail
then lands in the INBOX only, through the real delivery service), and neither an unlock nor a
new password brings a token back; a self-service password reset revokes the tokens but keeps
the forwarding. Also `mailgate token list|revoke` through the real command line."""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from tests.clock import FakeClock
from tests.conftest import FAST_HASHER
from typer.testing import CliRunner

from mailgate.bootstrap import Runtime
from mailgate.cli.main import build_cli
from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import AccountState, RequiredAction
from mailgate.domain.errors import AuthenticationFailed, InvalidInput, NotFound
from mailgate.domain.recovery import ContactKind
from mailgate.services.container import Services
from mailgate.services.delivery import RecipientVerdict
from mailgate.services.factors import FactorConfig
from mailgate.services.identity import token_hash
from mailgate.services.sms import FileSmsSender
from mailgate.settings import Settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.tables import api_tokens
from mailgate.storage.uow import SqlUnitOfWorkFactory
from mailgate.web.app import create_app

USER = "li.na@a.test"
PEER = "wang.fang@a.test"
ADMIN = "admin@a.test"
PW = "correct horse battery staple"
NEW_PW = "a river of tea leaves in autumn"
PHONE = "+8613800138000"
IP = "198.51.100.7"
T0 = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
API = "/api/v1/organisations"
_CODE = re.compile(r"\b(\d{6})\b")


def _message(subject: str) -> bytes:
    return (f"From: x@example.org\r\nTo: {USER}\r\nSubject: {subject}\r\n\r\nhello\r\n").encode()


def _parsed(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def _body(message: email.message.EmailMessage) -> str:
    part = message.get_body(("plain",))
    return str(part.get_content()) if part is not None else ""


@dataclass
class World:
    s: Services
    clock: FakeClock
    sms: FileSmsSender
    http: httpx.AsyncClient
    database: Database
    root: Actor
    user: Actor
    admin: Actor

    async def call_api(self, token: str) -> int:
        """The status of a real API call with `token` (200, or 401 when it is refused)."""
        headers = {"Authorization": f"Bearer {token}"}
        return (await self.http.get(API, headers=headers)).status_code

    async def inbox(self, address: str) -> list[email.message.EmailMessage]:
        found, _ = await self.s.mailstore.messages(self.root, address)
        return [_parsed(await self.s.mailstore.read(i.blob_id)) for i in found]

    async def subjects(self, address: str) -> list[str]:
        return [str(m["Subject"]) for m in await self.inbox(address)]

    async def receive(self, subject: str) -> RecipientVerdict:
        """What the MX does with a message for USER: resolve, queue remote, store local."""
        data = _message(subject)
        found = await self.s.delivery.resolve(USER, "x@example.org", len(data))
        if found.remote:
            await self.s.outbound.enqueue("x@example.org", found.remote, data)
        if found.account_ids:
            await self.s.delivery.deliver("x@example.org", found.account_ids, data)
        return found.verdict

    async def forward_to_peer(self) -> None:
        """USER forwards to PEER without keeping a copy, confirmed with the code PEER got."""
        await self.s.forwarding.set(self.user, PEER, keep_copy=False)
        bodies = [_body(m) for m in await self.inbox(PEER) if "forwarding" in str(m["Subject"])]
        await self.s.forwarding.verify(self.user, _CODE.findall(bodies[-1])[-1])

    async def events(self, action: str) -> list[Any]:
        found, _ = await self.s.audit.list(self.root, 0, 500)
        return [e for e in found if e.action == action and e.target == f"account:{USER}"]


@pytest.fixture
async def w(database: Database, tmp_path: Path, root: Actor) -> AsyncIterator[World]:
    clock = FakeClock(T0)
    sms = FileSmsSender(tmp_path / "sms.jsonl")
    s = Services.build(
        SqlUnitOfWorkFactory(database),
        clock,
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        factors=FactorConfig(secret_key=b"k" * 32),
        portal_url="https://mail.a.test",
        sms=sms,
    )
    for x in ("a", "b"):
        await s.organisations.create(root, f"org-{x}", f"Org {x.upper()}")
        await s.organisations.add_domain(root, f"org-{x}", f"{x}.test")
        await s.accounts.create(root, f"admin@{x}.test", password=PW, skip_first_login=True)
        await s.accounts.grant_role(root, f"admin@{x}.test", Role.ORG_ADMIN, f"org-{x}")
    await s.accounts.create(root, "desk@a.test", password=PW, skip_first_login=True)
    await s.accounts.grant_role(root, "desk@a.test", Role.HELPDESK, "org-a")
    for address in (USER, PEER):
        await s.accounts.create(root, address, password=PW, skip_first_login=True, language="en")
    app = create_app(s, Settings(data_dir=tmp_path / "data"))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield World(
            s,
            clock,
            sms,
            http,
            database,
            root,
            await s.identity.act_as(USER),
            await s.identity.act_as(ADMIN),
        )
    await s.alerts.drain()


# --- list and revoke ----------------------------------------------------------------------------


async def test_list_shows_handles_and_a_revoked_token_is_refused_by_the_api(w: World) -> None:
    old = await w.s.identity.create_api_token(w.user, USER, "backup script")
    w.clock.advance(minutes=5)
    new = await w.s.identity.create_api_token(w.user, USER, "ticket bot", date(2026, 12, 31))
    assert (await w.call_api(old), await w.call_api(new)) == (200, 200)

    listed = await w.s.api_tokens.list(w.user, USER)
    assert [(t.name, t.created_at, t.expires_on) for t in listed] == [
        ("ticket bot", T0 + timedelta(minutes=5), date(2026, 12, 31)),
        ("backup script", T0, None),
    ]
    assert [t.handle for t in listed] == [token_hash(new)[:12], token_hash(old)[:12]]
    assert not any(old in repr(t) or new in repr(t) for t in listed)  # never the token

    gone = await w.s.api_tokens.revoke(w.user, USER, f" {listed[1].handle.upper()} ")
    assert gone.name == "backup script"
    refused = await w.http.get(API, headers={"Authorization": f"Bearer {old}"})
    assert refused.status_code == 401 and refused.json()["error"] == "authentication_failed"
    assert await w.call_api(new) == 200  # the other one still works
    assert [t.name for t in await w.s.api_tokens.list(w.user, USER)] == ["ticket bot"]
    (event,) = await w.events("api_token.revoke")
    assert event.actor == USER and event.summary == {
        "handle": token_hash(old)[:12],
        "name": "backup script",
    }

    with pytest.raises(NotFound):  # already revoked
        await w.s.api_tokens.revoke(w.user, USER, token_hash(old)[:12])
    for malformed in ("", "abc", "%", token_hash(new)[:11], "g" * 12):
        with pytest.raises(InvalidInput, match="12 hex digits"):
            await w.s.api_tokens.revoke(w.user, USER, malformed)
    # The whole hash names a token as well as its handle.
    await w.s.api_tokens.revoke(w.admin, USER, token_hash(new))
    assert await w.call_api(new) == 401
    assert await w.s.api_tokens.list(w.user, USER) == []


async def test_tokens_from_before_the_creation_time_are_listed_last(w: World) -> None:
    legacy = await w.s.identity.create_api_token(w.user, USER, "legacy")
    w.clock.advance(minutes=1)
    await w.s.identity.create_api_token(w.user, USER, "recent")
    async with w.database.writer.begin() as conn:  # as migration 0015 leaves older tokens
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_hash == token_hash(legacy))
            .values(created_at=None)
        )
    w.clock.advance(minutes=1)
    await w.s.identity.create_api_token(w.user, USER, "newest")
    listed = await w.s.api_tokens.list(w.user, USER)
    assert [(t.name, t.created_at is None) for t in listed] == [
        ("newest", False),
        ("recent", False),
        ("legacy", True),
    ]


async def test_only_the_account_and_its_admins_may_list_and_revoke(w: World) -> None:
    token = await w.s.identity.create_api_token(w.user, USER, "script")
    handle = token_hash(token)[:12]
    peer = await w.s.identity.act_as(PEER)
    beta_admin = await w.s.identity.act_as("admin@b.test")
    desk = await w.s.identity.act_as("desk@a.test")
    for stranger in (peer, beta_admin):
        with pytest.raises(NotFound):
            await w.s.api_tokens.list(stranger, USER)
        with pytest.raises(NotFound):
            await w.s.api_tokens.revoke(stranger, USER, handle)
    # A person's own account is no door to another's tokens, even with a right handle.
    with pytest.raises(NotFound):
        await w.s.api_tokens.revoke(peer, PEER, handle)
    # The helpdesk may look (ACCOUNT_READ) but not revoke (ACCOUNT_WRITE).
    assert [t.handle for t in await w.s.api_tokens.list(desk, USER)] == [handle]
    with pytest.raises(NotFound):
        await w.s.api_tokens.revoke(desk, USER, handle)
    assert await w.call_api(token) == 200
    assert await w.events("api_token.revoke") == []
    # The organisation's admin may do both.
    assert [t.name for t in await w.s.api_tokens.list(w.admin, USER)] == ["script"]
    await w.s.api_tokens.revoke(w.admin, USER, handle)
    assert await w.call_api(token) == 401
    (event,) = await w.events("api_token.revoke")
    assert event.actor == ADMIN


# --- lockdown, "this wasn't me", password reset -----------------------------------------------


async def test_lockdown_revokes_tokens_and_forwarding_for_good(w: World) -> None:
    token = await w.s.identity.create_api_token(w.user, USER, "script")
    await w.forward_to_peer()
    await w.receive("before the lockdown")
    assert "before the lockdown" in await w.subjects(PEER)
    assert "before the lockdown" not in await w.subjects(USER)

    result = await w.s.account_admin.lockdown(w.admin, USER, "phishing reported")
    assert (result.api_tokens_revoked, result.forwarding_removed) == (1, True)
    assert await w.call_api(token) == 401
    assert await w.s.api_tokens.list(w.admin, USER) == []
    assert await w.s.forwarding.get(w.admin, USER) is None
    (event,) = await w.events("account.lockdown")
    assert (event.summary["api_tokens_revoked"], event.summary["forwarding_removed"]) == (1, True)
    (revoked,) = await w.events("api_token.revoke_all")
    assert revoked.summary == {"count": 1} and revoked.actor == ADMIN
    (removed,) = await w.events("forwarding.remove")
    assert removed.summary == {"target": PEER, "verified": True, "by": "account.lockdown"}
    # The notices say so.
    (secured,) = [m for m in await w.inbox(USER) if m["Subject"] == "Your account was secured"]
    assert "API token" in _body(secured) and "forwarding" in _body(secured)
    (to_admin,) = [m for m in await w.inbox(ADMIN) if "紧急锁定" in str(m["Subject"])]
    text = _body(to_admin)  # the admin reads Chinese (the default language)
    assert "全部 API 令牌已撤销（1 个）" in text and "邮件转发已删除（1 个）" in text

    # Unlocked, with a new password, the account works again; the old token never does.
    await w.s.account_admin.unlock(w.admin, USER)
    await w.s.credentials.change_password(
        w.user, NEW_PW, current_password=None, keep_session_hash=None, client_ip=IP
    )
    account = await w.s.accounts.get(w.root, USER)
    assert account.state is AccountState.ACTIVE and account.required_actions == []
    assert await w.call_api(token) == 401
    assert await w.call_api(await w.s.identity.create_api_token(w.user, USER, "new")) == 200
    # And the mail stays home.
    assert await w.receive("after the lockdown") is RecipientVerdict.LOCAL
    assert "after the lockdown" in await w.subjects(USER)
    assert "after the lockdown" not in await w.subjects(PEER)


async def test_lockdown_also_removes_a_forwarding_still_waiting_for_its_code(w: World) -> None:
    await w.s.forwarding.set(w.user, PEER, keep_copy=False)
    code = _CODE.findall(_body((await w.inbox(PEER))[-1]))[-1]
    result = await w.s.account_admin.lockdown(w.admin, USER, "stolen laptop")
    assert (result.api_tokens_revoked, result.forwarding_removed) == (0, True)
    assert await w.events("api_token.revoke_all") == []  # nothing to revoke, nothing audited
    (removed,) = await w.events("forwarding.remove")
    assert removed.summary["verified"] is False
    with pytest.raises(NotFound):  # the pending code died with it
        await w.s.forwarding.verify(w.user, code)


async def test_not_me_removes_forwarding_and_tokens(w: World) -> None:
    token = await w.s.identity.create_api_token(w.user, USER, "script")
    await w.forward_to_peer()
    await w.receive("read by the intruder")
    assert "read by the intruder" in await w.subjects(PEER)

    report = await w.s.alerts.report_not_me(w.user, None, IP)
    assert (report.api_tokens_revoked, report.forwarding_removed) == (1, True)
    assert await w.call_api(token) == 401
    assert await w.s.forwarding.get(w.user) is None
    (event,) = await w.events("account.not_me")
    assert (event.summary["api_tokens_revoked"], event.summary["forwarding_removed"]) == (1, True)
    (removed,) = await w.events("forwarding.remove")
    assert removed.actor == USER and removed.summary["by"] == "account.not_me"

    assert await w.receive("after the report") is RecipientVerdict.LOCAL
    assert "after the report" in await w.subjects(USER)
    assert "after the report" not in await w.subjects(PEER)
    secured = [m for m in await w.inbox(USER) if m["Subject"] == "Your account was secured"]
    assert len(secured) == 1 and "API token" in _body(secured[0])
    await w.s.alerts.drain()
    (to_admin,) = [m for m in await w.inbox(ADMIN) if "非本人登录" in str(m["Subject"])]
    assert "撤销所有客户端专用密码和 API 令牌、删除邮件转发（如有）" in _body(to_admin)

    # A new password later does not bring the token back.
    await w.s.credentials.change_password(
        w.user, NEW_PW, current_password=None, keep_session_hash=None, client_ip=IP
    )
    assert (
        RequiredAction.UPDATE_PASSWORD
        not in (await w.s.accounts.get(w.root, USER)).required_actions
    )
    assert await w.call_api(token) == 401


async def test_password_reset_revokes_tokens_but_keeps_the_forwarding(w: World) -> None:
    contact = await w.s.recovery.add(w.user, USER, ContactKind.PHONE, PHONE)
    sent = [m["text"] for m in w.sms.messages() if m["to"] == PHONE]
    await w.s.recovery.verify(w.user, USER, contact, _CODE.findall(sent[-1])[0])
    token = await w.s.identity.create_api_token(w.user, USER, "script")
    await w.forward_to_peer()
    assert await w.call_api(token) == 200

    w.clock.advance(minutes=2)
    await w.s.reset.request_reset(USER, IP)
    sent = [m["text"] for m in w.sms.messages() if m["to"] == PHONE]
    ticket = await w.s.reset.verify_code(USER, _CODE.findall(sent[-1])[0], IP)
    assert ticket is not None
    assert await w.s.reset.complete(ticket, NEW_PW, IP) == USER

    assert await w.call_api(token) == 401
    with pytest.raises(AuthenticationFailed):
        await w.s.identity.api_actor(token, IP)
    assert await w.s.api_tokens.list(w.user, USER) == []
    (revoked,) = await w.events("api_token.revoke_all")
    assert revoked.actor == USER and revoked.summary == {"count": 1}
    kept = await w.s.forwarding.get(w.user)
    assert kept is not None and kept.target == PEER and kept.verified
    (reset,) = [m for m in await w.inbox(USER) if m["Subject"] == "Your password was reset"]
    assert "every app password and API token was revoked" in _body(reset)


# --- the command line ----------------------------------------------------------------------------

CliCall = Callable[..., tuple[int, str, str]]


@pytest.fixture
def mailgate(cli_env: dict[str, str]) -> CliCall:
    """`mailgate` in this process on a fresh data dir (the command line an operator runs)."""
    app = build_cli(Runtime)
    runner = CliRunner()

    def call(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        res = runner.invoke(app, list(args), input=stdin, env=cli_env, catch_exceptions=False)
        return res.exit_code, res.stdout, res.stderr

    return call


def test_cli_lists_and_revokes_tokens(mailgate: CliCall) -> None:
    def ok(*args: str, stdin: str | None = None) -> str:
        code, out, err = mailgate(*args, stdin=stdin)
        assert code == 0, (args, out, err)
        return out

    ok("init", "--admin", "root@ops.test", "--password-stdin", stdin="root-password-123\n")
    ok("org", "create", "acme", "--name", "Acme 公司")
    ok("domain", "add", "acme.test", "--org", "acme")
    for address in ("li@acme.test", "wang@acme.test"):
        ok("account", "create", address, "--password-stdin", "--skip-first-login", stdin=PW + "\n")
    help_text = ok("token", "--help")
    assert "create" in help_text and "list" in help_text and "revoke" in help_text

    first = json.loads(ok("--json", "--as", "li@acme.test", "token", "create", "li@acme.test"))
    ok("--json", "token", "create", "li@acme.test", "--name", "ci", "--expires", "2030-01-31")
    items = json.loads(ok("--json", "--as", "li@acme.test", "token", "list", "li@acme.test"))[
        "items"
    ]
    assert sorted((i["name"], i["expires_on"]) for i in items) == [
        ("api", None),
        ("ci", "2030-01-31"),
    ]
    assert all(i["created_at"] and len(i["handle"]) == 12 for i in items)
    assert first["token"] not in json.dumps(items)
    handle = token_hash(first["token"])[:12]
    assert handle in ok("token", "list", "li@acme.test")  # the table for people

    # Another person of the organisation sees nothing and revokes nothing.
    code, _, err = mailgate("--as", "wang@acme.test", "token", "list", "li@acme.test")
    assert code != 0 and "there is no account" in err
    code, _, err = mailgate("--as", "wang@acme.test", "token", "revoke", "li@acme.test", handle)
    assert code != 0 and "there is no account" in err
    code, _, err = mailgate("token", "revoke", "li@acme.test", "not-a-handle")
    assert code != 0 and "12 hex digits" in err

    done = json.loads(
        ok("--json", "--as", "li@acme.test", "token", "revoke", "li@acme.test", handle)
    )
    assert done == {"address": "li@acme.test", "revoked": "api", "handle": handle}
    left = json.loads(ok("--json", "token", "list", "li@acme.test"))["items"]
    assert [i["name"] for i in left] == ["ci"]
    code, _, err = mailgate("token", "revoke", "li@acme.test", handle)
    assert code != 0 and "no API token" in err
