"""Second factors: TOTP, WebAuthn security keys and recovery codes (issue #5, item 3).

Management (enrol, confirm, register, new recovery codes) is done by the account itself; an
administrator with ACCOUNT_WRITE in the account's organisation may list and remove factors and
reset them all, naming who proved the person's identity and how. On the web the owner's changes
need a fresh re-authentication ("sudo mode", web/portal/sudo.py).

Verification (`verify_totp`, `use_recovery_code`, `webauthn_auth_*`) is called by the sign-in
flow after the password has been accepted, with the account id; its results may be shown to
that person, never to anyone who has not passed the password.

Every change is audited in its own transaction, and `account_security.second_factor_enrolled`
(which makes mail clients need app passwords) follows the set of confirmed factors: True from
the first confirmation, False when the last one goes. Email is never a second factor.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyotp
import segno
import webauthn
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Account
from mailgate.domain.errors import InvalidInput, NotFound, PermissionDenied
from mailgate.domain.factors import (
    RECOVERY_CODE_COUNT,
    TOTP_CONFIRM_WITHIN,
    TOTP_DIGITS,
    TOTP_STEP_SECONDS,
    WEBAUTHN_CHALLENGE_TTL,
    FactorKind,
    FactorResult,
    SecondFactor,
    TotpCheck,
    VerifyReason,
    check_totp,
    new_recovery_code,
    normalise_recovery_code,
    skew_message,
    skew_minutes,
    totp_step,
)
from mailgate.domain.names import Address
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.services.accounts import account_for
from mailgate.services.audit import record
from mailgate.services.secretbox import SecretBox

log = logging.getLogger(__name__)
REGISTER = "webauthn.register"
AUTHENTICATE = "webauthn.authenticate"


@dataclass(frozen=True, slots=True)
class FactorConfig:
    """Relying party for WebAuthn (the portal's host name and origins), the TOTP issuer, and
    the secret the sealing keys are derived from."""

    rp_id: str = "localhost"
    origins: tuple[str, ...] = ("http://localhost:8080",)
    rp_name: str = "Mailgate"
    issuer: str = "Mailgate"
    secret_key: bytes | None = None


@dataclass(frozen=True, slots=True)
class FactorView:
    """A factor as its owner and admins see it: never a secret or a key."""

    id: int
    kind: FactorKind
    name: str
    created_at: datetime
    last_used_at: datetime | None
    transports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FactorOverview:
    address: str
    factors: list[FactorView]
    recovery_codes_left: int

    @property
    def enrolled(self) -> bool:
        return bool(self.factors)


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """Shown once: the secret for manual entry, the otpauth:// URI and the QR code as SVG."""

    factor_id: int
    secret: str
    uri: str
    qr_svg: str = field(repr=False)


def _view(f: SecondFactor) -> FactorView:
    return FactorView(f.id, f.kind, f.name, f.created_at, f.last_used_at, f.transports)


def _user_handle(account_id: int) -> bytes:
    """WebAuthn user handle: stable, opaque, no personal data."""
    return hashlib.sha256(f"mailgate-user:{account_id}".encode()).digest()[:16]


def _totp(secret: bytes) -> pyotp.TOTP:
    return pyotp.TOTP(secret.decode("ascii"), digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)


def _challenge_of(credential: str, *, registration: bool) -> tuple[Any, bytes]:
    """The parsed credential and the challenge its client data answers; InvalidInput if bad."""
    try:
        parsed: Any = (
            parse_registration_credential_json(credential)
            if registration
            else parse_authentication_credential_json(credential)
        )
        client = parse_client_data_json(bytes(parsed.response.client_data_json))
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("the security key's answer could not be read; try again") from exc
    return parsed, bytes(client.challenge)


@dataclass(slots=True)
class SecondFactorService:
    uow: UnitOfWorkFactory
    clock: Clock
    config: FactorConfig = field(default_factory=FactorConfig)
    box: SecretBox = field(init=False)

    def __post_init__(self) -> None:
        self.box = SecretBox(self.config.secret_key)

    # --- who may do what -----------------------------------------------------------------------

    async def _own(self, uow: UnitOfWork, actor: Actor, address: str) -> Account:
        """The account at `address` when the actor is that account (enrolment is personal)."""
        account = await _by_address(uow, address)
        if account is not None and actor.account_id == account.id:
            return account
        if account is None or not actor.can(Permission.ACCOUNT_READ, account.org_id):
            raise NotFound(f"there is no account {address!r}")
        raise PermissionDenied(
            "only the account itself can enrol second factors; an administrator can reset them"
        )

    async def _own_or_admin(
        self, uow: UnitOfWork, actor: Actor, address: str, permission: Permission
    ) -> Account:
        account = await _by_address(uow, address)
        if account is not None and actor.account_id == account.id:
            return account
        return await account_for(uow, actor, address, permission)

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        account: Account,
        summary: dict[str, Any] | None = None,
    ) -> None:
        target = f"account:{account.address_key}"
        await record(uow, self.clock, actor, f"factor.{action}", target, account.org_id, summary)

    async def _sync_enrolled(self, uow: UnitOfWork, account_id: int) -> bool:
        """Bring the enrolled flag in line with the confirmed factors; drop the recovery codes
        when none is left (they back up a factor, they are not one)."""
        left = await uow.factors.for_account(account_id, confirmed_only=True)
        await uow.account_security.set_second_factor_enrolled(
            account_id, bool(left), self.clock.now()
        )
        if not left:
            await uow.recovery_codes.delete_all(account_id)
        return bool(left)

    # --- listing and removal -------------------------------------------------------------------

    async def list_factors(self, actor: Actor, address: str) -> FactorOverview:
        async with self.uow(write=False) as uow:
            account = await self._own_or_admin(uow, actor, address, Permission.ACCOUNT_READ)
            factors = await uow.factors.for_account(account.id, confirmed_only=True)
            codes = await uow.recovery_codes.unused(account.id)
        return FactorOverview(account.address, [_view(f) for f in factors], len(codes))

    async def remove_factor(self, actor: Actor, address: str, factor_id: int) -> bool:
        """Remove one factor; returns whether a second factor is still enrolled."""
        async with self.uow() as uow:
            account = await self._own_or_admin(uow, actor, address, Permission.ACCOUNT_WRITE)
            factor = await uow.factors.get(account.id, factor_id)
            if factor is None:
                raise NotFound(f"{address} has no second factor {factor_id}")
            await uow.factors.delete(account.id, factor_id)
            still = await self._sync_enrolled(uow, account.id)
            await self._audit(
                uow,
                actor,
                "remove",
                account,
                {"kind": factor.kind.value, "name": factor.name, "still_enrolled": still},
            )
            await uow.commit()
        return still

    async def reset_second_factors(
        self, actor: Actor, address: str, verified_by: str, method: str
    ) -> int:
        """An administrator removes every factor and recovery code of an account whose owner
        lost them, recording who proved the person's identity and how. Returns how many
        factors were removed."""
        verified_by, method = verified_by.strip(), method.strip()
        if not verified_by or not method:
            raise InvalidInput(
                "say who verified the person's identity (--verified-by) and how (--method)"
            )
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            if actor.account_id == account.id:
                raise PermissionDenied("ask another administrator to reset your own factors")
            factors = await uow.factors.for_account(account.id, confirmed_only=True)
            await uow.factors.delete_all(account.id)  # pending enrolments too
            codes = await uow.recovery_codes.delete_all(account.id)
            await uow.account_security.set_second_factor_enrolled(
                account.id, False, self.clock.now()
            )
            await self._audit(
                uow,
                actor,
                "reset",
                account,
                {
                    "verified_by": verified_by[:200],
                    "method": method[:200],
                    "factors": [{"kind": f.kind.value, "name": f.name} for f in factors],
                    "recovery_codes_removed": codes,
                },
            )
            await uow.commit()
        log.info("second factors of %s reset by %s", account.address_key, actor.name)
        return len(factors)

    # --- TOTP ----------------------------------------------------------------------------------

    async def enrol_totp(
        self, actor: Actor, address: str, name: str = "Authenticator app"
    ) -> TotpEnrolment:
        """Start a TOTP enrolment; it counts once `confirm_totp` sees a first valid code."""
        secret = pyotp.random_base32(length=32)  # 160 bits
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._own(uow, actor, address)
            org = await uow.orgs.get(account.org_id)
            await uow.factors.delete_pending(account.id, FactorKind.TOTP.value)
            factor = await uow.factors.add(
                SecondFactor(
                    id=0,
                    account_id=account.id,
                    kind=FactorKind.TOTP,
                    name=name.strip()[:100] or "Authenticator app",
                    created_at=now,
                    secret=self.box.seal(secret.encode("ascii"), account.id),
                )
            )
            await self._audit(uow, actor, "totp_enrol", account, {"name": factor.name})
            await uow.commit()
        issuer = f"{self.config.issuer} {org.name if org else ''}".replace(":", " ").strip()
        uri = _totp(secret.encode()).provisioning_uri(name=account.address, issuer_name=issuer)
        qr = segno.make(uri, error="m").svg_inline(scale=4)
        return TotpEnrolment(factor.id, secret, uri, qr)

    async def confirm_totp(
        self, actor: Actor, address: str, factor_id: int, code: str
    ) -> FactorResult:
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._own(uow, actor, address)
            factor = await uow.factors.get(account.id, factor_id)
            if factor is None or factor.kind is not FactorKind.TOTP or factor.confirmed:
                raise NotFound("there is no TOTP enrolment waiting for confirmation")
            if now - factor.created_at > TOTP_CONFIRM_WITHIN:
                raise InvalidInput("this enrolment has expired; start again with a new QR code")
            plain = self.box.open(factor.secret or b"", account.id)
            if plain is None:
                raise InvalidInput("this enrolment cannot be read any more; start again")
            check = check_totp(_totp(plain).generate_otp, code, totp_step(now), None)
            if check.reason is not VerifyReason.OK:
                return _totp_refusal(check, factor.id)
            await uow.factors.confirm(factor.id, now, check.step)
            await self._sync_enrolled(uow, account.id)
            await self._audit(uow, actor, "totp_confirm", account, {"name": factor.name})
            await uow.commit()
        return FactorResult(True, VerifyReason.OK, "the authenticator app is set up", factor.id)

    async def verify_totp(self, account_id: int, code: str, *, source_ip: str = "") -> FactorResult:
        """Check a code typed at sign-in against the account's TOTP factors."""
        now = self.clock.now()
        async with self.uow() as uow:
            account = await uow.accounts.get(account_id)
            factors = [
                f
                for f in await uow.factors.for_account(account_id, confirmed_only=True)
                if f.kind is FactorKind.TOTP
            ]
            if account is None or not factors:
                return FactorResult(False, VerifyReason.NOT_ENROLLED, "no authenticator app")
            checks: list[tuple[TotpCheck, SecondFactor]] = []
            for f in factors:
                plain = self.box.open(f.secret or b"", account_id)
                if plain is None:
                    log.error("TOTP secret of factor %d cannot be opened (key changed?)", f.id)
                    continue
                check = check_totp(_totp(plain).generate_otp, code, totp_step(now), f.last_step)
                checks.append((check, f))
            for i, (check, f) in enumerate(checks):
                if check.reason is VerifyReason.OK and check.step is not None:
                    if await uow.factors.advance_step(f.id, check.step, now):
                        await uow.commit()
                        return FactorResult(True, VerifyReason.OK, "code accepted", f.id)
                    # Another sign-in used this step a moment ago: the same code twice.
                    checks[i] = (TotpCheck(VerifyReason.REPLAY, check.step), f)
            found = {c.reason: (c, f) for c, f in reversed(checks)}
            if VerifyReason.REPLAY in found:
                check, f = found[VerifyReason.REPLAY]
                log.warning("TOTP replay for account %d (factor %d)", account_id, f.id)
                who = Actor(account.address, account.id, (), source_ip)
                await self._audit(
                    uow, who, "totp_replay", account, {"factor": f.name, "step": check.step}
                )
                await uow.commit()
                return _totp_refusal(check, f.id)
            if VerifyReason.CLOCK_SKEW in found:
                check, f = found[VerifyReason.CLOCK_SKEW]
                return _totp_refusal(check, f.id)
        return FactorResult(False, VerifyReason.WRONG_CODE, "the code is not correct")

    # --- recovery codes ------------------------------------------------------------------------

    async def generate_recovery_codes(self, actor: Actor, address: str) -> list[str]:
        """Ten new single-use codes, shown once; the previous set stops working."""
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        async with self.uow() as uow:
            account = await self._own(uow, actor, address)
            if not await uow.factors.for_account(account.id, confirmed_only=True):
                raise InvalidInput("set up an authenticator app or a security key first")
            hashes_ = [
                self.box.code_hash(account.id, normalise_recovery_code(c) or "") for c in codes
            ]
            old = await uow.recovery_codes.replace(account.id, hashes_, self.clock.now())
            await self._audit(
                uow, actor, "recovery_codes", account, {"count": len(codes), "replaced": old}
            )
            await uow.commit()
        return codes

    async def use_recovery_code(
        self, account_id: int, code: str, *, source_ip: str = ""
    ) -> FactorResult:
        typed = normalise_recovery_code(code)
        async with self.uow() as uow:
            account = await uow.accounts.get(account_id)
            unused = await uow.recovery_codes.unused(account_id)
            match = next(
                (
                    c
                    for c in unused
                    if typed is not None and self.box.code_matches(c.code_hash, account_id, typed)
                ),
                None,
            )
            if account is None or match is None:
                return FactorResult(
                    False,
                    VerifyReason.RECOVERY_CODE_WRONG,
                    "the recovery code is not correct or was already used",
                    recovery_codes_left=len(unused),
                )
            if not await uow.recovery_codes.mark_used(match.id, self.clock.now()):
                return FactorResult(
                    False, VerifyReason.RECOVERY_CODE_WRONG, "the code was already used"
                )
            left = len(unused) - 1
            who = Actor(account.address, account.id, (), source_ip)
            await self._audit(uow, who, "recovery_code_use", account, {"left": left})
            await uow.commit()
        return FactorResult(
            True,
            VerifyReason.OK,
            f"recovery code accepted; {left} left"
            + ("" if left > 2 else " - create new ones on the security page"),
            recovery_codes_left=left,
        )

    # --- WebAuthn ------------------------------------------------------------------------------

    async def webauthn_register_begin(self, actor: Actor, address: str) -> str:
        """PublicKeyCredentialCreationOptions as JSON for navigator.credentials.create()."""
        async with self.uow() as uow:
            account = await self._own(uow, actor, address)
            existing = await uow.factors.for_account(account.id, confirmed_only=True)
            options = webauthn.generate_registration_options(
                rp_id=self.config.rp_id,
                rp_name=self.config.rp_name,
                user_name=account.address,
                user_id=_user_handle(account.id),
                user_display_name=account.display_name,
                exclude_credentials=_descriptors(existing),
            )
            expires = self.clock.now() + WEBAUTHN_CHALLENGE_TTL
            await uow.factors.add_challenge(account.id, REGISTER, options.challenge, expires)
            await uow.commit()
        return webauthn.options_to_json(options)

    async def webauthn_register_finish(
        self, actor: Actor, address: str, credential: str, name: str = "Security key"
    ) -> FactorView:
        """Verify the browser's answer and store the key; InvalidInput when it does not hold."""
        parsed, challenge = _challenge_of(credential, registration=True)
        now = self.clock.now()
        async with self.uow() as uow:
            account = await self._own(uow, actor, address)
            if not await uow.factors.take_challenge(account.id, REGISTER, challenge, now):
                raise InvalidInput("this registration has expired or was used; start again")
            try:
                verified = webauthn.verify_registration_response(
                    credential=parsed,
                    expected_challenge=challenge,
                    expected_rp_id=self.config.rp_id,
                    expected_origin=list(self.config.origins),
                )
            except WebAuthnException as exc:
                log.info("WebAuthn registration refused for %s: %s", account.address_key, exc)
                raise InvalidInput("the security key's answer could not be verified") from exc
            transports = tuple(t.value for t in parsed.response.transports or ())
            factor = await uow.factors.add(
                SecondFactor(
                    id=0,
                    account_id=account.id,
                    kind=FactorKind.WEBAUTHN,
                    name=name.strip()[:100] or "Security key",
                    created_at=now,
                    confirmed_at=now,
                    credential_id=verified.credential_id,
                    public_key=verified.credential_public_key,
                    sign_count=verified.sign_count,
                    transports=transports,
                )
            )
            await self._sync_enrolled(uow, account.id)
            await self._audit(
                uow,
                actor,
                "webauthn_register",
                account,
                {"name": factor.name, "aaguid": verified.aaguid, "transports": list(transports)},
            )
            await uow.commit()
        return _view(factor)

    async def webauthn_auth_begin(self, account_id: int) -> str:
        """PublicKeyCredentialRequestOptions as JSON; NotFound when the account has no key."""
        async with self.uow() as uow:
            keys = [
                f
                for f in await uow.factors.for_account(account_id, confirmed_only=True)
                if f.kind is FactorKind.WEBAUTHN
            ]
            if not keys:
                raise NotFound("no security key is registered")
            options = webauthn.generate_authentication_options(
                rp_id=self.config.rp_id, allow_credentials=_descriptors(keys)
            )
            expires = self.clock.now() + WEBAUTHN_CHALLENGE_TTL
            await uow.factors.add_challenge(account_id, AUTHENTICATE, options.challenge, expires)
            await uow.commit()
        return webauthn.options_to_json(options)

    async def webauthn_auth_finish(
        self, account_id: int, credential: str, *, source_ip: str = ""
    ) -> FactorResult:
        refused = FactorResult(False, VerifyReason.WEBAUTHN_INVALID, "the security key failed")
        try:
            parsed, challenge = _challenge_of(credential, registration=False)
        except InvalidInput:
            return refused
        now = self.clock.now()
        async with self.uow() as uow:
            account = await uow.accounts.get(account_id)
            ok = await uow.factors.take_challenge(account_id, AUTHENTICATE, challenge, now)
            await uow.commit()  # a challenge is spent even when the answer is wrong
            key = await uow.factors.by_credential_id(account_id, bytes(parsed.raw_id))
            if account is None or not ok or key is None or key.public_key is None:
                return refused
            try:
                data = parse_authenticator_data(bytes(parsed.response.authenticator_data))
            except WebAuthnException:
                return refused
            if (data.sign_count or key.sign_count) and data.sign_count <= key.sign_count:
                # Counter went backwards or stood still: possibly a cloned authenticator.
                log.warning("WebAuthn sign count regression for account %d", account_id)
                who = Actor(account.address, account.id, (), source_ip)
                await self._audit(
                    uow,
                    who,
                    "webauthn_clone_warning",
                    account,
                    {"factor": key.name, "stored": key.sign_count, "seen": data.sign_count},
                )
                await uow.commit()
                return FactorResult(
                    False,
                    VerifyReason.WEBAUTHN_SIGN_COUNT,
                    "this security key may have been copied; it is refused. Use another "
                    "factor and tell your administrator",
                    key.id,
                    clone_warning=True,
                )
            try:
                verified = webauthn.verify_authentication_response(
                    credential=parsed,
                    expected_challenge=challenge,
                    expected_rp_id=self.config.rp_id,
                    expected_origin=list(self.config.origins),
                    credential_public_key=key.public_key,
                    credential_current_sign_count=key.sign_count,
                )
            except WebAuthnException as exc:
                log.info("WebAuthn assertion refused for account %d: %s", account_id, exc)
                return refused
            if not await uow.factors.advance_sign_count(
                key.id, key.sign_count, verified.new_sign_count, now
            ):
                return refused
            await uow.commit()
        return FactorResult(True, VerifyReason.OK, "security key accepted", key.id)


