"""The unit of work: one transaction, every repository on its connection."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailgate.domain import ports
from mailgate.storage.account_repos import (
    SqlAccountRepo,
    SqlAddressRepo,
    SqlAliasRepo,
    SqlGroupRepo,
    SqlRoleRepo,
)
from mailgate.storage.alert_repos import SqlKnownSignInRepo
from mailgate.storage.database import Database
from mailgate.storage.directory_repos import (
    SqlDomainRepo,
    SqlOrganisationRepo,
    SqlRosterRepo,
    SqlStructureRepo,
)
from mailgate.storage.factor_repos import SqlRecoveryCodeRepo, SqlSecondFactorRepo
from mailgate.storage.forwarding_repos import SqlForwardingRepo
from mailgate.storage.mail_repos import SqlMailRepo
from mailgate.storage.mailbox_repos import SqlMailboxRepo
from mailgate.storage.onboarding_repos import (
    SqlApplicationRepo,
    SqlEntryPointRepo,
    SqlTicketRepo,
)
from mailgate.storage.policy_repos import SqlPolicyRepo
from mailgate.storage.queue_repos import SqlDkimKeyRepo, SqlQueueRepo
from mailgate.storage.recovery_repos import SqlOneTimeCodeRepo, SqlRecoveryContactRepo
from mailgate.storage.security_repos import (
    SqlAccountSecurityRepo,
    SqlAppPasswordRepo,
    SqlLoginRepo,
    SqlThrottleRepo,
)
from mailgate.storage.system_repos import SqlApiTokenRepo, SqlAuditRepo, SqlWebSessionRepo


class SqlUnitOfWork:
    """Implements `mailgate.domain.ports.UnitOfWork`; each repository is checked against its
    port where it is assigned."""

    orgs: ports.OrganisationRepo
    domains: ports.DomainRepo
    structure: ports.StructureRepo
    roster: ports.RosterRepo
    accounts: ports.AccountRepo
    addresses: ports.AddressRepo
    aliases: ports.AliasRepo
    groups: ports.GroupRepo
    roles: ports.RoleRepo
    audit: ports.AuditRepo
    web_sessions: ports.WebSessionRepo
    api_tokens: ports.ApiTokenRepo
    mail: ports.MailRepo
    queue: ports.QueueRepo
    dkim: ports.DkimKeyRepo
    mailboxes: ports.MailboxRepo
    throttle: ports.ThrottleRepo
    logins: ports.LoginRepo
    app_passwords: ports.AppPasswordRepo
    account_security: ports.AccountSecurityRepo
    factors: ports.SecondFactorRepo
    recovery_codes: ports.RecoveryCodeRepo
    recovery_contacts: ports.RecoveryContactRepo
    one_time_codes: ports.OneTimeCodeRepo
    forwarding: ports.ForwardingRepo
    known_sign_ins: ports.KnownSignInRepo
    policies: ports.PolicyRepo
    entry_points: ports.EntryPointRepo
    applications: ports.ApplicationRepo
    tickets: ports.TicketRepo

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> SqlUnitOfWork:
        conn = await self._engine.connect()
        await conn.begin()
        self._conn = conn
        self.orgs = SqlOrganisationRepo(conn)
        self.domains = SqlDomainRepo(conn)
        self.structure = SqlStructureRepo(conn)
        self.roster = SqlRosterRepo(conn)
        self.accounts = SqlAccountRepo(conn)
        self.addresses = SqlAddressRepo(conn)
        self.aliases = SqlAliasRepo(conn)
        self.groups = SqlGroupRepo(conn)
        self.roles = SqlRoleRepo(conn)
        self.audit = SqlAuditRepo(conn)
        self.web_sessions = SqlWebSessionRepo(conn)
        self.api_tokens = SqlApiTokenRepo(conn)
        self.mail = SqlMailRepo(conn)
        self.queue = SqlQueueRepo(conn)
        self.dkim = SqlDkimKeyRepo(conn)
        self.mailboxes = SqlMailboxRepo(conn)
        self.throttle = SqlThrottleRepo(conn)
        self.logins = SqlLoginRepo(conn)
        self.app_passwords = SqlAppPasswordRepo(conn)
        self.account_security = SqlAccountSecurityRepo(conn)
        self.factors = SqlSecondFactorRepo(conn)
        self.recovery_codes = SqlRecoveryCodeRepo(conn)
        self.recovery_contacts = SqlRecoveryContactRepo(conn)
        self.one_time_codes = SqlOneTimeCodeRepo(conn)
        self.forwarding = SqlForwardingRepo(conn)
        self.known_sign_ins = SqlKnownSignInRepo(conn)
        self.policies = SqlPolicyRepo(conn)
        self.entry_points = SqlEntryPointRepo(conn)
        self.applications = SqlApplicationRepo(conn)
        self.tickets = SqlTicketRepo(conn)
        return self

    async def commit(self) -> None:
        assert self._conn is not None  # noqa: S101
        await self._conn.commit()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
        finally:
            await conn.close()


class SqlUnitOfWorkFactory:
    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.db.writer if write else self.db.reader)
