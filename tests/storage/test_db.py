"""The SQLite engine: pragmas on every connection, BEGIN IMMEDIATE, sessions, compare-and-set."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import KeyRecord
from tests.storage.audit_helpers import db_url, new_engine

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = new_engine(tmp_path)
    yield engine
    engine.dispose()


def _pragmas(conn: Any) -> tuple[object, ...]:
    return tuple(conn.execute(f"PRAGMA {name}").fetchone()[0]
                 for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys"))


def test_every_connection_gets_wal_full_sync_busy_timeout_and_foreign_keys(engine: Engine) -> None:
    """Each pooled connection, two at once, runs in WAL mode with synchronous=FULL, 15 s busy timeout, FKs."""
    first, second = engine.raw_connection(), engine.raw_connection()
    try:
        assert first.dbapi_connection is not second.dbapi_connection
        assert [_pragmas(c.dbapi_connection) for c in (first, second)] == [("wal", 2, 15000, 1)] * 2
    finally:
        first.close()
        second.close()


def test_the_engine_serves_worker_threads(engine: Engine) -> None:
    """Sessions opened in several threads at once all commit (no same-thread check, writers queue up)."""
    def add(i: int) -> None:
        with session_scope(engine) as session:
            session.add(KeyRecord(api_key=f"k{i}", sub_account="sub-a", created_at=NOW))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    with session_scope(engine) as session:
        assert len(session.exec(select(KeyRecord)).all()) == 8


def test_init_db_is_idempotent_and_creates_every_table_and_trigger(engine: Engine) -> None:
    """Running init_db again changes nothing and the workflow tables, audit tables and triggers all exist."""
    init_db(engine)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        names = {r[0] for r in rows}
    assert {"request", "approval", "enrollment", "api_key", "job", "audit_event", "audit_key",
            "audit_event_no_update", "audit_event_no_delete", "audit_key_no_delete"} <= names


def test_session_scope_commits_on_success_and_rolls_back_on_error(engine: Engine) -> None:
    """A block that returns commits its writes; a block that raises leaves nothing behind."""
    with session_scope(engine) as session:
        session.add(KeyRecord(api_key="k1", sub_account="sub-a", created_at=NOW))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(KeyRecord(api_key="k2", sub_account="sub-a", created_at=NOW))
        session.flush()
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert [k.api_key for k in session.exec(select(KeyRecord))] == ["k1"]


def test_a_transaction_takes_the_write_lock_at_begin(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: while one session is open (even after only reading), another cannot begin."""
    first = make_engine(db_url(tmp_path), busy_timeout_s=0.05)
    second = make_engine(db_url(tmp_path), busy_timeout_s=0.05)
    init_db(first)
    try:
        with session_scope(first) as holder:
            holder.execute(text("SELECT 1"))
            with pytest.raises(OperationalError, match="locked"), session_scope(second) as other:
                other.execute(text("SELECT 1"))
    finally:
        first.dispose()
        second.dispose()


def test_committed_writes_are_visible_to_a_fresh_raw_connection(engine: Engine) -> None:
    """A commit is durable in the file: an independent sqlite3 connection sees it at once."""
    with session_scope(engine) as session:
        session.add(KeyRecord(api_key="k9", sub_account="sub-a", created_at=NOW))
    path = engine.url.database
    assert path
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT api_key FROM api_key").fetchall() == [("k9",)]
    finally:
        conn.close()


def test_make_engine_refuses_other_databases() -> None:
    """kukey only runs on SQLite files; another URL is refused with a clear message."""
    with pytest.raises(ValueError, match="sqlite:///"):
        make_engine("postgresql://localhost/kukey")