async def _by_address(uow: UnitOfWork, address: str) -> Account | None:
    try:
        key = Address.parse(address).key
    except InvalidInput:
        return None
    return await uow.accounts.by_key(key)


def _descriptors(factors: list[SecondFactor]) -> list[PublicKeyCredentialDescriptor]:
    out = []
    for f in factors:
        if f.kind is FactorKind.WEBAUTHN and f.credential_id is not None:
            transports = [
                AuthenticatorTransport(t)
                for t in f.transports
                if t in {x.value for x in AuthenticatorTransport}
            ]
            out.append(PublicKeyCredentialDescriptor(id=f.credential_id, transports=transports))
    return out


def _totp_refusal(check: TotpCheck, factor_id: int) -> FactorResult:
    if check.reason is VerifyReason.CLOCK_SKEW:
        minutes = skew_minutes(check.skew_steps)
        return FactorResult(
            False, check.reason, skew_message(minutes), factor_id, clock_skew_minutes=minutes
        )
    if check.reason is VerifyReason.REPLAY:
        return FactorResult(
            False, check.reason, "this code was already used; wait for the next one", factor_id
        )
    return FactorResult(False, VerifyReason.WRONG_CODE, "the code is not correct", factor_id)


__all__ = [
    "FactorConfig",
    "FactorOverview",
    "FactorView",
    "SecondFactorService",
    "TotpEnrolment",
]
