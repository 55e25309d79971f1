"""A new activation code from the IT desk: older codes die; the code goes to the applicant's
stated contact, or back to the administrator once for an account made by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import FAST_HASHER
from tests.test_notices_credentials import ManualClock

from mailgate.domain.access import Actor
from mailgate.domain.errors import InvalidTransition, NotFound
from mailgate.domain.recovery import CodePurpose
from mailgate.services.activation import ActivationRefused
from mailgate.services.container import Services
from mailgate.services.sms import FileSmsSender
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

HAND = "hand.made@acme.test"


@pytest.fixture
async def acme(database: Database, tmp_path: Path, root: Actor) -> Services:
    services = Services.build(
        SqlUnitOfWorkFactory(database),
        ManualClock(),
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        sms=FileSmsSender(tmp_path / "sms.jsonl"),
    )
    await services.organisations.create(root, "acme", "Acme")
    await services.organisations.add_domain(root, "acme", "acme.test")
    await services.accounts.create(root, HAND)
    return services


async def test_a_hand_made_account_gets_its_code_once(acme: Services, root: Actor) -> None:
    first = await acme.activation_codes.reissue(root, HAND)
    assert first.sent_to == () and len(first.code) == 14  # ABCD-EFGH-JKMN
    second = await acme.activation_codes.reissue(root, HAND)
    account = await acme.accounts.get(root, HAND)
    async with acme.credentials.uow(write=False) as uow:
        live = await uow.one_time_codes.live(
            account.id, CodePurpose.ACTIVATION, None, acme.activation_codes.clock.now()
        )
    assert len(live) == 1  # the first code was spent
    with pytest.raises(ActivationRefused):
        await acme.activation.start(HAND, first.code, "192.0.2.1", "test")
    started = await acme.activation.start(HAND, second.code, "192.0.2.1", "test")
    assert started.address == HAND
    events, _ = await acme.audit.list(root)
    logged = [e for e in events if e.action == "account.activation_code"]
    assert len(logged) == 2
    assert all(second.code not in json.dumps(e.summary) for e in logged)


async def test_only_pending_accounts_and_only_admins(acme: Services, root: Actor) -> None:
    await acme.accounts.create(root, "active@acme.test", password="x" * 20, skip_first_login=True)
    with pytest.raises(InvalidTransition):
        await acme.activation_codes.reissue(root, "active@acme.test")
    user = await acme.identity.act_as("active@acme.test")
    with pytest.raises(NotFound):
        await acme.activation_codes.reissue(user, HAND)
