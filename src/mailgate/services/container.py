"""All services of one running Mailgate, built by `mailgate.bootstrap` and handed to the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mailgate.domain.ports import (
    BlobStore,
    Clock,
    PasswordHasher,
    Resolver,
    SmsSender,
    UnitOfWorkFactory,
)
from mailgate.domain.security import ThrottlePolicy
from mailgate.services.account_admin import AccountAdminService
from mailgate.services.accounts import AccountService
from mailgate.services.activation import ActivationService, MailClientSetup
from mailgate.services.activation_codes import ActivationCodeService
from mailgate.services.alerts import AlertService
from mailgate.services.api_tokens import ApiTokenService
from mailgate.services.applications import ApplicationService
from mailgate.services.apply_form import ApplyFormService
from mailgate.services.apppasswords import AppPasswordService
from mailgate.services.audit import AuditService
from mailgate.services.authentication import AuthenticationService
from mailgate.services.clientconfig import ClientConfigService
from mailgate.services.credentials import CredentialService
from mailgate.services.delivery import DeliveryService
from mailgate.services.dircache import BumpingUnitOfWorkFactory, DirectoryCache
from mailgate.services.dkim import DEFAULT_SELECTOR, DkimService
from mailgate.services.entrypoints import EntryPointService
from mailgate.services.events import InProcessEvents
from mailgate.services.factors import FactorConfig, SecondFactorService
from mailgate.services.forwarding import ForwardingService
from mailgate.services.groupcommit import GroupCommitter
from mailgate.services.identity import IdentityService
from mailgate.services.logins import LoginService
from mailgate.services.mailboxes import MailboxService
from mailgate.services.mailstore import MailStoreService
from mailgate.services.notices import NoticeService
from mailgate.services.organisations import OrganisationService
from mailgate.services.outbound import OutboundConfig, OutboundService
from mailgate.services.passwords import PasswordChecker
from mailgate.services.policies import PolicyService
from mailgate.services.recovery import RecoveryService, code_key
from mailgate.services.relay import OutboundWorker
from mailgate.services.reset import ResetService
from mailgate.services.roster import RosterService
from mailgate.services.routes import RouteService
from mailgate.services.setup import SetupService
from mailgate.services.throttle import Limiter
from mailgate.services.tickets import TicketService
from mailgate.services.workflow import ReviewWorkflow


@dataclass(slots=True)
class Services:
    organisations: OrganisationService
    accounts: AccountService
    routes: RouteService
    roster: RosterService
    audit: AuditService
    identity: IdentityService
    api_tokens: ApiTokenService
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
    account_admin: AccountAdminService
    notices: NoticeService
    credentials: CredentialService
    alerts: AlertService
    policies: PolicyService
    recovery: RecoveryService
    reset: ResetService
    apply_form: ApplyFormService
    entry_points: EntryPointService
    applications: ApplicationService
    tickets: TicketService
    workflow: ReviewWorkflow
    activation_codes: ActivationCodeService
    activation: ActivationService
    forwarding: ForwardingService
    client_config: ClientConfigService

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
        sudo: timedelta = timedelta(minutes=10),
        outbound: OutboundConfig | None = None,
        dkim_selector: str = DEFAULT_SELECTOR,
        factors: FactorConfig | None = None,
        throttle: ThrottlePolicy | None = None,
        sms: SmsSender | None = None,
        portal_url: str = "https://localhost:8080",
        password_checker: PasswordChecker | None = None,
        activation_lifetime: timedelta = timedelta(hours=72),
        onboarding_batch: int = 100,
        mail_setup: MailClientSetup | None = None,
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
        identity = IdentityService(
            uow, clock, hasher, session_idle, session_absolute, sudo, limiter=authentication.limiter
        )
        identity.authenticator = authentication
        second_factors = SecondFactorService(uow, clock, factors or FactorConfig())
        identity.factors = second_factors
        delivery = DeliveryService(uow, clock, blobs, committer, cache)
        outbound_service = OutboundService(uow, clock, blobs, dkim, outbound or OutboundConfig())
        notices = NoticeService(uow, clock, delivery, outbound_service, sms, portal_url)
        # Policies decide whether forwardings apply on delivery: changing one clears the cache.
        policies = PolicyService(directory_uow, clock)
        credentials = CredentialService(
            directory_uow,
            clock,
            hasher,
            password_checker or PasswordChecker(),
            notices,
            authentication,
            policies,
        )
        # One-time codes (contact verification, password reset) are keyed from the secret key.
        one_time_key = code_key((factors or FactorConfig()).secret_key)
        # The review workflow provisions accounts, so it clears the directory cache too.
        workflow = ReviewWorkflow(
            directory_uow, clock, notices, one_time_key, activation_lifetime, onboarding_batch
        )
        activation_codes = ActivationCodeService(
            directory_uow, clock, notices, one_time_key, portal_url, activation_lifetime
        )
        # New device / network notices and the admins' security alerts (services.alerts).
        alerts = AlertService(uow, directory_uow, clock, notices)
        authentication.observer = alerts
        recovery = RecoveryService(
            directory_uow, clock, notices, one_time_key, sms_available=sms is not None
        )
        # The forced first login at /activate (services.activation) drives the services above.
        activation = ActivationService(
            directory_uow,
            clock,
            one_time_key,
            identity,
            credentials,
            second_factors,
            recovery,
            policies,
            notices,
            authentication.limiter,
            mail_setup or MailClientSetup(),
        )
        # Thunderbird autoconfig and Outlook autodiscover (web.wellknown) tell the same settings.
        client_config = ClientConfigService(uow, activation.setup)
        return cls(
            activation_codes=activation_codes,
            organisations=orgs,
            accounts=accounts,
            routes=routes,
            roster=roster,
            audit=AuditService(uow, clock),
            identity=identity,
            api_tokens=ApiTokenService(uow, clock),
            setup=SetupService(
                uow, orgs, accounts, roster, EntryPointService(uow, clock), policies
            ),
            delivery=delivery,
            mailstore=MailStoreService(uow, clock, blobs),
            authentication=authentication,
            outbound=outbound_service,
            dkim=dkim,
            mailboxes=MailboxService(uow, clock, blobs, committer, events),
            events=events,
            factors=second_factors,
            logins=LoginService(uow, clock),
            app_passwords=AppPasswordService(uow, clock, hasher),
            account_admin=AccountAdminService(
                directory_uow,
                clock,
                accounts,
                second_factors,
                notices,
                session_idle,
                session_absolute,
            ),
            notices=notices,
            credentials=credentials,
            alerts=alerts,
            policies=policies,
            recovery=recovery,
            reset=ResetService(
                uow,
                clock,
                notices,
                credentials,
                second_factors,
                one_time_key,
                authentication.limiter,
                portal_url,
            ),
            apply_form=ApplyFormService(uow),
            entry_points=EntryPointService(uow, clock),
            applications=ApplicationService(
                uow, clock, blobs, notices, portal_url, workflow=workflow
            ),
            tickets=TicketService(uow, clock),
            workflow=workflow,
            activation=activation,
            # Forwarding changes where mail goes: its factory bumps the directory cache.
            forwarding=ForwardingService(
                directory_uow, clock, notices, policies, delivery, one_time_key
            ),
            client_config=client_config,
        )

    def outbound_worker(self, resolver: Resolver | None = None) -> OutboundWorker:
        """The background worker that empties the outbound queue (`resolver` for MX lookups)."""
        o = self.outbound
        return OutboundWorker(o.uow, o.clock, o.blobs, self.delivery, o, resolver)
