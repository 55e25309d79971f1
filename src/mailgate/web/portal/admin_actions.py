"""The administrator actions of the console's account page: what each one is called, explains
and needs (`ACTIONS`), which of them the page offers, the check of the form, carrying one out
through `services.account_admin`, and the notice shown afterwards; plus the labels of the codes
the security pages show (audit actions, owed steps, alert kinds).

Removing the account's forwarding (`services.forwarding`) and revoking one of its API tokens
(`services.api_tokens`) are buttons on the page itself, not actions with a confirmation page:
they take no reason (the services audit what was removed) and end with a notice from
`done_notice` too. `forwarding_applies` tells whether the policy lets a forwarding take mail.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailgate.domain.access import Actor, Permission
from mailgate.domain.directory import Account, AccountState
from mailgate.services.account_admin import MAX_REASON, AccountAdminService
from mailgate.web.i18n import N_, Catalog


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One administrator action as the console offers it."""

    title: str
    explanation: str
    button: str
    permission: Permission
    fields: tuple[str, ...]  # reason | verified_by, method
    reason_required: bool = False
    self_allowed: bool = True


ACTIONS: dict[str, ActionSpec] = {
    "lockdown": ActionSpec(
        N_("Lock down this account"),
        N_(
            "Use this when the account may be in someone else's hands. In one step the account "
            "is locked, every web session is ended, every app password and API token is revoked, "
            "any forwarding is removed and a new password is required at the next sign-in. The "
            "person and the organisation's administrators are told."
        ),
        N_("Lock down"),
        Permission.ACCOUNT_WRITE,
        ("reason",),
        reason_required=True,
        self_allowed=False,
    ),
    "lock": ActionSpec(
        N_("Lock this account"),
        N_(
            "Nobody can sign in to a locked account, on the web or with a mail program, until "
            "it is unlocked. Sessions and app passwords are kept."
        ),
        N_("Lock"),
        Permission.ACCOUNT_WRITE,
        ("reason",),
        reason_required=True,
        self_allowed=False,
    ),
    "unlock": ActionSpec(
        N_("Unlock this account"),
        N_("The person can sign in again. Steps still owed, such as a new password, stay."),
        N_("Unlock"),
        Permission.ACCOUNT_UNLOCK,
        ("reason",),
    ),
    "force-password-change": ActionSpec(
        N_("Require a new password"),
        N_("At the next sign-in the person must choose a new password before doing anything else."),
        N_("Require a new password"),
        Permission.ACCOUNT_WRITE,
        ("reason",),
    ),
    "reset-factors": ActionSpec(
        N_("Reset second factors"),
        N_(
            "Removes every authenticator app, security key and recovery code, for a person who "
            "lost them. Do this only after proving who the person is; say who did and how."
        ),
        N_("Reset second factors"),
        Permission.ACCOUNT_WRITE,
        ("verified_by", "method"),
    ),
    "revoke-sessions": ActionSpec(
        N_("End all sessions"),
        N_("Signs the person out of the web on every device."),
        N_("End all sessions"),
        Permission.ACCOUNT_WRITE,
        ("reason",),
    ),
    "revoke-app-passwords": ActionSpec(
        N_("Revoke all app passwords"),
        N_("Mail programs using them stop working until they get new app passwords."),
        N_("Revoke all app passwords"),
        Permission.ACCOUNT_WRITE,
        ("reason",),
    ),
}
AUDIT_ACTIONS = {
    "account.lockdown": N_("Locked down"),
    "account.lock": N_("Locked"),
    "account.unlock": N_("Unlocked"),
    "account.force_password_change": N_("New password required"),
    "factor.reset": N_("Second factors reset"),
    "account.revoke_sessions": N_("Sessions ended"),
    "account.revoke_app_passwords": N_("App passwords revoked"),
    "app_password.revoke_all": N_("App passwords revoked"),
    "forwarding.set": N_("Forwarding set up"),
    "forwarding.verify": N_("Forwarding confirmed"),
    "forwarding.remove": N_("Forwarding removed"),
    "api_token.create": N_("API token created"),
    "api_token.revoke": N_("API token revoked"),
    "api_token.revoke_all": N_("API tokens revoked"),
}
REQUIRED_ACTIONS = {
    "set_password": N_("Set a first password"),
    "enrol_second_factor": N_("Set up a second factor"),
    "verify_recovery_contact": N_("Verify a recovery contact"),
    "update_password": N_("Choose a new password"),
}
ALERT_KINDS = {
    "failure_burst": N_("Many failed sign-ins"),
    "not_me": N_("Reported by the person as not theirs"),
}
RESULTS = {"success": N_("Succeeded"), "failure": N_("Failed")}


