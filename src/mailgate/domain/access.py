"""Who may do what: roles scoped to organisations, and the caller of every service call.

Admins are accounts with role grants. A grant names a role and an organisation; the platform
admin's grant has no organisation and covers all of them. Services ask `Actor.require` before
they read or change anything; an organisation admin of A is refused everything of B, and B's
objects are reported as not found rather than forbidden where existence itself is private.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mailgate.domain.errors import PermissionDenied


class Role(enum.StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    ORG_ADMIN = "org_admin"
    REVIEWER = "reviewer"
    HELPDESK = "helpdesk"


class Permission(enum.StrEnum):
    ORG_CREATE = "org.create"
    ORG_READ = "org.read"
    ORG_UPDATE = "org.update"
    DOMAIN_MANAGE = "domain.manage"
    DIRECTORY_READ = "directory.read"
    DIRECTORY_WRITE = "directory.write"
    ROSTER_READ = "roster.read"
    ROSTER_WRITE = "roster.write"
    ACCOUNT_READ = "account.read"
    ACCOUNT_WRITE = "account.write"
    ACCOUNT_UNLOCK = "account.unlock"
    ROLE_GRANT = "role.grant"
    AUDIT_READ = "audit.read"
    APPLICATION_REVIEW = "application.review"  # decide IT/HR/security stages, read documents
    TICKET_MANAGE = "ticket.manage"  # the IT ticket list: read, export, close


_P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLATFORM_ADMIN: frozenset(Permission),
    Role.ORG_ADMIN: frozenset(
        {
            _P.ORG_READ,
            _P.ORG_UPDATE,
            _P.DIRECTORY_READ,
            _P.DIRECTORY_WRITE,
            _P.ROSTER_READ,
            _P.ROSTER_WRITE,
            _P.ACCOUNT_READ,
            _P.ACCOUNT_WRITE,
            _P.ACCOUNT_UNLOCK,
            _P.ROLE_GRANT,
            _P.AUDIT_READ,
            _P.APPLICATION_REVIEW,
            _P.TICKET_MANAGE,
        }
    ),
    Role.REVIEWER: frozenset(
        {_P.ORG_READ, _P.DIRECTORY_READ, _P.ROSTER_READ, _P.ACCOUNT_READ, _P.APPLICATION_REVIEW}
    ),
    Role.HELPDESK: frozenset(
        {
            _P.ORG_READ,
            _P.DIRECTORY_READ,
            _P.ROSTER_READ,
            _P.ACCOUNT_READ,
            _P.ACCOUNT_UNLOCK,
            _P.TICKET_MANAGE,
        }
    ),
}
# Only platform admins may create organisations, attach domains or grant platform-wide roles.
PLATFORM_ONLY = frozenset({_P.ORG_CREATE, _P.DOMAIN_MANAGE})


@dataclass(frozen=True, slots=True)
class RoleGrant:
    role: Role
    org_id: int | None  # None: platform-wide (platform admin only)


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a service: an account with grants, or the local operator of the CLI."""

    name: str  # what the audit log shows: an address, "cli:root", "system"
    account_id: int | None
    grants: tuple[RoleGrant, ...] = field(default_factory=tuple)
    source_ip: str = ""

    @property
    def is_platform_admin(self) -> bool:
        return any(g.role is Role.PLATFORM_ADMIN for g in self.grants)

    def can(self, permission: Permission, org_id: int | None) -> bool:
        for grant in self.grants:
            if permission not in ROLE_PERMISSIONS[grant.role]:
                continue
            if grant.role is Role.PLATFORM_ADMIN:
                return True
            if permission in PLATFORM_ONLY:
                continue
            if org_id is not None and grant.org_id == org_id:
                return True
        return False

    def require(self, permission: Permission, org_id: int | None) -> None:
        if not self.can(permission, org_id):
            raise PermissionDenied(
                f"{self.name} may not {permission.value.replace('.', ' ')} here; "
                "ask an administrator of this organisation"
            )

    def org_scope(self, permission: Permission) -> frozenset[int] | None:
        """Organisations where `permission` holds; None means all of them."""
        if any(
            g.role is Role.PLATFORM_ADMIN and permission in ROLE_PERMISSIONS[g.role]
            for g in self.grants
        ):
            return None
        return frozenset(
            g.org_id
            for g in self.grants
            if g.org_id is not None and permission in ROLE_PERMISSIONS[g.role]
        )

    def with_source_ip(self, ip: str) -> Actor:
        return Actor(self.name, self.account_id, self.grants, ip)


def operator(name: str) -> Actor:
    """The local operator: whoever can run the CLI on the server owns the data directory."""
    return Actor(name=name, account_id=None, grants=(RoleGrant(Role.PLATFORM_ADMIN, None),))


SYSTEM = Actor(name="system", account_id=None, grants=(RoleGrant(Role.PLATFORM_ADMIN, None),))
