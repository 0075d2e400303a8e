"""Drop the `seen` table: kukey 0.1 never wrote to it, and 0.2's models no longer have it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("seen")


def downgrade() -> None:
    raise NotImplementedError("kukey does not downgrade: restore the backup taken before `kukey db upgrade`")