def done_notice(t: Catalog, done: str, counts: dict[str, int]) -> str:
    _ = t.gettext
    n = t.number
    texts = {
        "lockdown": _(
            "The account was locked down. Sessions ended: %(sessions)s. App passwords revoked: "
            "%(app_passwords)s. API tokens revoked: %(api_tokens)s."
        )
        % {
            "sessions": n(counts["sessions"]),
            "app_passwords": n(counts["app_passwords"]),
            "api_tokens": n(counts["api_tokens"]),
        },
        "lock": _("The account was locked."),
        "unlock": _("The account was unlocked."),
        "force-password-change": _("A new password is required at the next sign-in.")
        if counts["n"]
        else _("The account already had to choose a new password."),
        "reset-factors": _("Second factors removed: %(count)s.") % {"count": n(counts["n"])},
        "revoke-sessions": _("Sessions ended: %(count)s.") % {"count": n(counts["n"])},
        "revoke-app-passwords": _("App passwords revoked: %(count)s.") % {"count": n(counts["n"])},
        "forwarding-removed": _(
            "The forwarding was removed: the account's mail stays in its own mailbox. The person "
            "is told."
        ),
        "no-forwarding": _("The account has no forwarding (any more)."),
        "api-token-revoked": _("The API token was revoked: calls with it are refused from now on."),
        "no-api-token": _("The account has no such API token (any more)."),
    }
    return texts.get(done, "")


def offered_actions(actor: Actor, account: Account) -> list[str]:
    """The actions the page offers this actor for this account (the services decide anyway)."""
    out = []
    for slug, spec in ACTIONS.items():
        if slug == "unlock" or not actor.can(spec.permission, account.org_id):
            continue
        if not spec.self_allowed and actor.account_id == account.id:
            continue
        if slug == "lock" and account.state is not AccountState.ACTIVE:
            continue
        out.append(slug)
    return out


def form_error(t: Catalog, spec: ActionSpec, form: dict[str, str]) -> str:
    _ = t.gettext
    reason = " ".join(form["reason"].split())
    if "reason" in spec.fields:
        if spec.reason_required and not reason:
            return _("Give a reason. It is kept in the audit log and told to the person.")
        if len(reason) > MAX_REASON:
            return _("Keep the reason under %(count)s characters.") % {
                "count": t.number(MAX_REASON)
            }
    if "verified_by" in spec.fields and not (
        form["verified_by"].strip() and form["method"].strip()
    ):
        return _("Say who verified the person's identity, and how.")
    return ""


async def carry_out(
    admin: AccountAdminService, actor: Actor, address: str, slug: str, form: dict[str, str]
) -> dict[str, str]:
    """Carry out one action; the query parameters of the notice shown afterwards."""
    reason = form["reason"]
    if slug == "lockdown":
        result = await admin.lockdown(actor, address, reason)
        return {
            "sessions": str(result.sessions_ended),
            "app_passwords": str(result.app_passwords_revoked),
            "api_tokens": str(result.api_tokens_revoked),
        }
    if slug == "lock":
        await admin.lock(actor, address, reason)
        return {}
    if slug == "unlock":
        await admin.unlock(actor, address, reason)
        return {}
    if slug == "force-password-change":
        changed = await admin.force_password_change(actor, address, reason)
        return {"n": "1" if changed else "0"}
    if slug == "reset-factors":
        removed = await admin.reset_second_factors(
            actor, address, form["verified_by"], form["method"]
        )
        return {"n": str(removed)}
    if slug == "revoke-sessions":
        return {"n": str(await admin.revoke_sessions(actor, address, reason))}
    return {"n": str(await admin.revoke_app_passwords(actor, address, reason))}
