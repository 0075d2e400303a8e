"""Engine, schema and sessions for kukey's SQLite database.

Every connection runs in WAL mode with synchronous=FULL (a commit is on disk when it returns), a busy
timeout and foreign keys on. pysqlite's own transaction handling is switched off and every transaction
starts with `BEGIN IMMEDIATE` (SQLAlchemy's documented pysqlite recipe), so writers are serialized
across threads AND processes: two processes can never read the same audit head and fork the chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel

from bot.storage import audit_schema
from bot.storage import tables as _tables

BUSY_TIMEOUT_S = 15.0

_ = _tables  # imported for its side effect: the workflow tables join SQLModel.metadata


def make_engine(url: str, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """An engine for a sqlite:/// URL, usable from worker threads and safe across processes."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"kukey stores its state in SQLite; expected a sqlite:/// URL, got {url!r}")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_s, "isolation_level": None},
    )
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite must not emit its own BEGIN/COMMIT
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def init_db(engine: Engine) -> None:
    """Create every table and the audit triggers; safe to run on every start."""
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        for statement in audit_schema.SCHEMA_GUARDS:
            conn.exec_driver_sql(statement)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits when the block succeeds and rolls back when it raises."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

