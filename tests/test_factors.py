"""Second factors on both backends: TOTP (single use, ±1 step, clock-skew hint), recovery codes,
WebAuthn with a software authenticator, scope, admin reset, and the enrolled flag."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from tests.clock import FakeClock
from tests.conftest import FAST_HASHER
from webauthn.helpers import encode_cbor

from mailgate.domain.access import Actor, Role
from mailgate.domain.directory import Account
from mailgate.domain.errors import InvalidInput, NotFound, PermissionDenied
from mailgate.domain.factors import FactorKind, VerifyReason
from mailgate.services.container import Services
from mailgate.services.factors import FactorConfig
from mailgate.services.secretbox import SecretBox
from mailgate.settings import load_settings
from mailgate.storage.blobstore import FileBlobStore
from mailgate.storage.database import Database
from mailgate.storage.uow import SqlUnitOfWorkFactory

PW = "correct-horse-battery-1"
RP_ID = "mail.a.test"
ORIGIN = "https://mail.a.test"
T0 = datetime(2026, 3, 1, 9, 0, 10, tzinfo=UTC)  # 10 s into a 30-second step


@dataclass
class World:
    s: Services
    clock: FakeClock
    root: Actor
    user: Actor
    account: Account
    admin_a: Actor
    admin_b: Actor


@pytest.fixture
async def world(database: Database, tmp_path: Path, root: Actor) -> World:
    clock = FakeClock(T0)
    config = FactorConfig(rp_id=RP_ID, origins=(ORIGIN,), secret_key=b"k" * 32)
    s = Services.build(
        SqlUnitOfWorkFactory(database),
        clock,
        FAST_HASHER,
        FileBlobStore(tmp_path / "blobs"),
        factors=config,
    )
    for x in ("a", "b"):
        await s.organisations.create(root, f"org-{x}", f"Org {x.upper()}")
        await s.organisations.add_domain(root, f"org-{x}", f"{x}.test")
        await s.accounts.create(root, f"admin@{x}.test", password=PW, skip_first_login=True)
        await s.accounts.grant_role(root, f"admin@{x}.test", Role.ORG_ADMIN, f"org-{x}")
    account = await s.accounts.create(root, "user@a.test", password=PW, skip_first_login=True)
    return World(
        s,
        clock,
        root,
        await s.identity.act_as("user@a.test"),
        account,
        await s.identity.act_as("admin@a.test"),
        await s.identity.act_as("admin@b.test"),
    )


async def enrolled_flag(w: World) -> bool:
    async with w.s.factors.uow(write=False) as uow:
        return await uow.account_security.has_second_factor(w.account.id)


def code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


async def enrol(w: World) -> str:
    e = await w.s.factors.enrol_totp(w.user, "user@a.test", "Phone")
    result = await w.s.factors.confirm_totp(w.user, "user@a.test", e.factor_id, code(e.secret, T0))
    assert result.accepted
    return e.secret


async def audit_actions(w: World) -> list[tuple[str, dict[str, Any]]]:
    events, _ = await w.s.audit.list(w.root, 0, 500)
    return [(e.action, e.summary) for e in events if e.action.startswith("factor.")]


# --- TOTP ---------------------------------------------------------------------------------------


async def test_totp_enrol_confirm_verify(world: World) -> None:
    w = world
    e = await w.s.factors.enrol_totp(w.user, "user@a.test", "Phone")
    assert len(base64.b32decode(e.secret)) == 20  # 160 bits
    assert e.uri.startswith("otpauth://totp/") and "issuer=Mailgate%20Org%20A" in e.uri
    assert "user%40a.test" in e.uri and e.qr_svg.startswith("<svg")
    # Not enrolled before the first code is confirmed.
    assert not (await w.s.factors.list_factors(w.user, "user@a.test")).enrolled
    assert not await enrolled_flag(w)
    wrong = await w.s.factors.confirm_totp(w.user, "user@a.test", e.factor_id, "000000")
    assert not wrong.accepted and wrong.reason is VerifyReason.WRONG_CODE
    ok = await w.s.factors.confirm_totp(w.user, "user@a.test", e.factor_id, code(e.secret, T0))
    assert ok.accepted
    assert await enrolled_flag(w)
    overview = await w.s.factors.list_factors(w.user, "user@a.test")
    assert [(f.kind, f.name) for f in overview.factors] == [(FactorKind.TOTP, "Phone")]
    # The confirmation used this step; the next step's code signs in.
    w.clock.advance(seconds=30)
    result = await w.s.factors.verify_totp(w.account.id, code(e.secret, w.clock.now()))
    assert result.accepted and result.reason is VerifyReason.OK


async def test_totp_secret_is_sealed_at_rest(world: World) -> None:
    w = world
    secret = await enrol(w)
    async with w.s.factors.uow(write=False) as uow:
        (factor,) = await uow.factors.for_account(w.account.id, confirmed_only=True)
    assert factor.secret is not None
    assert secret.encode() not in factor.secret and factor.secret.startswith(b"g1:")


async def test_totp_code_accepted_once_replay_refused_and_recorded(world: World) -> None:
    w = world
    secret = await enrol(w)
    w.clock.advance(seconds=60)
    c = code(secret, w.clock.now())
    first = await w.s.factors.verify_totp(w.account.id, c, source_ip="192.0.2.7")
    again = await w.s.factors.verify_totp(w.account.id, c, source_ip="192.0.2.7")
    assert first.accepted
    assert not again.accepted and again.reason is VerifyReason.REPLAY
    assert again.reason.value == "totp_replay"
    # Still refused from the next step (the code is then one step old, inside the window).
    w.clock.advance(seconds=30)
    late = await w.s.factors.verify_totp(w.account.id, c)
    assert late.reason is VerifyReason.REPLAY
    replays = [s for a, s in await audit_actions(w) if a == "factor.totp_replay"]
    assert len(replays) == 2


async def test_totp_one_step_either_side_accepted(world: World) -> None:
    w = world
    secret = await enrol(w)
    w.clock.advance(minutes=5)
    now = w.clock.now()
    behind = await w.s.factors.verify_totp(w.account.id, code(secret, now - timedelta(seconds=30)))
    assert behind.accepted
    ahead = await w.s.factors.verify_totp(w.account.id, code(secret, now + timedelta(seconds=30)))
    assert ahead.accepted
    # Two steps away is outside the window (and close enough to report a one-minute skew).
    w.clock.advance(minutes=5)
    far = await w.s.factors.verify_totp(
        w.account.id, code(secret, w.clock.now() + timedelta(seconds=60))
    )
    assert not far.accepted and far.reason is VerifyReason.CLOCK_SKEW
    assert far.clock_skew_minutes == 1


@pytest.mark.parametrize("minutes", [5, -5])
async def test_totp_clock_five_minutes_off_is_refused_with_a_hint(
    world: World, minutes: int
) -> None:
    w = world
    secret = await enrol(w)
    w.clock.advance(minutes=20)
    device_time = w.clock.now() + timedelta(minutes=minutes)
    result = await w.s.factors.verify_totp(w.account.id, code(secret, device_time))
    assert not result.accepted
    assert result.reason is VerifyReason.CLOCK_SKEW
    assert result.clock_skew_minutes == minutes
    assert f"about {abs(minutes)} minutes" in result.message
    assert ("ahead" if minutes > 0 else "behind") in result.message
    # Beyond ten minutes it is just a wrong code.
    far = await w.s.factors.verify_totp(
        w.account.id, code(secret, w.clock.now() + timedelta(minutes=15))
    )
    assert far.reason is VerifyReason.WRONG_CODE and far.clock_skew_minutes is None


async def test_totp_confirmation_reports_skew_and_expires(world: World) -> None:
    w = world
    e = await w.s.factors.enrol_totp(w.user, "user@a.test")
    skewed = await w.s.factors.confirm_totp(
        w.user, "user@a.test", e.factor_id, code(e.secret, T0 - timedelta(minutes=5))
    )
    assert skewed.clock_skew_minutes == -5
    w.clock.advance(hours=1)
    with pytest.raises(InvalidInput):
        await w.s.factors.confirm_totp(
            w.user, "user@a.test", e.factor_id, code(e.secret, w.clock.now())
        )


async def test_only_the_owner_enrols(world: World) -> None:
    w = world
    with pytest.raises(PermissionDenied):
        await w.s.factors.enrol_totp(w.admin_a, "user@a.test")
    with pytest.raises(NotFound):
        await w.s.factors.enrol_totp(w.admin_b, "user@a.test")


# --- recovery codes -----------------------------------------------------------------------------


async def test_recovery_codes_single_use_and_regeneration(world: World) -> None:
    w = world
    with pytest.raises(InvalidInput):  # they back up a factor; there is none yet
        await w.s.factors.generate_recovery_codes(w.user, "user@a.test")
    await enrol(w)
    codes = await w.s.factors.generate_recovery_codes(w.user, "user@a.test")
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(c) == 14 and c.count("-") == 2 for c in codes)
    assert (await w.s.factors.list_factors(w.user, "user@a.test")).recovery_codes_left == 10

    used = await w.s.factors.use_recovery_code(w.account.id, codes[0].upper().replace("-", " "))
    assert used.accepted and used.recovery_codes_left == 9
    again = await w.s.factors.use_recovery_code(w.account.id, codes[0])
    assert not again.accepted and again.reason is VerifyReason.RECOVERY_CODE_WRONG
    assert not (await w.s.factors.use_recovery_code(w.account.id, "not-a-code")).accepted

    fresh = await w.s.factors.generate_recovery_codes(w.user, "user@a.test")
    old = await w.s.factors.use_recovery_code(w.account.id, codes[1])
    assert not old.accepted
    new = await w.s.factors.use_recovery_code(w.account.id, fresh[0])
    assert new.accepted and new.recovery_codes_left == 9
    async with w.s.factors.uow(write=False) as uow:
        stored = await uow.recovery_codes.unused(w.account.id)
    assert all(fresh[1].replace("-", "") not in r.code_hash for r in stored)


# --- WebAuthn with a software authenticator -----------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftKey:
    """A FIDO2 authenticator in software: EC P-256, attestation 'none'."""

    def __init__(self, rp_id: str = RP_ID, origin: str = ORIGIN) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = hashlib.sha256(str(id(self)).encode()).digest()
        self.rp_id, self.origin = rp_id, origin
        self.count = 0

    def _client_data(self, kind: str, options: str) -> bytes:
        challenge = json.loads(options)["challenge"]
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def _cose(self) -> bytes:
        nums = self.key.public_key().public_numbers()
        x, y = nums.x.to_bytes(32, "big"), nums.y.to_bytes(32, "big")
        return encode_cbor({1: 2, 3: -7, -1: 1, -2: x, -3: y})

    def register(self, options: str) -> str:
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        attested = (
            bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
        ) + self._cose()
        auth_data = rp_hash + bytes([0x41]) + self.count.to_bytes(4, "big") + attested
        att = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(self._client_data("webauthn.create", options)),
                    "attestationObject": b64url(att),
                    "transports": ["usb", "nfc"],
                },
            }
        )

    def assert_(self, options: str, *, count: int | None = None) -> str:
        if count is None:
            self.count += 1
            count = self.count
        client = self._client_data("webauthn.get", options)
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        auth_data = rp_hash + bytes([0x01]) + count.to_bytes(4, "big")
        signature = self.key.sign(
            auth_data + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                },
            }
        )


async def test_webauthn_register_and_authenticate(world: World) -> None:
    w = world
    key = SoftKey()
    options = await w.s.factors.webauthn_register_begin(w.user, "user@a.test")
    assert json.loads(options)["rp"]["id"] == RP_ID
    view = await w.s.factors.webauthn_register_finish(
        w.user, "user@a.test", key.register(options), "YubiKey"
    )
    assert view.kind is FactorKind.WEBAUTHN and view.transports == ("usb", "nfc")
    assert await enrolled_flag(w)
    # The registration challenge is single-use.
    with pytest.raises(InvalidInput):
        await w.s.factors.webauthn_register_finish(w.user, "user@a.test", key.register(options))

    request = await w.s.factors.webauthn_auth_begin(w.account.id)
    allowed = json.loads(request)["allowCredentials"]
    assert [unb64url(c["id"]) for c in allowed] == [key.credential_id]
    ok = await w.s.factors.webauthn_auth_finish(w.account.id, key.assert_(request))
    assert ok.accepted and ok.factor_id == view.id
    # The same answer (and challenge) a second time is refused.
    replay = await w.s.factors.webauthn_auth_finish(w.account.id, key.assert_(request, count=1))
    assert not replay.accepted
    # A key for another relying party is refused.
    foreign = SoftKey(rp_id="evil.test", origin="https://evil.test")
    foreign.credential_id = key.credential_id
    foreign.key = key.key
    request = await w.s.factors.webauthn_auth_begin(w.account.id)
    bad = await w.s.factors.webauthn_auth_finish(w.account.id, foreign.assert_(request, count=9))
    assert not bad.accepted and bad.reason is VerifyReason.WEBAUTHN_INVALID


async def test_webauthn_sign_count_regression_is_refused_with_clone_warning(world: World) -> None:
    w = world
    key = SoftKey()
    options = await w.s.factors.webauthn_register_begin(w.user, "user@a.test")
    await w.s.factors.webauthn_register_finish(w.user, "user@a.test", key.register(options))
    for _ in range(3):
        request = await w.s.factors.webauthn_auth_begin(w.account.id)
        assert (await w.s.factors.webauthn_auth_finish(w.account.id, key.assert_(request))).accepted
    request = await w.s.factors.webauthn_auth_begin(w.account.id)
    cloned = await w.s.factors.webauthn_auth_finish(w.account.id, key.assert_(request, count=2))
    assert not cloned.accepted
    assert cloned.clone_warning and cloned.reason is VerifyReason.WEBAUTHN_SIGN_COUNT
    assert "factor.webauthn_clone_warning" in [a for a, _ in await audit_actions(w)]


async def test_webauthn_wrong_origin_registration_refused(world: World) -> None:
    w = world
    key = SoftKey(origin="https://phish.test")
    options = await w.s.factors.webauthn_register_begin(w.user, "user@a.test")
    with pytest.raises(InvalidInput):
        await w.s.factors.webauthn_register_finish(w.user, "user@a.test", key.register(options))
    assert not await enrolled_flag(w)


# --- scope, removal, reset ----------------------------------------------------------------------


async def test_another_orgs_admin_cannot_list_remove_or_reset(world: World) -> None:
    w = world
    await enrol(w)
    with pytest.raises(NotFound):
        await w.s.factors.list_factors(w.admin_b, "user@a.test")
    with pytest.raises(NotFound):
        await w.s.factors.reset_second_factors(w.admin_b, "user@a.test", "desk", "ID card")
    (factor,) = (await w.s.factors.list_factors(w.admin_a, "user@a.test")).factors
    with pytest.raises(NotFound):
        await w.s.factors.remove_factor(w.admin_b, "user@a.test", factor.id)
    assert await enrolled_flag(w)


async def test_admin_reset_records_who_verified_and_how(world: World) -> None:
    w = world
    await enrol(w)
    await w.s.factors.generate_recovery_codes(w.user, "user@a.test")
    with pytest.raises(InvalidInput):
        await w.s.factors.reset_second_factors(w.admin_a, "user@a.test", "", "in person")
    with pytest.raises(PermissionDenied):
        await w.s.factors.reset_second_factors(w.admin_a, "admin@a.test", "me", "mirror")
    removed = await w.s.factors.reset_second_factors(
        w.admin_a, "user@a.test", "Helpdesk Li Na", "in person with ID card"
    )
    assert removed == 1
    overview = await w.s.factors.list_factors(w.admin_a, "user@a.test")
    assert not overview.enrolled and overview.recovery_codes_left == 0
    assert not await enrolled_flag(w)
    events, _ = await w.s.audit.list(w.root, 0, 500)
    (reset,) = [e for e in events if e.action == "factor.reset"]
    assert reset.actor == "admin@a.test"
    assert reset.summary["verified_by"] == "Helpdesk Li Na"
    assert reset.summary["method"] == "in person with ID card"
    assert reset.summary["factors"] == [{"kind": "totp", "name": "Phone"}]
    assert (await w.s.audit.verify(w.root)).ok


async def test_enrolled_flag_follows_the_last_factor(world: World) -> None:
    w = world
    await enrol(w)
    key = SoftKey()
    options = await w.s.factors.webauthn_register_begin(w.user, "user@a.test")
    await w.s.factors.webauthn_register_finish(w.user, "user@a.test", key.register(options))
    await w.s.factors.generate_recovery_codes(w.user, "user@a.test")
    totp, webauthn_key = (await w.s.factors.list_factors(w.user, "user@a.test")).factors
    assert await w.s.factors.remove_factor(w.user, "user@a.test", totp.id) is True
    assert await enrolled_flag(w)
    assert await w.s.factors.remove_factor(w.admin_a, "user@a.test", webauthn_key.id) is False
    assert not await enrolled_flag(w)
    # Recovery codes back up a factor; with none left they go too.
    assert (await w.s.factors.list_factors(w.user, "user@a.test")).recovery_codes_left == 0
    actions = [a for a, _ in await audit_actions(w)]
    assert actions.count("factor.remove") == 2
    assert {"factor.totp_enrol", "factor.totp_confirm", "factor.webauthn_register"} <= set(actions)


def test_email_is_never_a_second_factor() -> None:
    assert {k.value for k in FactorKind} == {"totp", "webauthn"}


def test_secret_box_binds_to_key_and_account() -> None:
    box = SecretBox(b"k" * 32)
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", 7)
    assert box.open(sealed, 7) == b"JBSWY3DPEHPK3PXP"
    assert box.open(sealed, 8) is None  # moved to another account
    assert SecretBox(b"x" * 32).open(sealed, 7) is None  # another key
    assert SecretBox(None).open(sealed, 7) is None
    # Stored before a key was configured: still readable and matching afterwards.
    unkeyed = SecretBox(None)
    assert box.open(unkeyed.seal(b"S", 7), 7) == b"S"
    stored = unkeyed.code_hash(7, "abcd")
    assert stored.startswith("s1$") and box.code_matches(stored, 7, "abcd")
    keyed = box.code_hash(7, "abcd")
    assert keyed.startswith("h1$") and not unkeyed.code_matches(keyed, 7, "abcd")
    assert not box.code_matches(keyed, 8, "abcd")


def test_settings_secret_key_and_relying_party(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path / "data")
    key = settings.secret_key()
    assert len(key) >= 43 and settings.secret_key() == key  # generated once, then read
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0
    assert settings.webauthn_rp_id == "localhost"
    assert settings.webauthn_origins == ["https://localhost", "http://localhost:8080"]
    secret_file = tmp_path / "key.txt"
    secret_file.write_text("from-a-file\n")
    env = {"MAILGATE_SECURITY__SECRET_KEY_FILE": str(secret_file)}
    configured = load_settings(
        environ=env, data_dir=tmp_path / "data", tls={"hostname": "mail.example.com"}
    )
    assert configured.secret_key() == b"from-a-file"
    assert configured.webauthn_origins == ["https://mail.example.com"]
