"""Words the console shows for codes: states, kinds, error categories. Marked for extraction
with N_ and translated when a page is rendered."""

from __future__ import annotations

from mailgate.web.i18n import N_

ACCOUNT_STATES = {
    "pending_activation": N_("Pending activation"),
    "active": N_("Active"),
    "locked": N_("Locked"),
    "suspended": N_("Suspended"),
    "expired": N_("Expired"),
    "disabled": N_("Disabled"),
}
EMPLOYMENT_TYPES = {
    "full_time": N_("Full time"),
    "part_time": N_("Part time"),
    "contractor": N_("Contractor"),
    "intern": N_("Intern"),
    "partner": N_("Partner"),
}
ROSTER_STATUSES = {
    "active": N_("Employed"),
    "on_leave": N_("On leave"),
    "terminated": N_("Terminated"),
}
ORG_KINDS = {"internal": N_("Internal"), "partner": N_("Partner")}
ROLES = {
    "platform_admin": N_("Platform admin"),
    "org_admin": N_("Organisation admin"),
    "reviewer": N_("Reviewer"),
    "helpdesk": N_("Helpdesk"),
}
ERRORS = {
    "not_found": N_("This was not found, or you may not see it."),
    "permission_denied": N_("You do not have permission to do this."),
    "invalid_input": N_("A value in the request is not valid."),
    "conflict": N_("This conflicts with something that already exists."),
    "rule_violation": N_("A rule of the directory does not allow this."),
    "invalid_transition": N_("This step is not allowed in the current state."),
    "authentication_failed": N_("Please sign in."),
    "csrf": N_(
        "The form has expired or was not sent from this site. Reload the page and try again."
    ),
    "bad_request": N_("The request could not be understood."),
}
SIGN_IN_FAILED = N_("The address or password is not correct, or this account may not sign in here.")


def error_message_id(code: str) -> str:
    """The catalog message for an error code; the family's message for specific codes."""
    families = {
        "invalid_address": "invalid_input",
        "invalid_domain": "invalid_input",
        "invalid_roster": "invalid_input",
        "address_taken": "conflict",
        "domain_not_owned": "rule_violation",
        "pool_exhausted": "rule_violation",
    }
    return ERRORS.get(families.get(code, code), ERRORS["bad_request"])
