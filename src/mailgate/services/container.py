"""All services of one running Mailgate, built by `mailgate.bootstrap` and handed to the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mailgate.domain.ports import BlobStore, Clock, PasswordHasher, UnitOfWorkFactory
from mailgate.services.accounts import AccountService
from mailgate.services.audit import AuditService
from mailgate.services.delivery import DeliveryService
from mailgate.services.groupcommit import GroupCommitter
from mailgate.services.identity import IdentityService
from mailgate.services.mailstore import MailStoreService
from mailgate.services.organisations import OrganisationService
from mailgate.services.roster import RosterService
from mailgate.services.routes import RouteService
from mailgate.services.setup import SetupService


@dataclass(slots=True)
class Services:
    organisations: OrganisationService
    accounts: AccountService
    routes: RouteService
    roster: RosterService
    audit: AuditService
    identity: IdentityService
    setup: SetupService
    delivery: DeliveryService
    mailstore: MailStoreService

    @classmethod
    def build(
        cls,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        blobs: BlobStore,
        *,
        session_idle: timedelta = timedelta(minutes=30),
        session_absolute: timedelta = timedelta(hours=12),
    ) -> Services:
        orgs = OrganisationService(uow, clock)
        accounts = AccountService(uow, clock, hasher)
        routes = RouteService(uow, clock)
        roster = RosterService(uow, clock)
        return cls(
            organisations=orgs,
            accounts=accounts,
            routes=routes,
            roster=roster,
            audit=AuditService(uow, clock),
            identity=IdentityService(uow, clock, hasher, session_idle, session_absolute),
            setup=SetupService(uow, orgs, accounts, roster),
            delivery=DeliveryService(uow, clock, blobs, GroupCommitter(uow)),
            mailstore=MailStoreService(uow, clock, blobs),
        )
