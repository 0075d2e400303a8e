"""Helpers for audit tests: a real database file, a filled chain, and an attacker with raw sqlite3."""

from __future__ import annotations

import os
import sqlite3
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from bot.domain.clock import FakeClock
from bot.storage.audit import AuditLog
from bot.storage.db import init_db, make_engine, session_scope


def new_master() -> bytes:
    return os.urandom(32)


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kukey.db'}"


def new_engine(tmp_path: Path) -> Engine:
    engine = make_engine(db_url(tmp_path))
    init_db(engine)
    return engine


def fill(engine: Engine, log: AuditLog, clock: FakeClock, count: int, *, sub_account: str = "sub-a") -> None:
    """Append `count` events in one transaction, one second apart."""
    with session_scope(engine) as session:
        for i in range(count):
            clock.advance(timedelta(seconds=1))
            log.record(session, "request.created", actor=f"U{i % 3}", request_id=f"KK-{i:04d}",
                       sub_account=sub_account, detail={"n": i})


def attacker(engine: Engine) -> sqlite3.Connection:
    """A raw connection to the same file with the append-only triggers dropped, as an attacker would."""
    path = engine.url.database
    assert path
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_event_no_update")
    conn.execute("DROP TRIGGER audit_event_no_delete")
    return conn


def row(conn: sqlite3.Connection, seq: int) -> tuple[object, ...]:
    found = conn.execute("SELECT * FROM audit_event WHERE seq = ?", (seq,)).fetchone()
    assert found is not None
    return tuple(found)


def insert(conn: sqlite3.Connection, values: tuple[object, ...]) -> None:
    """Insert a raw audit_event row (all 12 columns in table order)."""
    conn.execute("INSERT INTO audit_event (seq, ts, actor, action, request_id, sub_account, api_key, "
                 "outcome, detail, key_id, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", values)
