"""kukey 0.1's schema, and the audit log's append-only guards on both backends.

Revision ID: 0001
Revises: (none)

The tables are written out here as they were in 0.1 (a migration never imports today's models). A
database made by 0.1's or 0.2's `create_all` already has them and no alembic_version table: only the
missing tables are created (`checkfirst`) and every row stays, so this revision adopts it.

Guards: SQLite keeps the triggers 0.1 made (created again only where missing). PostgreSQL gets one
trigger function refusing UPDATE, DELETE and TRUNCATE on audit_event, and DELETE and TRUNCATE on
audit_key (`kukey rekey` re-wraps retired audit keys, so their UPDATE is allowed). The triggers bind the
table owner too; docs/postgresql.md adds GRANTs so the role kukey runs as cannot drop them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_meta = sa.MetaData()
_str, _int, _blob, _bool = sa.String, sa.Integer, sa.LargeBinary, sa.Boolean


def _time() -> sa.DateTime:
    """Aware datetimes: DATETIME on SQLite (as 0.1 made it), timestamp with time zone on PostgreSQL."""
    return sa.DateTime(timezone=True)


def must(name: str, kind: Callable[[], sa.types.TypeEngine[Any]], *args: Any, **kw: Any) -> sa.Column[Any]:
    """A NOT NULL column."""
    return sa.Column(name, kind(), *args, nullable=False, **kw)


def may(name: str, kind: Callable[[], sa.types.TypeEngine[Any]], **kw: Any) -> sa.Column[Any]:
    """A nullable column."""
    return sa.Column(name, kind(), nullable=True, **kw)


sa.Table("audit_event", _meta,
         must("seq", _int, primary_key=True, autoincrement=False), must("ts", _str, index=True),
         must("actor", _str), must("action", _str), may("request_id", _str, index=True),
         may("sub_account", _str, index=True), may("api_key", _str), must("outcome", _str),
         must("detail", _str), must("key_id", _str), must("prev_hash", _str), must("hash", _str))
sa.Table("audit_key", _meta, must("key_id", _str, primary_key=True), must("wrapped", _blob),
         must("retired_at", _str))
sa.Table("request", _meta,
         must("id", _str, primary_key=True), must("kind", _str), must("state", _str, index=True),
         must("requester", _str, index=True), must("sub_account", _str, index=True), must("permissions", _str),
         must("ips", _str), may("expire_days", _int), must("reason", _str), must("approvals_needed", _int),
         must("incident", _bool), may("target_api_key", _str), must("revoke_all", _bool),
         may("grace_minutes", _int), may("new_api_key", _str), may("granted_permissions", _str),
         must("origin_channel", _str), must("channel", _str), may("thread_ts", _str),
         may("dedupe_key", _str, unique=True), must("created_at", _time), must("expires_at", _time),
         may("approved_at", _time), may("reveal_deadline", _time), may("resolved_at", _time),
         may("resolved_by", _str), must("resolution_note", _str), may("pending_passphrase_enc", _blob),
         must("version", _int))
sa.Table("enrollment", _meta,
         must("user_id", _str, primary_key=True), must("seed_enc", _blob), may("pending_seed_enc", _blob),
         must("active", _bool), must("created_at", _time), may("confirmed_at", _time), must("failures", _int),
         may("locked_until", _time))
sa.Table("totp_use", _meta,
         must("id", _int, primary_key=True), must("user_id", _str), must("step", _int), must("used_at", _time),
         sa.UniqueConstraint("user_id", "step"))
sa.Table("api_key", _meta,
         must("api_key", _str, primary_key=True), must("sub_account", _str, index=True), must("remark", _str),
         must("permissions", _str), must("ips", _str), may("expire_days", _int), must("created_at", _time),
         may("expires_at", _time), may("passphrase_enc", _blob), may("request_id", _str),
         may("requested_by", _str), must("approved_by", _str), must("state", _str), must("origin", _str),
         may("delete_after", _time), may("deleted_at", _time), must("version", _int))
sa.Table("job", _meta,
         must("id", _int, primary_key=True), must("kind", _str), must("ref", _str), must("run_at", _time, index=True),
         must("state", _str), must("attempts", _int), may("lease_until", _time), must("last_error", _str),
         sa.UniqueConstraint("kind", "ref"))
sa.Table("seen", _meta, must("key", _str, primary_key=True), must("at", _time))
sa.Table("approval", _meta,
         must("id", _int, primary_key=True), must("request_id", _str, sa.ForeignKey("request.id"), index=True),
         must("approver", _str), must("totp_step", _int), must("approved_at", _time),
         sa.UniqueConstraint("request_id", "approver"))

# verify() reads the rekey events first: without this (tiny, partial) index that is a full scan
REKEYS_INDEX = "CREATE INDEX IF NOT EXISTS audit_event_rekeys ON audit_event (seq) WHERE action = 'audit.rekeyed'"

SQLITE_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_key_no_delete BEFORE DELETE ON audit_key "
    "BEGIN SELECT RAISE(ABORT, 'audit_key rows are kept: DELETE refused'); END",
)

# SQLSTATE 23001 (restrict_violation): an integrity error, as SQLite's RAISE(ABORT) is.
POSTGRES_GUARDS = (
    """CREATE FUNCTION kukey_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%: % refused', TG_ARGV[0], TG_OP USING ERRCODE = 'restrict_violation';
    END $$""",
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event FOR EACH ROW "
    "EXECUTE FUNCTION kukey_refuse_change('audit_event is append-only')",
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event FOR EACH ROW "
    "EXECUTE FUNCTION kukey_refuse_change('audit_event is append-only')",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event FOR EACH STATEMENT "
    "EXECUTE FUNCTION kukey_refuse_change('audit_event is append-only')",
    "CREATE TRIGGER audit_key_no_delete BEFORE DELETE ON audit_key FOR EACH ROW "
    "EXECUTE FUNCTION kukey_refuse_change('audit_key rows are kept')",
    "CREATE TRIGGER audit_key_no_truncate BEFORE TRUNCATE ON audit_key FOR EACH STATEMENT "
    "EXECUTE FUNCTION kukey_refuse_change('audit_key rows are kept')",
)


def upgrade() -> None:
    bind = op.get_bind()
    _meta.create_all(bind, checkfirst=True)
    guards = POSTGRES_GUARDS if bind.dialect.name == "postgresql" else SQLITE_GUARDS
    for statement in (*guards, REKEYS_INDEX):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("kukey does not downgrade: restore the backup taken before `kukey db upgrade`")
