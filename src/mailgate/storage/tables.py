"""The schema, in SQLAlchemy Core. Alembic migrations must match it (a test checks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)  # noqa: S101 - the column type guarantees it
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TS = UTCDateTime()
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
ID = BigInteger().with_variant(Integer(), "sqlite")


def _id() -> Column[int]:
    return Column("id", ID, primary_key=True, autoincrement=True)


def _org() -> Column[int]:
    return Column("org_id", ID, ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False)


organisations = Table(
    "organisations",
    metadata,
    _id(),
    Column("slug", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("account_pool_limit", Integer, nullable=True),
    Column("default_quota", BigInteger, nullable=False),
    Column("helpdesk_contact", String(200), nullable=False, default=""),
    Column("created_at", TS, nullable=False),
)

domains = Table(
    "domains",
    metadata,
    _id(),
    Column("name", String(253), nullable=False, unique=True),
    Column("unicode_name", String(253), nullable=False),
    _org(),
    Column("created_at", TS, nullable=False),
)

org_units = Table(
    "org_units",
    metadata,
    _id(),
    _org(),
    Column("parent_id", ID, ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True),
    Column("name", String(200), nullable=False),
    Column("path", String(1000), nullable=False),
    UniqueConstraint("org_id", "path"),
)

positions = Table(
    "positions",
    metadata,
    _id(),
    _org(),
    Column("name", String(200), nullable=False),
    UniqueConstraint("org_id", "name"),
)

regions = Table(
    "regions",
    metadata,
    _id(),
    _org(),
    Column("code", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("language", String(16), nullable=False),
    UniqueConstraint("org_id", "code"),
)

roster_entries = Table(
    "roster_entries",
    metadata,
    _id(),
    _org(),
    Column("employee_id", String(32), nullable=False),
    Column("name_zh", String(200), nullable=False),
    Column("name_latin", String(200), nullable=False),
    Column("org_unit_id", ID, ForeignKey("org_units.id"), nullable=True),
    Column("position_id", ID, ForeignKey("positions.id"), nullable=True),
    Column("region_id", ID, ForeignKey("regions.id"), nullable=True),
    Column("employment_type", String(16), nullable=False),
    Column("supervisor_employee_id", String(32), nullable=False),
    Column("mobile", String(24), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_date", Date, nullable=True),
    Column("end_date", Date, nullable=True),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("org_id", "employee_id"),
)

accounts = Table(
    "accounts",
    metadata,
    _id(),
    Column("address", String(320), nullable=False),
    Column("address_key", String(320), nullable=False, unique=True),
    _org(),
    Column("roster_id", ID, ForeignKey("roster_entries.id"), nullable=True),
    Column("display_name", String(200), nullable=False),
    Column("state", String(24), nullable=False),
    Column("quota", BigInteger, nullable=False),
    Column("expires_on", Date, nullable=True),
    Column("language", String(16), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("required_actions", JSON, nullable=False),
    Column("skipped_first_login", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("quota_used", BigInteger, nullable=False, server_default="0"),
    # The last UIDVALIDITY handed to a folder of this account: a re-created or renamed folder
    # never gets a value it had before (RFC 9051 2.3.1.1).
    Column("uidvalidity_seq", BigInteger, nullable=False, server_default="0"),
    # Comma-separated ways in the account may use (migration 0013; policy allowed_protocols).
    Column("allowed_protocols", String(64), nullable=False, server_default="imap,pop3,smtp,web"),
    Index(None, "org_id", "state"),
)

# One namespace for accounts, aliases and groups: the primary key makes an address unique.
address_claims = Table(
    "address_claims",
    metadata,
    Column("address_key", String(320), primary_key=True),
    Column("kind", String(16), nullable=False),
    _org(),
)

aliases = Table(
    "aliases",
    metadata,
    _id(),
    _org(),
    Column("address", String(320), nullable=False),
    Column("address_key", String(320), nullable=False, unique=True),
    Column("targets", JSON, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    _id(),
    _org(),
    Column("address", String(320), nullable=False),
    Column("address_key", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("send_policy", String(16), nullable=False),
    Column("moderators", JSON, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", ID, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("member", String(320), primary_key=True),
)

role_grants = Table(
    "role_grants",
    metadata,
    _id(),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(24), nullable=False),
    Column("org_id", ID, ForeignKey("organisations.id"), nullable=True),
    UniqueConstraint("account_id", "role", "org_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    _id(),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("occurred_at", TS, nullable=False),
    Column("actor", String(320), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(400), nullable=False),
    Column("org_id", ID, nullable=True, index=True),
    Column("summary", Text, nullable=False),
    Column("source_ip", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    Column("user_agent", String(400), nullable=False),
    Column("ip", String(64), nullable=False),
    # Issue #5 item 5 (migration 0007): a non-secret handle for listing and ending sessions,
    # the stage ("full", or "second_factor" while the second step of sign-in is pending), when
    # the person last proved their password (sudo mode) and wrong second-factor attempts.
    Column("handle", String(32), nullable=False, unique=True),
    Column("stage", String(16), nullable=False, server_default="full"),
    Column("reauth_at", TS, nullable=True),
    Column("second_factor_failures", Integer, nullable=False, server_default="0"),
    Index(None, "account_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("expires_on", Date, nullable=True),
    # Migration 0015: when the token was made (None for older ones), and an index for listing
    # and revoking an account's tokens.
    Column("created_at", TS, nullable=True),
    Index(None, "account_id"),
)

# --- mail store -------------------------------------------------------------------------------

mailboxes = Table(
    "mailboxes",
    metadata,
    _id(),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(1000), nullable=False),
    Column("special_use", String(16), nullable=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uidnext", BigInteger, nullable=False),
    Column("highestmodseq", BigInteger, nullable=False),
    Column("subscribed", Boolean, nullable=False),
    UniqueConstraint("account_id", "name"),
)

# Bodies live in the blob store under their SHA-256; this row counts the references to them.
blobs = Table(
    "blobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("refcount", BigInteger, nullable=False),
    Column("created_at", TS, nullable=False),
    Index(None, "refcount"),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    Column("mailbox_id", ID, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("keywords", JSON, nullable=False),
    Column("internal_date", TS, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("blob_id", String(64), ForeignKey("blobs.id"), nullable=False),
    Column("subject", String(1000), nullable=False),
    Column("from_", String(1000), nullable=False),
    Column("to", String(1000), nullable=False),
    Column("cc", String(1000), nullable=False),
    Column("message_id", String(250), nullable=False),
    Column("date", TS, nullable=True),
    # MIME structure (JSON) cached by the IMAP server for BODYSTRUCTURE; None until computed.
    Column("mime", Text, nullable=True),
    UniqueConstraint("mailbox_id", "uid"),
    Index(None, "mailbox_id", "modseq"),
    Index(None, "blob_id"),
)

# Tombstones of expunged messages for QRESYNC (VANISHED (EARLIER)); a UID is never reused
# within a UIDVALIDITY, so (mailbox, uid) is unique.
vanished = Table(
    "vanished",
    metadata,
    Column("mailbox_id", ID, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("uid", BigInteger, primary_key=True),
    Column("modseq", BigInteger, nullable=False),
    Index(None, "mailbox_id", "modseq"),
)

# Decoded, case-folded text of a body for BODY/TEXT search, one row per blob (copies share it).
blob_texts = Table(
    "blob_texts",
    metadata,
    Column("blob_id", String(64), ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True),
    Column("head", Text, nullable=False),
    Column("body", Text, nullable=False),
)

# --- outbound ---------------------------------------------------------------------------------

# A message waiting to leave: its body is a blob this row holds one reference on until
# `released` (every recipient delivered or bounced, or the message deleted).
outbound_messages = Table(
    "outbound_messages",
    metadata,
    _id(),
    Column("mail_from", String(320), nullable=False),
    Column("blob_id", String(64), ForeignKey("blobs.id"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("org_id", ID, ForeignKey("organisations.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("released", Boolean, nullable=False),
    Index(None, "org_id"),
)

outbound_recipients = Table(
    "outbound_recipients",
    metadata,
    _id(),
    Column(
        "message_id",
        ID,
        ForeignKey("outbound_messages.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("address", String(320), nullable=False),
    Column("domain", String(253), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", TS, nullable=False),
    Column("last_error", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    Index(None, "state", "next_attempt_at"),
)

dkim_keys = Table(
    "dkim_keys",
    metadata,
    _id(),
    Column("domain_id", ID, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("selector", String(63), nullable=False),
    Column("private_key", Text, nullable=False),
    Column("public_key", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("domain_id", "selector"),
)

# --- account security (issue #5: throttling, login records, app passwords) --------------------

# Failure counters of the brute-force limiter, one row per (account, client IP) pair and one per
# client IP alone (account_id 0: no foreign key, so that row needs no account). Rows older than
# the failure reset time count as zero; a success deletes the pair's row.
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("ip", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_failure", TS, nullable=False),
    Column("last_failure", TS, nullable=False),
    Index(None, "last_failure"),
)

# Every authentication attempt on every protocol (R18). Never a password; for unknown accounts
# the typed user name only as a short hash.
login_records = Table(
    "login_records",
    metadata,
    _id(),
    Column("occurred_at", TS, nullable=False),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("org_id", ID, nullable=True),
    Column("username", String(320), nullable=False),
    Column("protocol", String(8), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("client_id", String(400), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("app_password_id", ID, nullable=True),
    Column("app_password_name", String(100), nullable=False),
    Index(None, "account_id", "occurred_at"),
    Index(None, "org_id", "occurred_at"),
)

# Generated passwords for mail clients: argon2id hash plus a non-secret lookup hint (the first
# group of letters), so a login hashes against one candidate instead of all of them.
app_passwords = Table(
    "app_passwords",
    metadata,
    _id(),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("hint", String(8), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("scopes", String(32), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_on", Date, nullable=True),
    Column("last_used_at", TS, nullable=True),
    Column("last_used_ip", String(64), nullable=False),
    Column("revoked_at", TS, nullable=True),
    Index(None, "account_id", "hint"),
)

# Per-account security state read on every login: whether a second factor is enrolled (set by
# the second-factor service) and whether the web must ask for it after a failure burst.
account_security = Table(
    "account_security",
    metadata,
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("second_factor_enrolled", Boolean, nullable=False),
    Column("require_second_factor_on_web", Boolean, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# Security events for administrators (e.g. a failure burst from many IPs); notification later.
security_alerts = Table(
    "security_alerts",
    metadata,
    _id(),
    Column("occurred_at", TS, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("org_id", ID, nullable=True),
    Column("details", JSON, nullable=False),
    Column("notified_at", TS, nullable=True),
    Index(None, "org_id", "occurred_at"),
)

# --- second factors (issue #5 item 3: TOTP, WebAuthn, recovery codes) --------------------------

# TOTP secrets are sealed by the service (AES-GCM under a key derived from security.secret_key,
# or a marked plain form when no key is configured); a key-encryption key can re-wrap them later
# without a schema change. `last_step` makes every TOTP code single-use.
second_factors = Table(
    "second_factors",
    metadata,
    _id(),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("confirmed_at", TS, nullable=True),
    Column("last_used_at", TS, nullable=True),
    Column("secret", LargeBinary, nullable=True),
    Column("last_step", BigInteger, nullable=True),
    Column("credential_id", LargeBinary, nullable=True),
    Column("public_key", LargeBinary, nullable=True),
    Column("sign_count", BigInteger, nullable=False),
    Column("transports", String(100), nullable=False),
    Index(None, "account_id"),
    Index(None, "credential_id", unique=True),
)

# Single-use WebAuthn challenges between "begin" and "finish" (a few minutes).
factor_challenges = Table(
    "factor_challenges",
    metadata,
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("purpose", String(32), primary_key=True),
    Column("challenge", LargeBinary, primary_key=True),
    Column("expires_at", TS, nullable=False),
)

# Recovery codes: keyed SHA-256 (HMAC) with a per-code salt; the codes carry 60 random bits.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    _id(),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(128), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("used_at", TS, nullable=True),
    Index(None, "account_id"),
)

# --- recovery contacts and one-time codes (issue #5 items 6 and 7) -----------------------------

# Backup e-mail addresses and mobile numbers (E.164), verified with a one-time code.
recovery_contacts = Table(
    "recovery_contacts",
    metadata,
    _id(),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("value", String(320), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("verified_at", TS, nullable=True),
    UniqueConstraint("account_id", "kind", "value"),
)

# Contact-verification and password-reset codes: only an HMAC/SHA-256 digest is stored.
one_time_codes = Table(
    "one_time_codes",
    metadata,
    _id(),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("target", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS, nullable=True),
    Column("attempts", Integer, nullable=False),
    Index(None, "account_id", "purpose"),
    Index(None, "digest"),
)

# The one forwarding of an account (domain.forwarding): mail goes to `target` once verified.
account_forwarding = Table(
    "account_forwarding",
    metadata,
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("target", String(320), nullable=False),
    Column("keep_copy", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("verified_at", TS, nullable=True),
)

# --- policies (domain.policy; issue #6 item 1, password policy binding of issue #5) ------------

policies = Table(
    "policies",
    metadata,
    _id(),
    Column("org_id", ID, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("position", Integer, nullable=False),
    Column("selector", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("require", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("description", String(500), nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("org_id", "name"),
)

# --- sign-in alerts (issue #5 item 9) -----------------------------------------------------------

# The devices and networks (client /24 or /48) each account has signed in from, as digests; a
# successful sign-in from one not listed here sends the person a NEW_SIGN_IN notice.
known_sign_ins = Table(
    "known_sign_ins",
    metadata,
    _id(),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("first_seen", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    UniqueConstraint("account_id", "kind", "digest"),
)

# --- onboarding (issue #6: entry points, applications, decisions, documents, tickets) --------

entry_points = Table(
    "entry_points",
    metadata,
    _id(),
    Column("org_id", ID, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False),
    Column("slug", String(40), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("domain_id", ID, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("region_id", ID, ForeignKey("regions.id", ondelete="SET NULL"), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("networks", JSON, nullable=False),
    Column("trusted_devices_only", Boolean, nullable=False),
    Column("landing", JSON, nullable=False),
    Column("reach_hint", JSON, nullable=False),
)

applications = Table(
    "applications",
    metadata,
    _id(),
    Column("org_id", ID, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False),
    Column("domain_id", ID, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("entry_point", String(16), nullable=False),
    Column("state", String(24), nullable=False),
    Column("employee_id", String(64), nullable=False),
    Column("form", JSON, nullable=False),
    Column("approval_chain", JSON, nullable=False),
    Column("stage", Integer, nullable=False),
    Column("roster_id", ID, ForeignKey("roster_entries.id", ondelete="SET NULL"), nullable=True),
    Column("roster_checks", JSON, nullable=False),
    Column("checklist", JSON, nullable=False),
    Column("four_eyes", Boolean, nullable=False),
    Column("tracking_digest", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("submitted_at", TS, nullable=True),
    Column("decided_at", TS, nullable=True),
    Column("deadline", TS, nullable=True),
    Column("reminded_at", TS, nullable=True),
    Column("decision_reason", String(2000), nullable=False),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("applicant_account_id", ID, nullable=True),
    Column("filed_by", String(200), nullable=False),
    Index(None, "domain_id", "employee_id"),
    Index(None, "org_id", "state"),
)

application_decisions = Table(
    "application_decisions",
    metadata,
    _id(),
    Column("application_id", ID, ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    Column("at", TS, nullable=False),
    Column("actor", String(320), nullable=False),
    Column("actor_account_id", ID, nullable=True),
    Column("step", String(32), nullable=True),
    Column("stage", String(32), nullable=False),
    Column("comment", String(2000), nullable=False),
    Column("checklist", JSON, nullable=False),
    Index(None, "application_id"),
)

application_documents = Table(
    "application_documents",
    metadata,
    _id(),
    Column("application_id", ID, ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    Column("blob_id", String(64), nullable=False),
    Column("filename", String(100), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("label", String(200), nullable=False),
    Column("uploaded_at", TS, nullable=False),
    Index(None, "application_id"),
)

# Signed single-use links for supervisors (who may have no account): digest only.
approval_links = Table(
    "approval_links",
    metadata,
    _id(),
    Column("application_id", ID, ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS, nullable=True),
)

tickets = Table(
    "tickets",
    metadata,
    _id(),
    Column("org_id", ID, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False),
    Column("employee_id", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("reason", String(2000), nullable=False),
    Column("details", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("application_id", ID, ForeignKey("applications.id", ondelete="SET NULL"), nullable=True),
    Column("closed_at", TS, nullable=True),
    Column("note", String(2000), nullable=False),
    Index(None, "org_id", "state"),
)
