"""The audit log's tables and the SQLite guards that keep them append-only (created by init_db)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from bot.storage.audit_chain import REKEYED


class AuditEvent(SQLModel, table=True):
    """One audited action or refusal. Append-only (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_event"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ts: str = Field(index=True)  # UTC ISO-8601 with microseconds
    actor: str
    action: str  # bot.domain.actions.AuditAction
    request_id: str | None = Field(default=None, index=True)
    sub_account: str | None = Field(default=None, index=True)
    api_key: str | None = None
    outcome: str = "ok"
    detail: str = "{}"  # canonical JSON text
    key_id: str
    prev_hash: str
    hash: str


class AuditKey(SQLModel, table=True):
    """A retired audit key, wrapped under the current master key (aad "audit-key:<key_id>")."""

    __tablename__ = "audit_key"
    key_id: str = Field(primary_key=True)
    wrapped: bytes
    retired_at: str


SCHEMA_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_key_no_delete BEFORE DELETE ON audit_key "
    "BEGIN SELECT RAISE(ABORT, 'audit_key rows are kept: DELETE refused'); END",
    # verify() reads the rekey events first: without this (tiny, partial) index that is a full scan
    f"CREATE INDEX IF NOT EXISTS audit_event_rekeys ON audit_event (seq) WHERE action = '{REKEYED}'",
)
