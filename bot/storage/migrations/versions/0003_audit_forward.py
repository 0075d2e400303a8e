"""The audit stream's progress: one row per forwarding target (bot.audit_stream).

Revision ID: 0003
Revises: 0002

`audit_forward` is ordinary mutable state (the audit chain's append-only triggers do not cover it): the
last seq the target acknowledged, and the lease that lets exactly one replica forward at a time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_forward",
        sa.Column("target", sa.String(), primary_key=True, nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    raise NotImplementedError("kukey does not downgrade: restore the backup taken before `kukey db upgrade`")
