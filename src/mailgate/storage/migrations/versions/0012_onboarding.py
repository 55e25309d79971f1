"""onboarding: entry points, applications, decisions, documents, approval links, tickets

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, autoincrement=True, nullable=False)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "entry_points",
        _id(),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("region_id", ID, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("networks", sa.JSON(), nullable=False),
        sa.Column("trusted_devices_only", sa.Boolean(), nullable=False),
        sa.Column("landing", sa.JSON(), nullable=False),
        sa.Column("reach_hint", sa.JSON(), nullable=False),
        _fk("entry_points", "org_id", "organisations", "CASCADE"),
        _fk("entry_points", "domain_id", "domains", "CASCADE"),
        _fk("entry_points", "region_id", "regions", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_points")),
        sa.UniqueConstraint("slug", name=op.f("uq_entry_points_slug")),
    )
    op.create_table(
        "applications",
        _id(),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("domain_id", ID, nullable=False),
        sa.Column("entry_point", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("approval_chain", sa.JSON(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("roster_id", ID, nullable=True),
        sa.Column("roster_checks", sa.JSON(), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("four_eyes", sa.Boolean(), nullable=False),
        sa.Column("tracking_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("submitted_at", TS, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("deadline", TS, nullable=True),
        sa.Column("reminded_at", TS, nullable=True),
        sa.Column("decision_reason", sa.String(length=2000), nullable=False),
        sa.Column("account_id", ID, nullable=True),
        sa.Column("applicant_account_id", ID, nullable=True),
        sa.Column("filed_by", sa.String(length=200), nullable=False),
        _fk("applications", "org_id", "organisations", "CASCADE"),
        _fk("applications", "domain_id", "domains", "CASCADE"),
        _fk("applications", "roster_id", "roster_entries", "SET NULL"),
        _fk("applications", "account_id", "accounts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("tracking_digest", name=op.f("uq_applications_tracking_digest")),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_applications_domain_id_employee_id"), ["domain_id", "employee_id"]
        )
        batch_op.create_index(batch_op.f("ix_applications_org_id_state"), ["org_id", "state"])
    op.create_table(
        "application_decisions",
        _id(),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("actor_account_id", ID, nullable=True),
        sa.Column("step", sa.String(length=32), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        _fk("application_decisions", "application_id", "applications", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_decisions")),
    )
    with op.batch_alter_table("application_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_application_decisions_application_id"), ["application_id"]
        )
    op.create_table(
        "application_documents",
        _id(),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=100), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
        _fk("application_documents", "application_id", "applications", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_documents")),
    )
    with op.batch_alter_table("application_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_application_documents_application_id"), ["application_id"]
        )
    op.create_table(
        "approval_links",
        _id(),
        sa.Column("application_id", ID, nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        _fk("approval_links", "application_id", "applications", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_links")),
        sa.UniqueConstraint("digest", name=op.f("uq_approval_links_digest")),
    )
    op.create_table(
        "tickets",
        _id(),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("application_id", ID, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=False),
        _fk("tickets", "org_id", "organisations", "CASCADE"),
        _fk("tickets", "application_id", "applications", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tickets_org_id_state"), ["org_id", "state"])


def downgrade() -> None:
    for table in (
        "tickets",
        "approval_links",
        "application_documents",
        "application_decisions",
        "applications",
        "entry_points",
    ):
        op.drop_table(table)
