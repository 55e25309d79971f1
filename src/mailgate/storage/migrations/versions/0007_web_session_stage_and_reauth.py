"""web sessions: handle, stage, reauth_at, second-factor failures

Issue #5 item 5: a non-secret handle to list and end sessions, the stage of a sign-in that still
owes its second factor, the time of the last password proof (sudo mode) and the count of wrong
second-factor codes. Sessions from before have no handle and no proof time, so they are ended:
everybody signs in once more after the upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM web_sessions"))
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handle", sa.String(length=32), nullable=False))
        batch_op.add_column(
            sa.Column("stage", sa.String(length=16), server_default="full", nullable=False)
        )
        batch_op.add_column(sa.Column("reauth_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("second_factor_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_unique_constraint(batch_op.f("uq_web_sessions_handle"), ["handle"])
        batch_op.create_index(batch_op.f("ix_web_sessions_account_id"), ["account_id"])


def downgrade() -> None:
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_account_id"))
        batch_op.drop_constraint(batch_op.f("uq_web_sessions_handle"), type_="unique")
        batch_op.drop_column("second_factor_failures")
        batch_op.drop_column("reauth_at")
        batch_op.drop_column("stage")
        batch_op.drop_column("handle")
