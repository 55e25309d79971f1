"""One error tree for the whole product. It names no protocol.

Each edge (HTTP, CLI, SMTP, IMAP, POP3) translates these into its own replies; the text of an
error is written for the person who caused it and never contains internals.

    MailgateError
    ├── NotFound                 the object does not exist (or the caller may not know it does)
    ├── PermissionDenied         the caller's roles do not cover this action on this object
    ├── InvalidInput             a value is malformed (address, domain, quota, date, CSV ...)
    │   ├── InvalidAddress
    │   ├── InvalidDomainName
    │   └── InvalidRoster
    ├── Conflict                 the change collides with existing state
    │   └── AddressTaken
    ├── RuleViolation            an invariant of the directory forbids the change
    │   ├── DomainNotOwned
    │   ├── PoolExhausted
    │   └── QuotaExceeded        the mailbox is full
    ├── InvalidTransition        a state machine forbids the step from the current state
    └── AuthenticationFailed     credentials were not accepted (deliberately uninformative)
"""

from __future__ import annotations


class MailgateError(Exception):
    """Base of every error the domain and services raise on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(MailgateError):
    code = "not_found"


class PermissionDenied(MailgateError):
    code = "permission_denied"


class InvalidInput(MailgateError):
    code = "invalid_input"


class InvalidAddress(InvalidInput):
    code = "invalid_address"


class InvalidDomainName(InvalidInput):
    code = "invalid_domain"


class InvalidRoster(InvalidInput):
    code = "invalid_roster"


class Conflict(MailgateError):
    code = "conflict"


class AddressTaken(Conflict):
    code = "address_taken"


class RuleViolation(MailgateError):
    code = "rule_violation"


class DomainNotOwned(RuleViolation):
    code = "domain_not_owned"


class PoolExhausted(RuleViolation):
    code = "pool_exhausted"


class QuotaExceeded(RuleViolation):
    code = "quota_exceeded"


class InvalidTransition(MailgateError):
    code = "invalid_transition"


class AuthenticationFailed(MailgateError):
    code = "authentication_failed"
