"""The engines: SQLite's pragmas and BEGIN IMMEDIATE, PostgreSQL's write lock, time zone and isolation;
sessions; the URLs kukey refuses."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import KeyRecord
from tests.storage.audit_helpers import new_engine, open_engine

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A kukey engine on a new SQLite file."""
    engine = new_engine(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def any_engine(database_url: str) -> Iterator[Engine]:
    """A kukey engine on a new database, on SQLite and on PostgreSQL."""
    engine = open_engine(database_url)
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


def test_the_engine_serves_worker_threads(any_engine: Engine) -> None:
    """Sessions opened in several threads at once all commit (no same-thread check, writers queue up)."""
    engine = any_engine

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


TRIGGERS = {"sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger'",
            "postgresql": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"}


def test_init_db_is_idempotent_and_creates_every_table_and_trigger(any_engine: Engine) -> None:
    """Running init_db again changes nothing and the workflow tables, audit tables and triggers all exist
    (on PostgreSQL also the TRUNCATE guards)."""
    engine = any_engine
    init_db(engine)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        triggers = {r[0] for r in conn.exec_driver_sql(TRIGGERS[engine.dialect.name])}
    assert tables == {"request", "approval", "enrollment", "totp_use", "api_key", "job", "audit_event", "audit_key",
                      "audit_forward", "alembic_version", "outbox", "key_reminder", "kill_switch_key", "notice"}
    expected = {"audit_event_no_update", "audit_event_no_delete", "audit_key_no_delete"}
    if engine.dialect.name == "postgresql":
        expected |= {"audit_event_no_truncate", "audit_key_no_truncate"}
    assert triggers == expected


def test_session_scope_commits_on_success_and_rolls_back_on_error(any_engine: Engine) -> None:
    """A block that returns commits its writes; a block that raises leaves nothing behind."""
    engine = any_engine
    with session_scope(engine) as session:
        session.add(KeyRecord(api_key="k1", sub_account="sub-a", created_at=NOW))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(KeyRecord(api_key="k2", sub_account="sub-a", created_at=NOW))
        session.flush()
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert [k.api_key for k in session.exec(select(KeyRecord))] == ["k1"]


LOCKED = {"sqlite": "database is locked", "postgresql": "lock timeout"}


def test_a_transaction_takes_the_write_lock_at_begin(database_url: str) -> None:
    """kukey's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the advisory lock): while one session is open,
    even after only reading, another cannot begin and gives up after the busy timeout; after the first
    commits it can."""
    first = make_engine(database_url, busy_timeout_s=0.2)
    second = make_engine(database_url, busy_timeout_s=0.2)
    init_db(first)
    try:
        with session_scope(first) as holder:
            holder.execute(text("SELECT 1"))
            with pytest.raises(OperationalError, match=LOCKED[first.dialect.name]), session_scope(second) as other:
                other.execute(text("SELECT 1"))
        with session_scope(second) as other:
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


def test_postgresql_keeps_instants_in_utc_and_reads_committed(pg_url: str) -> None:
    """An aware datetime comes back as the same instant in UTC although the server's time zone is another,
    and kukey's transactions are READ COMMITTED even where the database's default is stricter."""
    engine = open_engine(pg_url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {engine.url.database} SET timezone = 'Asia/Tokyo'")
            conn.exec_driver_sql(f"ALTER DATABASE {engine.url.database} SET default_transaction_isolation = "
                                 "'serializable'")
            conn.commit()
        engine.dispose()  # new connections get the database's new defaults
        tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
        with session_scope(engine) as session:
            session.add(KeyRecord(api_key="k1", sub_account="sub-a", created_at=tokyo))
        with session_scope(engine) as session:
            stored = session.exec(select(KeyRecord.created_at)).one()
            isolation = session.execute(text("SHOW transaction_isolation")).scalar_one()
    finally:
        engine.dispose()
    assert (stored, stored.tzinfo, isolation) == (NOW, UTC, "read committed")


@pytest.mark.parametrize("url", ["mysql://kukey:hunter2@db/kukey", "postgres://kukey:hunter2@db/kukey",
                                 "sqlite:///"])
def test_make_engine_refuses_other_databases(url: str) -> None:
    """kukey runs on SQLite files and PostgreSQL; another URL is refused with one line naming the forms,
    its password masked."""
    with pytest.raises(ValueError, match="KUKEY_DATABASE_URL") as caught:
        make_engine(url)
    assert "hunter2" not in str(caught.value)
