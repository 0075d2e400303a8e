"""Notices: who was told what about a request (direct messages, reminders, escalation), each once
(bot.storage.notices, bot.domain.notify).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.String(), sa.ForeignKey("request.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("users", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("request_id", "kind", "seq"),
    )


def downgrade() -> None:
    raise NotImplementedError("kukey does not downgrade: restore the backup taken before `kukey db upgrade`")
