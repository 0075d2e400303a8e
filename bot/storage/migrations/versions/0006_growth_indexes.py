"""Indexes that keep the hot queries independent of how much history the tables hold (issue 16.6).

Revision ID: 0006
Revises: 0005

  * job (state, run_at): the scheduler's claim of due jobs (pending and due, or running with a lapsed
    lease) searched by state; by run_at alone it walked every done job in the past on every tick;
  * audit_event (sub_account, seq) instead of (sub_account): the newest events of one sub-account
    (`/kukey audit N sub`, the audit stream's tail) are read in seq order from the index; PostgreSQL
    otherwise fetched and sorted every event of the sub-account (SQLite's index already ended in seq,
    its rowid);
  * api_key (sub_account, state) instead of (sub_account): `/kukey list` and revokes read a sub-account's
    live keys without walking the deleted ones.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_job_state_run_at", "job", ["state", "run_at"])
    op.drop_index("ix_audit_event_sub_account", table_name="audit_event")
    op.create_index("ix_audit_event_sub_account_seq", "audit_event", ["sub_account", "seq"])
    op.drop_index("ix_api_key_sub_account", table_name="api_key")
    op.create_index("ix_api_key_sub_account_state", "api_key", ["sub_account", "state"])


def downgrade() -> None:
    raise NotImplementedError("kukey does not downgrade: restore the backup taken before `kukey db upgrade`")
