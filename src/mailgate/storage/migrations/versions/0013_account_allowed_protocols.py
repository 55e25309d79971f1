"""account allowed protocols: which ways in (IMAP, POP3, SMTP, web) an account may use

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 06:00:00

Provisioning (issue #6) sets it from the policy's `allowed_protocols`; existing accounts keep
every protocol ("imap,pop3,smtp,web", the server default).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column(
                "allowed_protocols",
                sa.String(length=64),
                nullable=False,
                server_default="imap,pop3,smtp,web",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("allowed_protocols")
