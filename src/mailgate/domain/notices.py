"""What Mailgate tells people about their accounts: the kinds of notices.

A notice is sent by the `Notifier` port (services.notices implements it) through Mailgate's own
mail service, in the recipient's language. Security notices go to the mailbox *and* every
verified recovery contact, so someone who took over the mailbox cannot hide them. Codes go only
to the contact they verify or to verified contacts.
"""

from __future__ import annotations

import enum


class NoticeKind(enum.StrEnum):
    # to the account (mailbox + verified recovery contacts)
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a notice name
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a notice name
    SECOND_FACTOR_ADDED = "second_factor_added"
    SECOND_FACTOR_REMOVED = "second_factor_removed"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
    RECOVERY_CONTACT_ADDED = "recovery_contact_added"
    RECOVERY_CONTACT_REMOVED = "recovery_contact_removed"
    APP_PASSWORD_CREATED = "app_password_created"  # noqa: S105 - a notice name
    SESSIONS_ENDED = "sessions_ended"
    NEW_SIGN_IN = "new_sign_in"  # a new device or network
    ACCOUNT_LOCKED_DOWN = "account_locked_down"
    FORWARDING_CHANGED = "forwarding_changed"  # set, verified or removed
    # administrator actions (services.account_admin), told to the person afterwards
    ACCOUNT_LOCKED = "account_locked"
    ACCOUNT_UNLOCKED = "account_unlocked"
    PASSWORD_CHANGE_REQUIRED = "password_change_required"  # noqa: S105 - a notice name
    SECOND_FACTORS_RESET = "second_factors_reset"
    SESSIONS_REVOKED = "sessions_revoked"
    APP_PASSWORDS_REVOKED = "app_passwords_revoked"
    # to the organisation's administrators
    FAILURE_BURST = "failure_burst"
    NOT_ME_REPORTED = "not_me_reported"
    LOCKDOWN_BY_ADMIN = "lockdown_by_admin"  # an administrator locked an account down
    # codes, to one contact
    VERIFY_CONTACT_CODE = "verify_contact_code"
    RESET_CODE = "reset_code"
    FORWARDING_VERIFY_CODE = "forwarding_verify_code"  # to the forwarding target
    # onboarding intake, to an applicant's stated contact (they have no mailbox yet)
    APPLICATION_RECEIVED = "application_received"  # with the tracking link
    TICKET_CREATED = "ticket_created"  # not eligible for self-service: IT will contact them
    # review workflow and provisioning (services.workflow): to approvers' mailboxes ...
    SUPERVISOR_REQUEST = "supervisor_request"  # the single-use approval link
    REVIEW_REQUEST = "review_request"  # an application waits in the reviewers' queue
    REVIEW_REMINDER = "review_reminder"  # still waiting after the policy's reminder_hours
    # ... and to the applicant's stated contact
    APPLICATION_NEEDS_INFORMATION = "application_needs_information"
    APPLICATION_REJECTED = "application_rejected"  # with the reason
    APPLICATION_APPROVED = "application_approved"  # the address and the activation code
    APPLICATION_EXPIRED = "application_expired"  # nobody decided in time (also to approvers)
    # the forced first login (services.activation), into the new mailbox only
    WELCOME = "welcome"  # how to set up mail programs: servers, ports, app passwords
