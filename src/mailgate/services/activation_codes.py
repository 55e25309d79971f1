"""A new activation code for an account that has not finished its first login.

The code from the approval expires after 72 h, dies after 5 wrong guesses, and is spent when the
activation starts; a person who lost it asks the IT desk, which issues a new one here
(`mailgate account activation-code ADDRESS`). Every older activation code of the account is
spent first. When the account came from an application, the code goes only to the contact the
applicant stated (the same APPLICATION_APPROVED notice, in their language) and the caller never
sees it. An account created by an administrator (no application, no contact) gets the code back
once, for the administrator to hand over in person; it is never stored in clear or logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Account, AccountState
from mailgate.domain.errors import InvalidTransition
from mailgate.domain.notices import NoticeKind
from mailgate.domain.onboarding import Application
from mailgate.domain.ports import Clock, Notifier, UnitOfWorkFactory
from mailgate.services.apppasswords import account_for
from mailgate.services.audit import record
from mailgate.services.provisioning import (
    ACTIVATION_LIFETIME,
    format_activation_code,
    issue_activation_code_in,
)


@dataclass(frozen=True, slots=True)
class Reissued:
    account: Account
    sent_to: tuple[str, ...]  # masked channels the code went to
    code: str = ""  # only for accounts without an application: hand it over in person


@dataclass(slots=True)
class ActivationCodeService:
    uow: UnitOfWorkFactory
    clock: Clock
    notices: Notifier
    code_key: bytes
    portal_url: str = "https://localhost:8080"
    lifetime: timedelta = ACTIVATION_LIFETIME

    async def reissue(self, actor: Actor, address: str) -> Reissued:
        """A new activation code for an account still pending activation (ACCOUNT_WRITE)."""
        async with self.uow() as uow:
            account = await account_for(uow, actor, address, Permission.ACCOUNT_WRITE)
            if account.state is not AccountState.PENDING_ACTIVATION:
                raise InvalidTransition(
                    "only an account pending activation gets an activation code; this one is "
                    f"{account.state.value}"
                )
            code = await issue_activation_code_in(
                uow, self.clock, account.id, self.code_key, self.lifetime
            )
            application = await uow.applications.by_account(account.id)
            domain = await uow.domains.by_name(account.address_key.rpartition("@")[2])
            channels = _channels(application)
            await record(
                uow,
                self.clock,
                actor,
                "account.activation_code",
                f"account:{account.address_key}",
                account.org_id,
                {"sent_to": list(channels), "handed_to_caller": not channels},
            )
            await uow.commit()
        if application is None or not channels:
            return Reissued(account, (), format_activation_code(code))
        form = application.form
        await self.notices.to_contact(
            NoticeKind.APPLICATION_APPROVED,
            form.language,
            domain=domain.name if domain else account.address.rpartition("@")[2],
            email=form.contact_email,
            phone=form.mobile,
            params={
                "address": account.address,
                "number": str(application.id),
                "code": format_activation_code(code),
                "hours": str(int(self.lifetime.total_seconds() // 3600)),
                "link": f"{self.portal_url}/activate",
                "organisation": "",
            },
        )
        return Reissued(account, channels)


def _channels(application: Application | None) -> tuple[str, ...]:
    if application is None:
        return ()
    form = application.form
    out = []
    if form.contact_email:
        local, _, domain = form.contact_email.rpartition("@")
        out.append(f"{local[:1]}***@{domain}")
    if form.mobile:
        out.append(form.mobile[:3] + "****" + form.mobile[-4:])
    return tuple(out)
