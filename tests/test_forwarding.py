"""Mail forwarding on both backends: set, verify (wrong, expired, used-up codes), remove; the
policy's none / internal / external; no forwarding to the mailbox itself or into a loop; and
delivery through services.delivery: a local target with and without a copy in the INBOX, a
remote target ending in the outbound queue, the copy kept when the target cannot take it, and a
loop A -> B -> A stopped without losing the message."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.clock import FakeClock
from tests.conftest import FAST_HASHER

from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import AccountAction
from mailgate.domain.errors import InvalidInput, NotFound, PermissionDenied
from mailgate.domain.forwarding import Forwarding
from mailgate.services.container import Services
from mailgate.services.delivery import RecipientVerdict
from mailgate.services.factors import FactorConfig
from mailgate.services.forwarding import (
    ForwardingLoop,
    ForwardingOff,
    InternalOnly,
    OwnAddress,
    UnknownTarget,
)
from mailgate.services.recovery import AlreadyVerified, CodeRefused, CodeShape, TooManyCodes
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

USER = "li.na@a.test"
PEER = "wang.fang@a.test"
PW = "correct horse battery staple"
OUTSIDE = "li.na@example.net"
T0 = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
_CODE = re.compile(r"\b(\d{6})\b")
MESSAGE = b"From: x@example.org\r\nTo: li.na@a.test\r\nSubject: quarterly report\r\n\r\nhello\r\n"


def _text(raw: bytes) -> str:
    """Subject and plain body of a stored message, decoded."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    part = message.get_body(("plain",))
    body = str(part.get_content()) if part is not None else ""
    return f"{message['Subject']}\n{body}"


@dataclass
class World:
    s: Services
    clock: FakeClock
    root: Actor
    user: Actor
    peer: Actor

    async def subjects(self, address: str) -> list[str]:
        found, _ = await self.s.mailstore.messages(self.root, address)
        out = []
        for item in found:
            raw = await self.s.mailstore.read(item.blob_id)
            out.append(str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]))
        return out

    async def bodies(self, address: str) -> list[str]:
        found, _ = await self.s.mailstore.messages(self.root, address)
        return [_text(await self.s.mailstore.read(i.blob_id)) for i in found]

    async def queued(self, address: str) -> list[str]:
        items, _ = await self.s.outbound.list(self.root)
        out = []
        for item in items:
            if address in [r.address for r in item.recipients]:
                out.append(_text(await self.s.mailstore.read(item.blob_id)))
        return out

    async def code_in_inbox(self, address: str) -> str:
        bodies = [b for b in await self.bodies(address) if "Confirm mail forwarding" in b]
        return _CODE.findall(bodies[-1])[-1]

    async def code_in_queue(self, address: str) -> str:
        bodies = [b for b in await self.queued(address) if "Confirm mail forwarding" in b]
        return _CODE.findall(bodies[-1])[-1]

    async def receive(self, recipient: str, data: bytes = MESSAGE) -> RecipientVerdict:
        """What the MX does with one recipient: resolve, queue remote, store local."""
        found = await self.s.delivery.resolve(recipient, "x@example.org", len(data))
        if found.remote:
            await self.s.outbound.enqueue("x@example.org", found.remote, data)
        if found.account_ids:
            await self.s.delivery.deliver("x@example.org", found.account_ids, data)
        return found.verdict


@pytest.fixture
async def w(database: Database, tmp_path: Path, root: Actor) -> World:
    clock = FakeClock(T0)
    s = Services.build(
        SqlUnitOfWorkFactory(database),
        clock,
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        factors=FactorConfig(secret_key=b"k" * 32),
        portal_url="https://mail.a.test",
    )
    for x in ("a", "b"):
        await s.organisations.create(root, f"org-{x}", f"Org {x.upper()}")
        await s.organisations.add_domain(root, f"org-{x}", f"{x}.test")
        await s.accounts.create(root, f"admin@{x}.test", password=PW, skip_first_login=True)
        await s.accounts.grant_role(root, f"admin@{x}.test", Role.ORG_ADMIN, f"org-{x}")
    await s.accounts.create(root, "desk@a.test", password=PW, skip_first_login=True)
    await s.accounts.grant_role(root, "desk@a.test", Role.HELPDESK, "org-a")
    for address in (USER, PEER, "zhao@b.test"):
        await s.accounts.create(root, address, password=PW, skip_first_login=True, language="en")
    return World(s, clock, root, await s.identity.act_as(USER), await s.identity.act_as(PEER))


async def forward(w: World, target: str = PEER, keep_copy: bool = False) -> None:
    await w.s.forwarding.set(w.user, target, keep_copy)
    await w.s.forwarding.verify(w.user, await w.code_in_inbox(target))


async def allow(w: World, scope: str) -> None:
    await w.s.policies.add(w.root, "org-a", "fwd", position=1, settings={"forwarding": scope})


# --- set, verify, remove ----------------------------------------------------------------------


