"""The kill switch's keys: every key a `revoke everything` snapshotted and its outcome
(bot.storage.kill_switch).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kill_switch_key",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.String(), sa.ForeignKey("request.id"), nullable=False, index=True),
        sa.Column("api_key", sa.String(), nullable=False),
        sa.Column("sub_account", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("request_id", "api_key"),
    )


def downgrade() -> None:
    raise NotImplementedError("kukey does not downgrade: restore the backup taken before `kukey db upgrade`")
