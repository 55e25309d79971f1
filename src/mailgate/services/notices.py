"""Notices to people through Mailgate's own mail service and the SMS provider (`Notifier`).

A notice about an account goes into its own INBOX (local delivery, durable like any mail) and to
every *verified* recovery contact: e-mail addresses through the outbound queue, phones through
the SMS provider, so whoever took over a mailbox cannot hide the notice by deleting it. Notices to
administrators go to the mailboxes of the organisation's admins (platform admins when the
organisation has none). Codes go to the one contact they are for.

Messages are plain text, UTF-8, in the recipient's language (`notice_texts`), from
`Mailgate <no-reply@DOMAIN>` where DOMAIN is the recipient account's own domain (so outbound
mail is DKIM-signed with the company's key), with the null envelope sender (no bounce loops) and
`Auto-Submitted: auto-generated` (RFC 3834). A delivery problem never undoes the change that
caused the notice: it is logged and the other channels are still tried.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime as babel_datetime

from mailgate.domain.access import Role
from mailgate.domain.directory import Account, AccountState
from mailgate.domain.errors import MailgateError
from mailgate.domain.notices import NoticeKind
from mailgate.domain.ports import Clock, SmsSender, SmsUnavailable, UnitOfWorkFactory
from mailgate.domain.recovery import ContactKind, RecoveryContact
from mailgate.services.delivery import DeliveryService, RecipientVerdict
from mailgate.services.notice_texts import language_of, render, render_sms
from mailgate.services.outbound import OutboundService

log = logging.getLogger(__name__)


def _domain(account: Account) -> str:
    return account.address.rpartition("@")[2]


_BABEL_LOCALES = {"zh_Hans": "zh_Hans_CN", "zh_Hant": "zh_Hant_TW", "en": "en"}


@dataclass(slots=True)
class NoticeService:
    uow: UnitOfWorkFactory
    clock: Clock
    delivery: DeliveryService
    outbound: OutboundService
    sms: SmsSender | None = None
    portal_url: str = "https://localhost:8080"
    sent: list[tuple[str, NoticeKind]] = field(default_factory=list)  # (channel, kind), for logs

    # --- the Notifier port ----------------------------------------------------------------

    async def to_account(
        self, account: Account, kind: NoticeKind, params: Mapping[str, str] | None = None
    ) -> None:
        async with self.uow(write=False) as uow:
            contacts = await uow.recovery_contacts.for_account(account.id)
        values = self._params(account, params)
        subject, body = render(kind, account.language, values)
        await self._to_mailbox(account, subject, body)
        for contact in contacts:
            if not contact.verified:
                continue
            if contact.kind is ContactKind.EMAIL:
                await self._to_address(account, contact.value, subject, body)
            else:
                await self._to_phone(contact.value, render_sms(kind, account.language, values))
        self.sent.append(("account", kind))

    async def to_admins(
        self, org_id: int, kind: NoticeKind, params: Mapping[str, str] | None = None
    ) -> None:
        async with self.uow(write=False) as uow:
            ids = await uow.roles.holders(org_id, [Role.ORG_ADMIN])
            if not ids:
                ids = await uow.roles.holders(None, [Role.PLATFORM_ADMIN])
            admins = [a for i in ids if (a := await uow.accounts.get(i)) is not None]
        for admin in admins:
            if admin.state is not AccountState.ACTIVE:
                continue
            subject, body = render(kind, admin.language, self._params(admin, params))
            await self._to_mailbox(admin, subject, body)
        self.sent.append(("admins", kind))

    async def code(
        self,
        contact: RecoveryContact,
        language: str,
        kind: NoticeKind,
        code: str,
        params: Mapping[str, str] | None = None,
    ) -> None:
        values = {**(params or {}), "code": code, "portal": self.portal_url}
        if contact.kind is ContactKind.PHONE:
            await self._to_phone(contact.value, render_sms(kind, language, values))
            return
        async with self.uow(write=False) as uow:
            account = await uow.accounts.get(contact.account_id)
        if account is None:
            return
        values = {**self._params(account, params), **values}
        subject, body = render(kind, language, values)
        await self._to_address(account, contact.value, subject, body)

    async def to_contact(
        self,
        kind: NoticeKind,
        language: str,
        *,
        domain: str,
        email: str = "",
        phone: str = "",
        params: Mapping[str, str] | None = None,
    ) -> None:
        """To someone without a mailbox here yet (an applicant, a supervisor's own address),
        from `no-reply@DOMAIN`: the e-mail address and/or the phone given."""
        values = {
            "portal": self.portal_url,
            "time": self._time_in(language, "UTC"),
            **(params or {}),
        }
        subject, body = render(kind, language, values)
        if email:
            await self._send(domain, email, subject, body)
        if phone:
            await self._to_phone(phone, render_sms(kind, language, values))
        self.sent.append(("contact", kind))

    # --- channels -------------------------------------------------------------------------

    def _params(self, account: Account, params: Mapping[str, str] | None) -> dict[str, str]:
        return {
            "address": account.address,
            "time": self._time(account),
            "portal": self.portal_url,
            **(params or {}),
        }

    def _time(self, account: Account) -> str:
        return self._time_in(account.language, account.time_zone)

    def _time_in(self, language: str, time_zone: str) -> str:
        try:
            zone = ZoneInfo(time_zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        locale = _BABEL_LOCALES[language_of(language)]
        return str(babel_datetime(self.clock.now(), "medium", tzinfo=zone, locale=locale))

    def _message(self, domain: str, to: str, subject: str, body: str) -> bytes:
        message = EmailMessage(policy=SMTP)
        message["From"] = f"Mailgate <no-reply@{domain}>"
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(self.clock.now())
        message["Message-ID"] = make_msgid(domain=domain.encode("idna").decode("ascii"))
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        return message.as_bytes()

    async def _to_mailbox(self, account: Account, subject: str, body: str) -> None:
        data = self._message(_domain(account), account.address, subject, body)
        try:
            await self.delivery.deliver("", [account.id], data)
        except (MailgateError, OSError) as exc:
            log.warning("notice to %s not delivered: %s", account.address, exc)

    async def _to_address(self, account: Account, to: str, subject: str, body: str) -> None:
        await self._send(_domain(account), to, subject, body)

    async def _send(self, domain: str, to: str, subject: str, body: str) -> None:
        """To any address: local ones straight into their INBOX, others through the queue."""
        data = self._message(domain, to, subject, body)
        try:
            found = await self.delivery.resolve(to, None)
            if found.verdict is RecipientVerdict.LOCAL and found.account_ids:
                await self.delivery.deliver("", found.account_ids, data)
            if found.remote:
                await self.outbound.enqueue("", found.remote, data)
            elif found.verdict is not RecipientVerdict.LOCAL:
                log.warning("notice to %s not sent: %s", to, found.verdict.value)
        except (MailgateError, OSError) as exc:
            log.warning("notice to %s not sent: %s", to, exc)

    async def _to_phone(self, phone: str, text: str) -> None:
        if self.sms is None:
            log.warning("no SMS provider configured; a notice for %s was not sent", phone[:5])
            return
        try:
            await self.sms.send(phone, text)
        except SmsUnavailable as exc:
            log.warning("SMS to %s... not sent: %s", phone[:5], exc)