async def test_set_sends_a_code_to_the_target_and_verify_turns_it_on(w: World) -> None:
    pending = await w.s.forwarding.set(w.user, " Wang.Fang@A.TEST ", keep_copy=False)
    assert (pending.target, pending.keep_copy, pending.verified) == (
        "Wang.Fang@a.test",
        False,
        False,
    )
    assert await w.s.forwarding.get(w.user) == pending
    # Nothing is forwarded before the code is entered.
    assert await w.receive(USER) is RecipientVerdict.LOCAL
    assert "quarterly report" in await w.subjects(USER)
    assert "quarterly report" not in await w.subjects(PEER)

    code = await w.code_in_inbox(PEER)
    body = next(b for b in await w.bodies(PEER) if code in b)
    assert "li.na@a.test asked to forward its mail to this address" in body
    done = await w.s.forwarding.verify(w.user, f"{code[:3]} {code[3:]}")
    assert done.verified and done.verified_at == w.clock.now()
    with pytest.raises(AlreadyVerified):
        await w.s.forwarding.verify(w.user, code)
    # The owner was told at each step (in the mailbox; recovery contacts too, through
    # to_account), and every change is in the audit log.
    told = [s for s in await w.subjects(USER) if s == "The forwarding of your mail changed"]
    assert len(told) == 2
    events, _ = await w.s.audit.list(w.root, limit=200)
    actions = [e.action for e in events if e.target == f"account:{USER}"]
    assert {"forwarding.set", "forwarding.verify"} <= set(actions)


async def test_remove_stops_forwarding_and_tells_the_owner(w: World) -> None:
    await forward(w)
    await w.s.forwarding.remove(w.user)
    assert await w.s.forwarding.get(w.user) is None
    await w.receive(USER)
    assert "quarterly report" in await w.subjects(USER)
    assert "quarterly report" not in await w.subjects(PEER)
    bodies = [b for b in await w.bodies(USER) if "was removed" in b]
    assert bodies and PEER in bodies[0]
    with pytest.raises(NotFound):
        await w.s.forwarding.remove(w.user)


async def test_admins_may_see_and_remove_but_not_others(w: World) -> None:
    await forward(w)
    admin = await w.s.identity.act_as("admin@a.test")
    assert (await w.s.forwarding.get(admin, USER) or Forwarding(0, "", True, T0)).target == PEER
    with pytest.raises(NotFound):
        await w.s.forwarding.get(await w.s.identity.act_as("admin@b.test"), USER)
    with pytest.raises(PermissionDenied):  # the helpdesk reads accounts but does not change them
        await w.s.forwarding.remove(await w.s.identity.act_as("desk@a.test"), USER)
    with pytest.raises(NotFound):  # another person of the organisation sees nothing
        await w.s.forwarding.remove(w.peer, USER)
    await w.s.forwarding.remove(admin, USER)
    assert await w.s.forwarding.get(w.user) is None
    events, _ = await w.s.audit.list(w.root, limit=200)
    assert any(e.action == "forwarding.remove" and e.actor == "admin@a.test" for e in events)


async def test_wrong_codes_count_and_spend_the_code(w: World) -> None:
    await w.s.forwarding.set(w.user, PEER, keep_copy=True)
    code = await w.code_in_inbox(PEER)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(CodeShape):
        await w.s.forwarding.verify(w.user, "12ab")
    lefts = []
    for _ in range(5):
        with pytest.raises(CodeRefused) as refused:
            await w.s.forwarding.verify(w.user, wrong)
        lefts.append(refused.value.attempts_left)
    assert lefts == [4, 3, 2, 1, 0]
    with pytest.raises(CodeRefused):  # used up: the right code no longer works
        await w.s.forwarding.verify(w.user, code)
    assert not (await w.s.forwarding.get(w.user) or Forwarding(0, "", True, T0, T0)).verified


async def test_an_expired_code_is_refused_and_a_new_set_sends_a_new_one(w: World) -> None:
    await w.s.forwarding.set(w.user, PEER, keep_copy=True)
    old = await w.code_in_inbox(PEER)
    w.clock.advance(minutes=11)
    with pytest.raises(CodeRefused):
        await w.s.forwarding.verify(w.user, old)
    await w.s.forwarding.set(w.user, PEER, keep_copy=True)
    await w.s.forwarding.verify(w.user, await w.code_in_inbox(PEER))


async def test_codes_are_limited_to_five_an_hour(w: World) -> None:
    for _ in range(5):
        await w.s.forwarding.set(w.user, PEER, keep_copy=True)
        w.clock.advance(minutes=1)
    with pytest.raises(TooManyCodes) as limited:
        await w.s.forwarding.set(w.user, PEER, keep_copy=True)
    assert 3000 < limited.value.retry_after <= 3600


# --- where to -----------------------------------------------------------------------------------


