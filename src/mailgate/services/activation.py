"""The forced first login (R8, issue #6 item 6): from the activation code to an active mailbox.

An approved application's account is PENDING_ACTIVATION and owes the first-login steps
(`required_actions`, services.provisioning): set_password, enrol_second_factor (when its
policy requires a second factor) and verify_recovery_contact. The person works through them
at /activate, always in this order:

    activation code -> password -> second factor -> recovery contact -> recovery codes -> active

- `start` checks the activation code and opens an *activation-stage* web session
  (services.identity restricted sessions): the code is compared as an HMAC digest, works once,
  for 72 hours (provisioning), and allows 5 wrong guesses; an unknown address, a wrong, expired,
  used or used-up code all get the same `ActivationRefused` after the same work (a guess of
  the code's shape counts against the code, anything else only against the IP). Every refusal
  counts against the client's IP in the sign-in throttle (services.throttle), so guessing codes
  and guessing passwords share one budget; while the IP waits, `ActivationThrottled`.
- each step is the existing service doing it (services.credentials, services.factors,
  services.recovery), called through this one only while that step is the current one
  (`WrongStep` otherwise): nobody enrols a factor before choosing a password;
- `progress` / `next_step` say where the person stands; every step is stored on the account,
  so an interrupted flow resumes: whoever chose a password and left signs in later with the
  address and that password (and the second factor, once enrolled) and lands on the next step;
- the recovery codes are the last step when a second factor was enrolled: made and shown once,
  the person confirms they saved them, and that confirmation is `complete`;
- `complete` makes the account ACTIVE (AccountAction.ACTIVATE through the account state
  machine, audited) and puts the WELCOME message into the new mailbox (only there: it holds
  set-up instructions, not a security notice): host names, ports and TLS modes of the
  protocols the account may use, and the app-password step when a second factor is on;
- `finish` completes and trades the activation session for a full one (a new session id).

Until then SMTP, IMAP and POP3 refuse the account (services.authentication: not_activated),
pointing to /activate, and API tokens do not work for it (services.identity.may_use).
"""

from __future__ import annotations

import enum
import hmac
import logging
import math
from dataclasses import dataclass, field

from mailgate.domain.access import Actor
from mailgate.domain.directory import (
    Account,
    AccountAction,
    AccountState,
    RequiredAction,
    next_state,
)
from mailgate.domain.errors import AuthenticationFailed, InvalidInput, InvalidTransition, NotFound
from mailgate.domain.factors import FactorResult
from mailgate.domain.names import Address
from mailgate.domain.notices import NoticeKind
from mailgate.domain.passwords import PasswordPolicy
from mailgate.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.recovery import CodePurpose, ContactKind, RecoveryContact, code_digest
from mailgate.services.audit import record
from mailgate.services.credentials import CredentialService
from mailgate.services.factors import FactorView, SecondFactorService, TotpEnrolment
from mailgate.services.identity import (
    STAGE_ACTIVATION,
    IdentityService,
    RestrictedSession,
    WebSession,
)
from mailgate.services.notice_texts import welcome_params
from mailgate.services.notices import NoticeService
from mailgate.services.policies import PolicyService
from mailgate.services.provisioning import normalise_activation_code
from mailgate.services.recovery import RecoveryService, match_code
from mailgate.services.throttle import Limiter, counter_keys

log = logging.getLogger(__name__)
FACTOR_METHODS = ("totp", "webauthn")
# A code of the right shape that no account has: the refusal of an unknown address or a
# malformed code still computes one digest, like a real check.
_DUMMY_CODE = "A" * 12


class Step(enum.StrEnum):
    """The steps of the first login, in order; DONE: nothing is left but `complete`."""

    PASSWORD = "password"  # noqa: S105 - a step name
    SECOND_FACTOR = "second_factor"
    RECOVERY_CONTACT = "recovery_contact"
    RECOVERY_CODES = "recovery_codes"
    DONE = "done"


_ACTION_STEPS = (
    (RequiredAction.SET_PASSWORD, Step.PASSWORD),
    (RequiredAction.ENROL_SECOND_FACTOR, Step.SECOND_FACTOR),
    (RequiredAction.VERIFY_RECOVERY_CONTACT, Step.RECOVERY_CONTACT),
)


class ActivationRefused(AuthenticationFailed):
    """Unknown address, wrong / expired / used / used-up code: never told apart."""

    code = "activation_refused"


class ActivationThrottled(AuthenticationFailed):
    """Too many failed attempts (sign-ins and activation codes) from this IP; wait."""

    code = "activation_throttled"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds


