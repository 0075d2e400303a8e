"""The outbox: messages kukey owes Slack, written in the transaction of the change they report
(bot.storage.outbox, bot.domain.outbox).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    time = sa.DateTime(timezone=True)
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(), nullable=False, unique=True),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("op", sa.String(), nullable=False),
        sa.Column("params", sa.String(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=True, index=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("run_at", time, nullable=False),
        sa.Column("lease_until", time, nullable=True),
        sa.Column("created_at", time, nullable=False),
        sa.Column("give_up_at", time, nullable=False),
        sa.Column("sent_at", time, nullable=True),
        sa.Column("result", sa.String(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=False),
    )
    op.create_index("ix_outbox_stream_state", "outbox", ["stream", "state"])
    op.create_index("ix_outbox_state_run_at", "outbox", ["state", "run_at"])


def downgrade() -> None:
    raise NotImplementedError("kukey does not downgrade: restore the backup taken before `kukey db upgrade`")
