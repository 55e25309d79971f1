"""Words the onboarding pages show for codes: application states, steps, roster flags, form
fields, approvers, policy settings. Marked with N_ and translated when a page is rendered."""

from __future__ import annotations

from typing import Any

from mailgate.domain.policy import SETTINGS
from mailgate.web.i18n import N_, Catalog

APPLICATION_STATES = {
    "draft": N_("Draft"),
    "submitted": N_("Submitted"),
    "awaiting_supervisor": N_("Waiting for the supervisor"),
    "awaiting_review": N_("Waiting for review"),
    "needs_information": N_("More information needed"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "expired": N_("Expired"),
}
# What happens next, as the applicant reads it on the tracking page.
NEXT_STEPS = {
    "draft": N_("The application has not been sent yet."),
    "submitted": N_("The application was received and is being passed to the first approver."),
    "awaiting_supervisor": N_(
        "Your supervisor has been asked to confirm the application by e-mail. Nothing to do "
        "for you now."
    ),
    "awaiting_review": N_(
        "The IT department is checking the application. Nothing to do for you now."
    ),
    "needs_information": N_(
        "A reviewer needs more information. Answer the question below and send the "
        "application again."
    ),
    "approved": N_(
        "The mailbox was approved. An activation code has been sent to the contact you gave; "
        "use it to sign in the first time."
    ),
    "rejected": N_("The application was rejected. The reason is shown below."),
    "withdrawn": N_("You withdrew the application. You can apply again at any time."),
    "expired": N_(
        "Nobody decided in time, so the application expired. You can apply again; ask your "
        "IT desk if this happens twice."
    ),
}
STEPS = {
    "submit": N_("Submitted"),
    "route_to_supervisor": N_("Sent to the supervisor"),
    "route_to_review": N_("Sent for review"),
    "auto_approve": N_("Approved automatically"),
    "supervisor_approve": N_("Confirmed by the supervisor"),
    "review_approve": N_("Review stage approved"),
    "final_approve": N_("Approved"),
    "reject": N_("Rejected"),
    "ask_information": N_("More information requested"),
    "resubmit": N_("Sent again with more information"),
    "withdraw": N_("Withdrawn"),
    "expire": N_("Expired"),
}
ROSTER_CHECKS = {
    "match": N_("Matches the roster"),
    "not_on_roster": N_("Not on the roster"),
    "name_mismatch": N_("Name differs from the roster"),
    "unit_mismatch": N_("Department differs from the roster"),
    "not_active": N_("Not employed at present (left or on leave)"),
    "supervisor_mismatch": N_("Supervisor differs from the roster"),
}
FIELDS = {
    "employee_id": N_("Employee ID"),
    "name": N_("Full name"),
    "department": N_("Department"),
    "position": N_("Position"),
    "purpose": N_("Purpose of the mailbox"),
    "duration": N_("Wanted duration (days)"),
    "mobile": N_("Mobile phone"),
    "supervisor": N_("Supervisor's employee ID"),
    "agreement_number": N_("Partner agreement number"),
    "sponsor": N_("Internal sponsor (e-mail address)"),
    "contact_email": N_("E-mail address for the answer"),
    "language": N_("Language of our messages"),
}
# Form field name -> ApplicationForm attribute / policy field name.
FORM_ATTRIBUTES = {
    "employee_id": "employee_id",
    "name": "name",
    "department": "department",
    "position": "position",
    "purpose": "purpose",
    "duration": "duration_days",
    "mobile": "mobile",
    "supervisor": "supervisor_employee_id",
    "agreement_number": "agreement_number",
    "sponsor": "sponsor",
    "contact_email": "contact_email",
}
APPROVERS = {
    "supervisor": N_("Supervisor"),
    "it": N_("IT department"),
    "hr": N_("Human resources"),
    "security": N_("Information security"),
}
CONDITIONS = {
    "roster_active": N_("You are on the HR roster and currently employed."),
    "internal_entry": N_("You apply through an internal entry (not the partner portal)."),
}
CONDITION_NAMES = {
    "roster_active": N_("On the roster and employed"),
    "internal_entry": N_("Came through an internal entry"),
}
ENTRY_KINDS = {
    "portal": N_("Internal portal"),
    "ticket": N_("IT service-desk ticket"),
    "partner": N_("Partner portal"),
}
TICKET_STATES = {"open": N_("Open"), "closed": N_("Closed")}
SETTING_LABELS = {
    "self_service": N_("Self-service application allowed"),
    "required_fields": N_("Required form fields"),
    "required_documents": N_("Required documents"),
    "approval_chain": N_("Approval chain"),
    "auto_approve_on_roster_match": N_("Approve automatically when the roster matches"),
    "four_eyes": N_("Supervisor may not also review (four eyes)"),
    "checklist": N_("Reviewer checklist"),
    "decision_days": N_("Days to decide before expiry"),
    "reminder_hours": N_("Hours before approvers are reminded"),
    "second_factor_required": N_("Second factor required"),
    "second_factor_methods": N_("Second factor methods"),
    "quota": N_("Mailbox quota"),
    "max_lifetime_days": N_("Maximum account lifetime (days, 0: none)"),
    "allowed_protocols": N_("Allowed protocols"),
    "username_pattern": N_("Username pattern"),
    "password_min_length": N_("Minimum password length"),
    "password_min_length_with_second_factor": N_("Minimum password length with a second factor"),
    "password_rotation_days": N_("Password rotation (days, 0: never)"),
    "password_breach_check": N_("Check passwords against breach lists"),
    "forwarding": N_("Mail forwarding allowed"),
}
# How each setting is edited in the console.
SETTING_KINDS = {
    key: (
        "bool"
        if isinstance(default, bool)
        else "size"
        if key == "quota"
        else "int"
        if isinstance(default, int)
        else "lines"
        if key in ("required_documents", "checklist")
        else "names"
        if isinstance(default, tuple)
        else "text"
    )
    for key, (_check, default) in SETTINGS.items()
}
SETTING_HINTS = {
    "required_fields": N_(
        "Comma-separated: employee_id, name, department, position, purpose, duration, mobile, "
        "supervisor, agreement_number, sponsor"
    ),
    "approval_chain": N_("Comma-separated, in order: supervisor, it, hr, security"),
    "second_factor_methods": N_("Comma-separated: totp, webauthn"),
    "allowed_protocols": N_("Comma-separated: imap, pop3, smtp, web"),
    "required_documents": N_("One document per line, e.g. Work ID card"),
    "checklist": N_("One item per line, e.g. Work ID matches the roster photo"),
    "quota": N_("A size such as 500MiB or 2GiB"),
    "forwarding": N_(
        "none, internal (only to the organisation's own domains) or external (anywhere)"
    ),
    "username_pattern": N_(
        "Placeholders {employee_id}, {pinyin}, {given}, {family}, {initials}; a-z 0-9 . _ - "
        "between them"
    ),
}
LANGUAGE_CHOICES = ("zh_Hans", "zh_Hant", "en")


def show_setting(t: Catalog, key: str, value: Any) -> str:
    """A setting's value as the console shows it, in the page's language."""
    _ = t.gettext
    kind = SETTING_KINDS.get(key, "text")
    if kind == "bool":
        return _("Yes") if value else _("No")
    if kind == "size":
        return t.size(int(value))
    if kind == "int":
        return t.number(int(value))
    if key == "approval_chain":
        return " → ".join(_(APPROVERS[v]) if v in APPROVERS else str(v) for v in value)
    if key == "required_fields":
        return ", ".join(_(FIELDS[v]) if v in FIELDS else str(v) for v in value)
    if kind in ("names", "lines"):
        return "; ".join(str(v) for v in value) if value else _("none")
    return str(value)
