"""api tokens: created_at and an index by account

Tokens can now be listed and revoked by account (and are revoked together by a lockdown,
"this wasn't me" and a password reset). Tokens made before this revision keep a NULL
creation time.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_tokens_account_id"), ["account_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_account_id"))
        batch_op.drop_column("created_at")
