"""The audit log's tables. The triggers that keep them append-only, on SQLite and on PostgreSQL, are made
by the first migration (bot/storage/migrations/versions/0001_v0_1_schema.py). `audit_forward` holds the
audit stream's progress (bot.audit_stream): it is never part of the chain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from bot.storage.audit_chain import REKEYED

_IS_REKEY = text(f"action = '{REKEYED}'")
# Partial on both backends (migration 0001 makes it so). Each backend's predicate is added when an engine
# for it is made (add_dialect_options): naming a dialect's option here would import that dialect into every
# bot to check the option's name (PostgreSQL's, about 2 MB, into every bot on SQLite).
_REKEYS = Index("audit_event_rekeys", "seq")


class AuditEvent(SQLModel, table=True):
    """One audited action or refusal. Append-only (triggers refuse UPDATE, DELETE and TRUNCATE)."""

    __tablename__ = "audit_event"
    # verify() reads the rekey events first: without this (tiny, partial) index that is a full scan
    # the newest events of one sub-account come from (sub_account, seq) in order, never a sort of them all
    __table_args__ = (_REKEYS, Index("ix_audit_event_sub_account_seq", "sub_account", "seq"))
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ts: str = Field(index=True)  # UTC ISO-8601 with microseconds
    actor: str
    action: str  # bot.domain.actions.AuditAction
    request_id: str | None = Field(default=None, index=True)
    sub_account: str | None = None
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



class AuditForward(SQLModel, table=True):
    """How far the audit stream delivered the log to one target, and which process holds its lease."""

    __tablename__ = "audit_forward"
    target: str = Field(primary_key=True)  # the target without credentials or query, e.g. syslog+tcp://siem:514
    last_seq: int = 0  # every event with seq <= last_seq was acknowledged by the target
    holder: str | None = None  # the process forwarding now (host:pid:random)
    lease_until: datetime | None = None  # another process takes over after this
    delivered_at: datetime | None = None  # when last_seq was acknowledged


def add_dialect_options(dialect: str) -> None:
    """Give the models their options for `dialect` ("sqlite" or "postgresql"): the rekey index's predicate.
    bot.storage.db.make_engine calls it for its engine's backend; calling it again changes nothing."""
    _REKEYS.dialect_kwargs[f"{dialect}_where"] = _IS_REKEY
