"""All services of one running Mailgate, built by `mailgate.bootstrap` and handed to the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mailgate.domain.ports import BlobStore, Clock, PasswordHasher, Resolver, UnitOfWorkFactory
from mailgate.domain.security import ThrottlePolicy
from mailgate.services.accounts import AccountService
from mailgate.services.apppasswords import AppPasswordService
from mailgate.services.audit import AuditService
from mailgate.services.authentication import AuthenticationService
from mailgate.services.delivery import DeliveryService
from mailgate.services.dircache import BumpingUnitOfWorkFactory, DirectoryCache
from mailgate.services.dkim import DEFAULT_SELECTOR, DkimService
from mailgate.services.events import InProcessEvents
from mailgate.services.factors import FactorConfig, SecondFactorService
from mailgate.services.groupcommit import GroupCommitter
from mailgate.services.identity import IdentityService
from mailgate.services.logins import LoginService
from mailgate.services.mailboxes import MailboxService
from mailgate.services.mailstore import MailStoreService
from mailgate.services.organisations import OrganisationService
from mailgate.services.outbound import OutboundConfig, OutboundService
from mailgate.services.relay import OutboundWorker
from mailgate.services.roster import RosterService
from mailgate.services.routes import RouteService
from mailgate.services.setup import SetupService
from mailgate.services.throttle import Limiter


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
    authentication: AuthenticationService
    outbound: OutboundService
    dkim: DkimService
    mailboxes: MailboxService
    events: InProcessEvents
    factors: SecondFactorService
    logins: LoginService
    app_passwords: AppPasswordService

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
        outbound: OutboundConfig | None = None,
        dkim_selector: str = DEFAULT_SELECTOR,
        factors: FactorConfig | None = None,
        throttle: ThrottlePolicy | None = None,
    ) -> Services:
        # Services that change the directory clear the delivery path's lookup cache on commit.
        cache = DirectoryCache()
        directory_uow = BumpingUnitOfWorkFactory(uow, cache)
        dkim = DkimService(uow, clock, dkim_selector)
        orgs = OrganisationService(directory_uow, clock, dkim)
        accounts = AccountService(directory_uow, clock, hasher)
        routes = RouteService(directory_uow, clock)
        roster = RosterService(uow, clock)
        events = InProcessEvents()
        # One committer for delivery and APPEND, so both share group commits.
        committer = GroupCommitter(uow, events=events)
        # One authentication path (and one brute-force limiter) for web, SMTP, IMAP and POP3.
        authentication = AuthenticationService(
            uow, clock, hasher, Limiter(throttle or ThrottlePolicy())
        )
        identity = IdentityService(uow, clock, hasher, session_idle, session_absolute)
        identity.authenticator = authentication
        return cls(
            organisations=orgs,
            accounts=accounts,
            routes=routes,
            roster=roster,
            audit=AuditService(uow, clock),
            identity=identity,
            setup=SetupService(uow, orgs, accounts, roster),
            delivery=DeliveryService(uow, clock, blobs, committer, cache),
            mailstore=MailStoreService(uow, clock, blobs),
            authentication=authentication,
            outbound=OutboundService(uow, clock, blobs, dkim, outbound or OutboundConfig()),
            dkim=dkim,
            mailboxes=MailboxService(uow, clock, blobs, committer, events),
            events=events,
            factors=SecondFactorService(uow, clock, factors or FactorConfig()),
            logins=LoginService(uow, clock),
            app_passwords=AppPasswordService(uow, clock, hasher),
        )

    def outbound_worker(self, resolver: Resolver | None = None) -> OutboundWorker:
        """The background worker that empties the outbound queue (`resolver` for MX lookups)."""
        o = self.outbound
        return OutboundWorker(o.uow, o.clock, o.blobs, self.delivery, o, resolver)
