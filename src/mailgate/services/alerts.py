"""Security alerts (issue #5 items 8 and 9): new device or network, failure bursts, "not me".

`AlertService` (`services.alerts`) plays three parts:

- **Sign-in watcher.** `AuthenticationService` calls `signed_in` inside the transaction of every
  successful authentication, on every protocol. The device is a normalised client identity
  (protocol plus the browser family and system from the User-Agent, the IMAP ID name, or
  "unknown program"); the network is the client's /24 (IPv4; IPv4-mapped IPv6 counts as IPv4)
  or /48 (IPv6). Both are kept as digests in `known_sign_ins`. The login path pays one indexed
  read, and writes only for something new or a `last_seen` older than a day. The very first
  sign-in of an account records silently; later, a new device or network sends NEW_SIGN_IN to
  the person, off the reply path, after the commit.
- **Alert dispatcher.** Rows of `security_alerts` nobody was told about yet (a failure burst
  raised by the limiter, a "this wasn't me" report) go to the organisation's administrators.
  Each row is claimed with a conditional UPDATE before sending, so it is sent once even when two
  processes dispatch at the same time (a failure in sending is logged, never retried: at most
  once). It runs right after the authentication that raised an alert and in a periodic loop.
- **"This wasn't me".** `report_not_me` ends every web session, revokes every app password and
  API token, removes the account's mail forwarding, requires a new password, forgets the
  reported sign-in's device and network and stores a `not_me` alert, in one audited
  transaction; then the person (mailbox and recovery contacts) and the administrators are told.

Background work runs as asyncio tasks kept in a set; a done-callback logs their errors. `drain()`
waits for all of them (tests, shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mailgate.domain.access import Actor
from mailgate.domain.clients import user_agent_parts
from mailgate.domain.directory import Account, RequiredAction
from mailgate.domain.errors import NotFound
from mailgate.domain.notices import NoticeKind
from mailgate.domain.ports import Clock, Notifier, UnitOfWork, UnitOfWorkFactory
from mailgate.domain.security import LoginFilter, LoginRecord, SecurityAlert
from mailgate.services import api_tokens
from mailgate.services.account_admin import remove_forwarding_in
from mailgate.services.apppasswords import revoke_all_in
from mailgate.services.audit import record
from mailgate.services.notice_texts import word
from mailgate.services.throttle import FAILURE_BURST

log = logging.getLogger(__name__)

DEVICE = "device"
NETWORK = "network"
NOT_ME = "not_me"
REFRESH_AFTER = timedelta(days=1)  # last_seen is written at most once a day per pair
DISPATCH_INTERVAL = 60.0  # seconds between two runs of the periodic dispatcher
DISPATCH_BATCH = 100
RECORD_LOOKBACK = 1000  # "this wasn't me" may name one of the account's last 1000 sign-ins
MAX_LABEL = 60
TASK_NAME = "mailgate-alert"  # every background task of this service (tests wait for them)
ALERT_NOTICES = {FAILURE_BURST: NoticeKind.FAILURE_BURST, NOT_ME: NoticeKind.NOT_ME_REPORTED}

# --- what a client is: a small User-Agent / IMAP ID reader -------------------------------------

_PRODUCT = re.compile(r"^([A-Za-z][A-Za-z0-9._-]{0,39})/")
_ID_NAME = re.compile(r"(?:^|\s)name=(.*?)(?=\s[A-Za-z][A-Za-z0-9_-]*=|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Device:
    """A client identity: `protocol` and a label ("" when the client said nothing useful)."""

    protocol: str
    label: str

    @property
    def key(self) -> str:
        return f"{self.protocol}|{self.label.casefold() or 'unknown'}"


def _clean(text: str) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())[:MAX_LABEL]


def browser_label(user_agent: str) -> str:
    """`Chrome (Windows)`, `Firefox (Linux)`, `python-httpx`; "" when there is nothing to go by."""
    browser, system = user_agent_parts(user_agent)
    if not browser and not user_agent.startswith("Mozilla/"):
        match = _PRODUCT.match(user_agent.strip())
        browser = match.group(1) if match else ""
    if browser and system:
        return f"{browser} ({system})"
    return browser or system


def device_of(protocol: str, client_id: str) -> Device:
    """The device of an authentication: the browser for the web, the ID name for IMAP."""
    protocol = protocol.lower()
    client_id = client_id[:400]
    if protocol == "imap":
        match = _ID_NAME.search(client_id)
        return Device(protocol, _clean(match.group(1)) if match else "")
    if protocol in ("web", "api"):
        return Device(protocol, _clean(browser_label(client_id)))
    return Device(protocol, "")  # SMTP and POP3 clients do not say who they are


def network_of(ip: str) -> str:
    """The client's network: its /24 for IPv4 (also IPv4-mapped IPv6), /48 for IPv6."""
    text = ip.strip().strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return "other:" + ip.strip().lower()[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def sign_in_digest(account_id: int, kind: str, value: str) -> str:
    """What `known_sign_ins` keeps: fixed-size, and different for each account."""
    return hashlib.sha256(f"{account_id}\x00{kind}\x00{value}".encode()).hexdigest()


def sign_in_keys(account_id: int, protocol: str, ip: str, client_id: str) -> dict[str, str]:
    """{kind: digest} of the device and the network of one authentication."""
    return {
        DEVICE: sign_in_digest(account_id, DEVICE, device_of(protocol, client_id).key),
        NETWORK: sign_in_digest(account_id, NETWORK, network_of(ip)),
    }


def _protocol_name(protocol: str, language: str) -> str:
    return word("web", language) if protocol == "web" else protocol.upper()


@dataclass(frozen=True, slots=True)
class NotMeReport:
    """What "this wasn't me" did."""

    sessions_ended: int
    app_passwords_revoked: int
    record_id: int | None
    api_tokens_revoked: int = 0
    forwarding_removed: bool = False


# --- the service ---------------------------------------------------------------------------------


@dataclass(slots=True)
class AlertService:
    uow: UnitOfWorkFactory
    directory_uow: UnitOfWorkFactory  # bumps the directory cache (required actions, forwarding)
    clock: Clock
    notices: Notifier
    interval: float = DISPATCH_INTERVAL
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, init=False, repr=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _stopping: bool = field(default=False, init=False, repr=False)

    # --- background work -----------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, object]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work, name=TASK_NAME)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("alerts: background work failed", exc_info=error)

    async def drain(self) -> None:
        """Wait until every notice and dispatch started so far (and what they started) ended."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    # --- new device or network (the SignInObserver of AuthenticationService) ----------------------

    async def signed_in(
        self,
        uow: UnitOfWork,
        account: Account,
        protocol: str,
        ip: str,
        client_id: str,
        now: datetime,
    ) -> Callable[[], None] | None:
        keys = sign_in_keys(account.id, protocol, ip, client_id)
        seen = await uow.known_sign_ins.seen(account.id, list(keys.items()))
        new = [kind for kind, digest in keys.items() if (kind, digest) not in seen]
        stale = [
            kind
            for kind, digest in keys.items()
            if (kind, digest) in seen and now - seen[(kind, digest)] > REFRESH_AFTER
        ]
        # Nothing matched: the first sign-in ever records silently (no alert at activation).
        first = len(new) == len(keys) and not await uow.known_sign_ins.any_for(account.id)
        for kind in stale:
            await uow.known_sign_ins.touch(account.id, kind, keys[kind], now)
        # Only what this sign-in recorded itself is new: a concurrent sign-in from the same
        # device or network may have recorded it since the read.
        new = [k for k in new if await uow.known_sign_ins.remember(account.id, k, keys[k], now)]
        if not new or first:
            return None
        params = self._new_sign_in_params(account, new, protocol, ip, client_id)

        def notify() -> None:
            self._spawn(self.notices.to_account(account, NoticeKind.NEW_SIGN_IN, params))

        return notify

    @staticmethod
    def _new_sign_in_params(
        account: Account, new: Sequence[str], protocol: str, ip: str, client_id: str
    ) -> dict[str, str]:
        language = account.language
        what = "device_and_network" if len(new) == 2 else new[0]
        device = device_of(protocol, client_id)
        return {
            "what": word(what, language),
            "device": device.label or word("unknown_client", language),
            "ip": ip,
            "protocol": _protocol_name(device.protocol, language),
        }

    def alert_raised(self) -> None:
        self._spawn(self.dispatch())

    # --- alerts to administrators --------------------------------------------------------------

    async def dispatch(self) -> int:
        """Tell the administrators about every alert not yet notified; how many were sent."""
        async with self.uow(write=False) as uow:
            pending = await uow.account_security.pending_alerts(list(ALERT_NOTICES), DISPATCH_BATCH)
        if not pending:
            return 0
        async with self.uow() as uow:
            claimed = set(
                await uow.account_security.mark_notified([a.id for a in pending], self.clock.now())
            )
            await uow.commit()
        sent = 0
        for alert in pending:
            if alert.id not in claimed:
                continue  # another process has it
            if alert.org_id is None:
                log.warning("security alert %d has no organisation; nobody to tell", alert.id)
                continue
            await self.notices.to_admins(
                alert.org_id, ALERT_NOTICES[alert.kind], _alert_params(alert)
            )
            sent += 1
        return sent

    async def run(self) -> None:
        """Dispatch every `interval` seconds until `stop()` (or cancellation); a failed run is
        logged by the task's done-callback and the next one comes on time."""
        while not self._stopping:
            await asyncio.wait({self._spawn(self.dispatch())})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # --- "this wasn't me" ------------------------------------------------------------------------

    async def report_not_me(
        self, actor: Actor, login_record_id: int | None, client_ip: str
    ) -> NotMeReport:
        """The signed-in person says a sign-in (or, with None, some activity) was not theirs.
        NotFound when the caller has no account or `login_record_id` is not one of its own
        recent sign-ins."""
        if actor.account_id is None:
            raise NotFound("this caller has no account of its own")
        now = self.clock.now()
        async with self.directory_uow() as uow:
            account = await uow.accounts.get(actor.account_id)
            if account is None:
                raise NotFound("this caller has no account of its own")
            reported = None
            if login_record_id is not None:
                reported = await _own_record(uow, account.id, login_record_id)
            sessions = await uow.web_sessions.delete_for_account(account.id)
            revoked = await revoke_all_in(uow, self.clock, actor, account)
            tokens = await api_tokens.revoke_all_in(uow, self.clock, actor, account)
            forwarding = await remove_forwarding_in(
                uow, self.clock, actor, account, "account.not_me"
            )
            if RequiredAction.UPDATE_PASSWORD not in account.required_actions:
                account.required_actions = [
                    *account.required_actions,
                    RequiredAction.UPDATE_PASSWORD,
                ]
                await uow.accounts.update(account)
            if reported is not None:
                keys = sign_in_keys(account.id, reported.protocol, reported.ip, reported.client_id)
                await uow.known_sign_ins.forget(account.id, list(keys.items()))
            details: dict[str, object] = {
                "address": account.address,
                "record_id": login_record_id,
                "reported_from": client_ip,
                "sessions_ended": sessions,
                "app_passwords_revoked": revoked,
                "api_tokens_revoked": tokens,
                "forwarding_removed": forwarding,
            }
            if reported is not None:
                details |= {
                    "record_ip": reported.ip,
                    "record_protocol": reported.protocol,
                    "record_time": reported.occurred_at.isoformat(),
                }
            await uow.account_security.add_alert(
                SecurityAlert(now, NOT_ME, account.id, account.org_id, details)
            )
            await record(
                uow,
                self.clock,
                actor,
                "account.not_me",
                f"account:{account.address_key}",
                account.org_id,
                {
                    "record_id": login_record_id,
                    "sessions": sessions,
                    "app_passwords": revoked,
                    "api_tokens_revoked": tokens,
                    "forwarding_removed": forwarding,
                },
            )
            await uow.commit()
        reason = word("not_me", account.language)
        await self.notices.to_account(account, NoticeKind.ACCOUNT_LOCKED_DOWN, {"reason": reason})
        await self.dispatch()
        return NotMeReport(sessions, revoked, login_record_id, tokens, forwarding)


async def _own_record(uow: UnitOfWork, account_id: int, record_id: int) -> LoginRecord:
    found, _ = await uow.logins.search(None, LoginFilter(account_id=account_id), 0, RECORD_LOOKBACK)
    for candidate in found:
        if candidate.id == record_id:
            return candidate
    raise NotFound("there is no such recent sign-in of yours")


def _alert_params(alert: SecurityAlert) -> Mapping[str, str]:
    d = alert.details
    params = {"account": str(d.get("address", ""))}
    if alert.kind == FAILURE_BURST:
        params |= {
            "failures": str(d.get("failures", "")),
            "ips": str(d.get("ips", "")),
            "window": str(d.get("window_minutes", "")),
        }
    else:
        params["ip"] = str(d.get("record_ip") or d.get("reported_from", ""))
    return params