class WrongStep(InvalidTransition):
    """The step asked for is not the current one; `current` is."""

    code = "wrong_step"

    def __init__(self, message: str, current: Step) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a person stands: the current step among the steps of their account."""

    step: Step
    steps: tuple[Step, ...]  # the account's steps in order, DONE not included

    @property
    def number(self) -> int:
        """1-based position of the current step (DONE: past the last one)."""
        return self.steps.index(self.step) + 1 if self.step in self.steps else len(self.steps)

    @property
    def total(self) -> int:
        return len(self.steps)


@dataclass(frozen=True, slots=True)
class MailClientSetup:
    """What a mail program needs (settings: tls/smtp hostname and the listeners' ports)."""

    host: str = "localhost"
    imap_port: int = 2143  # STARTTLS
    imaps_port: int = 2993  # implicit TLS
    pop3_port: int = 2110
    pop3s_port: int = 2995
    submission_port: int = 2587
    submissions_port: int = 2465

    def ports(self, protocols: tuple[str, ...]) -> dict[str, tuple[int, int]]:
        """protocol -> (STARTTLS port, implicit-TLS port), for the mail protocols given."""
        every = {
            "imap": (self.imap_port, self.imaps_port),
            "pop3": (self.pop3_port, self.pop3s_port),
            "smtp": (self.submission_port, self.submissions_port),
        }
        return {name: ports for name, ports in every.items() if name in protocols}


def _key(address: str) -> str | None:
    if not address or len(address) > 320:
        return None
    try:
        return Address.parse(address.strip()).key
    except InvalidInput:
        return None


def needs_activation(account: Account) -> bool:
    """Pending activation, or active but still owing first-login steps."""
    return account.state is AccountState.PENDING_ACTIVATION or (
        account.state is AccountState.ACTIVE
        and bool(account.required_actions)
        and not account.skipped_first_login
        and RequiredAction.UPDATE_PASSWORD not in account.required_actions
    )


@dataclass(slots=True)
class ActivationService:
    uow: UnitOfWorkFactory
    clock: Clock
    key: bytes  # the HMAC key of one-time codes (services.recovery.code_key)
    identity: IdentityService
    credentials: CredentialService
    factors: SecondFactorService
    recovery: RecoveryService
    policies: PolicyService
    notices: NoticeService
    limiter: Limiter = field(default_factory=Limiter)
    setup: MailClientSetup = field(default_factory=MailClientSetup)

    # --- the activation code -------------------------------------------------------------------

    async def start(
        self, address: str, code: str, client_ip: str, user_agent: str
    ) -> RestrictedSession:
        """Check the activation code of `address` and open an activation-stage session.

        ActivationRefused for every refusal alike, ActivationThrottled while the client's IP
        must wait (sign-in failures and activation failures count together)."""
        now = self.clock.now()
        async with self.uow(write=False) as uow:
            counters = await uow.throttle.get(counter_keys(None, client_ip))
        until = self.limiter.blocked(counters, None, client_ip, now)
        if until is not None:
            seconds = max(1, math.ceil((until - now).total_seconds()))
            raise ActivationThrottled(
                f"too many failed attempts from your network; try again in {seconds} seconds",
                seconds,
            )
        key, typed = _key(address), normalise_activation_code(code)
        async with self.uow() as uow:
            account = await uow.accounts.by_key(key) if key is not None else None
            # The same queries and digest work whether or not the address has a live code.
            owner = account.id if account is not None and needs_activation(account) else 0
            live = await uow.one_time_codes.live(owner, CodePurpose.ACTIVATION, None, now)
            found = match_code(self.key, live, typed or _DUMMY_CODE)
            if not live:
                hmac.compare_digest(
                    code_digest(self.key, CodePurpose.ACTIVATION, 0, typed or _DUMMY_CODE), ""
                )
            if typed is None:
                found = None
            if (
                account is None
                or found is None
                or not await uow.one_time_codes.spend(found.id, now)
            ):
                for c in live if typed is not None else []:  # a malformed code guesses nothing
                    await uow.one_time_codes.count_attempt(c.id)
                if account is not None and live:
                    await self._audit(
                        uow,
                        Actor(f"activation:{client_ip}", None, (), client_ip),
                        "account.activation_refused",
                        account,
                    )
                await self.limiter.count_failure(uow, None, client_ip, now)
                await uow.commit()
                log.info("activation refused for %r from %s", key or "<invalid>", client_ip)
                raise ActivationRefused(
                    "the address or activation code is not correct, or the code has expired "
                    "or was already used"
                )
            await uow.one_time_codes.revoke(account.id, CodePurpose.ACTIVATION, now)
            who = Actor(account.address, account.id, (), client_ip)
            await self._audit(
                uow, who, "account.activation_start", account, {"user_agent": user_agent[:200]}
            )
            await uow.commit()
        return await self.identity.open_restricted(
            account.id, STAGE_ACTIVATION, source_ip=client_ip, user_agent=user_agent
        )

    # --- where the person stands -----------------------------------------------------------------

    async def account_of(self, actor: Actor) -> Account:
        if actor.account_id is None:
            raise NotFound("this caller has no account of its own")
        async with self.uow(write=False) as uow:
            account = await uow.accounts.get(actor.account_id)
        if account is None:
            raise NotFound("this caller has no account of its own")
        return account

    async def progress(self, account: Account) -> Progress:
        async with self.uow(write=False) as uow:
            return await self._progress(uow, account)

    async def next_step(self, account: Account) -> Step:
        """The first step the account still owes (DONE: only `complete` is left, or nothing)."""
        return (await self.progress(account)).step

    async def _progress(self, uow: UnitOfWork, account: Account) -> Progress:
        fresh = await uow.accounts.get(account.id) or account
        actions = fresh.required_actions
        has_factor = bool(await uow.factors.for_account(fresh.id, confirmed_only=True))
        with_factor = has_factor or RequiredAction.ENROL_SECOND_FACTOR in actions
        steps = [Step.PASSWORD]
        steps += [Step.SECOND_FACTOR] if with_factor else []
        steps += [Step.RECOVERY_CONTACT]
        # An account that is already active (a later policy asked for a second factor) makes
        # new recovery codes on its security page; the first login ends with its last action.
        codes = with_factor and fresh.state is AccountState.PENDING_ACTIVATION
        steps += [Step.RECOVERY_CODES] if codes else []
        for action, step in _ACTION_STEPS:
            if action in actions:
                return Progress(step, tuple(steps))
        if codes and has_factor:
            return Progress(Step.RECOVERY_CODES, tuple(steps))
        return Progress(Step.DONE, tuple(steps))

    async def _at(self, actor: Actor, step: Step) -> Account:
        """The actor's account while `step` is its current step; WrongStep otherwise."""
        account = await self.account_of(actor)
        current = await self.next_step(account)
        if current is not step:
            raise WrongStep(
                f"this step is not the current one of the first login; the current one is "
                f"{current.value}",
                current,
            )
        return account

    # --- the steps -------------------------------------------------------------------------------

    async def password_policy(self, account: Account) -> PasswordPolicy:
        """The rules the new password must follow (shown next to the field)."""
        return await self.credentials.policy_for(account)

    async def set_password(self, actor: Actor, password: str) -> None:
        """The first password (PasswordRejected with every reason when it breaks the policy)."""
        await self._at(actor, Step.PASSWORD)
        await self.credentials.set_password(actor, password)

    async def factor_methods(self, account: Account) -> tuple[str, ...]:
        """The second factors the account's policy allows: "totp", "webauthn"."""
        resolution = await self.policies.resolve_for_account(account)
        allowed = tuple(str(m) for m in resolution["second_factor_methods"])
        return tuple(m for m in FACTOR_METHODS if m in allowed) or ("totp",)

    async def _factor_allowed(self, actor: Actor, method: str) -> None:
        account = await self._at(actor, Step.SECOND_FACTOR)
        if method not in await self.factor_methods(account):
            raise WrongStep(
                f"the policy of this account does not offer {method} as a second factor",
                Step.SECOND_FACTOR,
            )

    async def enrol_totp(self, actor: Actor, name: str) -> TotpEnrolment:
        """Start the authenticator-app enrolment: the secret and QR code, shown once."""
        await self._factor_allowed(actor, "totp")
        return await self.factors.enrol_totp(actor, actor.name, name)

    async def confirm_totp(self, actor: Actor, factor_id: int, code: str) -> FactorResult:
        """The first code of the new authenticator app; accepted, the step is done."""
        await self._factor_allowed(actor, "totp")
        result = await self.factors.confirm_totp(actor, actor.name, factor_id, code)
        if result.accepted:
            await self._factor_done(actor, "totp")
        return result

    async def webauthn_options(self, actor: Actor) -> str:
        await self._factor_allowed(actor, "webauthn")
        return await self.factors.webauthn_register_begin(actor, actor.name)

    async def register_webauthn(self, actor: Actor, credential: str, name: str) -> FactorView:
        await self._factor_allowed(actor, "webauthn")
        key = await self.factors.webauthn_register_finish(actor, actor.name, credential, name)
        await self._factor_done(actor, "webauthn")
        return key

    async def _factor_done(self, actor: Actor, method: str) -> None:
        async with self.uow() as uow:
            account = await uow.accounts.get(actor.account_id or 0)
            if account is None:
                raise NotFound("this caller has no account of its own")
            if not await uow.factors.for_account(account.id, confirmed_only=True):
                return
            await self._drop(uow, actor, account, RequiredAction.ENROL_SECOND_FACTOR, method)
            await uow.commit()

    async def contacts(self, actor: Actor) -> list[RecoveryContact]:
        return await self.recovery.list(actor, actor.name)

    async def add_contact(self, actor: Actor, kind: ContactKind | str, value: str) -> int:
        """A backup e-mail address or phone; a 6-digit code goes to it (services.recovery)."""
        await self._at(actor, Step.RECOVERY_CONTACT)
        return await self.recovery.add(actor, actor.name, kind, value)

    async def resend_code(self, actor: Actor, contact_id: int) -> None:
        await self._at(actor, Step.RECOVERY_CONTACT)
        await self.recovery.resend(actor, actor.name, contact_id)

    async def verify_contact(self, actor: Actor, contact_id: int, code: str) -> None:
        """The code the contact got; verifying clears the step (services.recovery)."""
        await self._at(actor, Step.RECOVERY_CONTACT)
        await self.recovery.verify(actor, actor.name, contact_id, code)

    async def recovery_codes(self, actor: Actor) -> list[str]:
        """Ten recovery codes, shown once (a new set replaces any earlier one)."""
        await self._at(actor, Step.RECOVERY_CODES)
        return await self.factors.generate_recovery_codes(actor, actor.name)

    # --- the end ---------------------------------------------------------------------------------

    async def complete(self, actor: Actor) -> Account:
        """Activate the account once every step is done (WrongStep naming the one left);
        the WELCOME message goes into its mailbox. An account that is already active and owes
        nothing is returned unchanged."""
        async with self.uow() as uow:
            account = await uow.accounts.get(actor.account_id or 0)
            if account is None:
                raise NotFound("this caller has no account of its own")
            progress = await self._progress(uow, account)
            if progress.step not in (Step.DONE, Step.RECOVERY_CODES):
                raise WrongStep(
                    f"the first login is not finished: {progress.step.value} is still to do",
                    progress.step,
                )
            if account.state is not AccountState.PENDING_ACTIVATION:
                return account
            has_factor = bool(await uow.factors.for_account(account.id, confirmed_only=True))
            if has_factor and not await uow.recovery_codes.unused(account.id):
                raise WrongStep(
                    "the first login is not finished: make and save your recovery codes",
                    Step.RECOVERY_CODES,
                )
            before = account.state
            account.state = next_state(before, AccountAction.ACTIVATE)
            account.required_actions = []
            await uow.accounts.update(account)
            await self._audit(
                uow,
                actor,
                "account.activate",
                account,
                {"from": before.value, "to": account.state.value, "first_login": True},
            )
            await uow.commit()
        await self._welcome(account, has_factor)
        return account

    async def finish(
        self, restricted: RestrictedSession, *, client_ip: str, user_agent: str
    ) -> WebSession | None:
        """`complete`, then a full session in place of the activation session (None when the
        account may still not be used, e.g. it was locked meanwhile)."""
        actor = await self.identity.act_as(restricted.address, client_ip)
        await self.complete(actor)
        return await self.identity.finish_errand(
            restricted, source_ip=client_ip, user_agent=user_agent
        )

    async def _welcome(self, account: Account, app_password: bool) -> None:
        params = welcome_params(
            account.language,
            host=self.setup.host,
            ports=self.setup.ports(account.allowed_protocols),
            app_password=app_password,
            portal=self.notices.portal_url,
        )
        await self.notices.to_contact(
            NoticeKind.WELCOME,
            account.language,
            domain=account.address.rpartition("@")[2],
            email=account.address,
            params={"address": account.address, **params},
        )

    # --- helpers ---------------------------------------------------------------------------------

    async def _drop(
        self, uow: UnitOfWork, actor: Actor, account: Account, action: RequiredAction, how: str
    ) -> None:
        if action not in account.required_actions:
            return
        account.required_actions = [a for a in account.required_actions if a is not action]
        await uow.accounts.update(account)
        await self._audit(
            uow, actor, "account.first_login_step", account, {"step": action.value, "how": how}
        )

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        account: Account,
        summary: dict[str, object] | None = None,
    ) -> None:
        target = f"account:{account.address_key}"
        await record(uow, self.clock, actor, action, target, account.org_id, summary)


__all__ = [
    "ActivationRefused",
    "ActivationService",
    "ActivationThrottled",
    "MailClientSetup",
    "Progress",
    "Step",
    "WrongStep",
]
