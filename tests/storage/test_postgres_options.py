"""The models' PostgreSQL-only options, added when a PostgreSQL engine is made (bot.storage.audit_schema)."""

from __future__ import annotations

from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex

from bot.storage.audit_schema import AuditEvent
from bot.storage.db import make_engine

PREDICATE = "WHERE action = 'audit.rekeyed'"


def test_the_rekey_index_is_partial_on_postgresql_as_on_sqlite() -> None:
    """Once a PostgreSQL engine is made, the model's rekey index has its WHERE on PostgreSQL as on SQLite
    (as migration 0001 made it), though PostgreSQL's dialect is not imported for the models."""
    engine = make_engine("postgresql+psycopg://kukey@127.0.0.1:1/kukey")  # never connects: only its dialect
    (index,) = [i for i in AuditEvent.__table__.indexes if i.name == "audit_event_rekeys"]  # type: ignore[attr-defined]
    assert PREDICATE in str(CreateIndex(index).compile(dialect=engine.dialect))
    assert PREDICATE in str(CreateIndex(index).compile(dialect=sqlite.dialect()))
