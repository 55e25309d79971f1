"""organisation helpdesk contact: the IT desk the password-reset page names

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 05:00:00

`organisations.helpdesk_contact` (String(200), not null, "" when unset) has existed since
revision 0001, so on every database made by these migrations there is nothing to do. The step
stays in the chain because later revisions build on it, and it adds the column (as the model
declares it) to a database that somehow lacks it. Downgrading leaves the column alone: it
belongs to 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("organisations")}
    if "helpdesk_contact" not in columns:
        op.add_column(
            "organisations",
            sa.Column("helpdesk_contact", sa.String(length=200), nullable=False, server_default=""),
        )


def downgrade() -> None:
    pass