async def test_not_to_the_mailbox_itself_nor_into_a_loop(w: World) -> None:
    for same in (USER, "LI.NA@A.TEST"):
        with pytest.raises(OwnAddress):
            await w.s.forwarding.set(w.user, same, keep_copy=True)
    with pytest.raises(InvalidInput):
        await w.s.forwarding.set(w.user, "not an address", keep_copy=True)
    with pytest.raises(UnknownTarget):
        await w.s.forwarding.set(w.user, "nobody@a.test", keep_copy=True)
    await w.s.routes.add_alias(w.root, "team@a.test", [USER])
    with pytest.raises(ForwardingLoop):  # the alias delivers back to this mailbox
        await w.s.forwarding.set(w.user, "team@a.test", keep_copy=True)
    await forward(w)  # li.na -> wang.fang
    with pytest.raises(ForwardingLoop):  # wang.fang -> li.na -> wang.fang
        await w.s.forwarding.set(w.peer, USER, keep_copy=False)
    assert await w.s.forwarding.get(w.peer) is None


async def test_policy_internal_is_the_default(w: World) -> None:
    with pytest.raises(InternalOnly):
        await w.s.forwarding.set(w.user, OUTSIDE, keep_copy=True)
    with pytest.raises(InternalOnly):  # another organisation's domain is outside too
        await w.s.forwarding.set(w.user, "zhao@b.test", keep_copy=True)
    await w.s.forwarding.set(w.user, PEER, keep_copy=True)


async def test_policy_none_allows_nothing(w: World) -> None:
    await allow(w, "none")
    with pytest.raises(ForwardingOff):
        await w.s.forwarding.set(w.user, PEER, keep_copy=True)
    assert await w.s.forwarding.get(w.user) is None
    with pytest.raises(InvalidInput):
        await w.s.policies.add(w.root, "org-a", "bad", position=2, settings={"forwarding": "all"})


async def test_policy_external_forwards_to_the_outbound_queue(w: World) -> None:
    await allow(w, "external")
    await w.s.forwarding.set(w.user, OUTSIDE, keep_copy=False)
    await w.s.forwarding.verify(w.user, await w.code_in_queue(OUTSIDE))
    assert await w.receive(USER) is RecipientVerdict.LOCAL
    (queued,) = [b for b in await w.queued(OUTSIDE) if "quarterly report" in b]
    assert "hello" in queued
    assert "quarterly report" not in await w.subjects(USER)
    # An administrator turning forwarding off stops it without touching the stored target (the
    # delivery cache forgets after its TTL; bumped here as a directory change would).
    await w.s.policies.change(w.root, "org-a", "fwd", settings={"forwarding": "internal"})
    w.s.delivery.cache.bump()
    await w.receive(USER)
    assert "quarterly report" in await w.subjects(USER)
    assert len([b for b in await w.queued(OUTSIDE) if "quarterly report" in b]) == 1


# --- delivery -------------------------------------------------------------------------------


async def test_local_target_without_a_copy(w: World) -> None:
    await forward(w, keep_copy=False)
    found = await w.s.delivery.resolve(USER, "x@example.org")
    peer_id = (await w.s.identity.act_as(PEER)).account_id
    assert found.account_ids == [peer_id] and found.remote == []
    await w.receive(USER)
    assert "quarterly report" in await w.subjects(PEER)
    assert "quarterly report" not in await w.subjects(USER)


async def test_local_target_with_a_copy(w: World) -> None:
    await forward(w, keep_copy=True)
    await w.receive(USER)
    assert "quarterly report" in await w.subjects(PEER)
    assert "quarterly report" in await w.subjects(USER)


async def test_the_account_keeps_its_copy_when_the_target_cannot_take_it(w: World) -> None:
    await forward(w, keep_copy=False)
    await w.s.accounts.change_state(w.root, PEER, AccountAction.DISABLE)
    assert await w.receive(USER) is RecipientVerdict.LOCAL
    assert "quarterly report" in await w.subjects(USER)


async def test_a_loop_made_behind_the_service_stops_and_loses_nothing(w: World) -> None:
    """A -> B -> A, both without copies (e.g. written by two nodes at once): the expansion's
    `seen` set stops it, and the message lands in one of the two mailboxes exactly once."""
    ids = {a: (await w.s.identity.act_as(a)).account_id or 0 for a in (USER, PEER)}
    async with w.s.forwarding.uow() as uow:
        await uow.forwarding.put(Forwarding(ids[USER], PEER, False, T0, T0))
        await uow.forwarding.put(Forwarding(ids[PEER], USER, False, T0, T0))
        await uow.commit()
    found = await w.s.delivery.resolve(USER, "x@example.org")
    assert found.verdict is RecipientVerdict.LOCAL and len(found.account_ids) == 1
    await w.receive(USER)
    got = await w.subjects(USER) + await w.subjects(PEER)
    assert got.count("quarterly report") == 1


async def test_a_change_reaches_delivery_at_once(w: World) -> None:
    assert await w.s.delivery.resolve(USER, None)  # fills the directory cache
    await forward(w, keep_copy=False)
    peer_id = (await w.s.identity.act_as(PEER)).account_id
    assert (await w.s.delivery.resolve(USER, None)).account_ids == [peer_id]
    await w.s.forwarding.remove(w.user)
    user_id = w.user.account_id
    assert (await w.s.delivery.resolve(USER, None)).account_ids == [user_id]
