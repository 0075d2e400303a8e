"""Engine, schema and sessions for kukey's SQLite database.

Every connection runs in WAL mode with synchronous=FULL (a commit is on disk when it returns), a busy
timeout and foreign keys on. pysqlite's own transaction handling is switched off and every transaction
starts with `BEGIN IMMEDIATE` (SQLAlchemy's documented pysqlite recipe), so writers are serialized
across threads AND processes: two processes can never read the same audit head and fork the chain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel, col

from bot.storage import audit as _audit
from bot.storage import tables as _tables

BUSY_TIMEOUT_S = 15.0

__all__ = ["BUSY_TIMEOUT_S", "cas_update", "init_db", "make_engine", "session_scope"]
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
        for statement in _audit.SCHEMA_GUARDS:
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


def cas_update(session: Session, model: type[SQLModel], where: Mapping[str, Any],
               values: Mapping[str, Any]) -> bool:
    """UPDATE model SET values WHERE where (all equal); True iff exactly one row changed.

    Bumps `version` when the model has one, so a later compare on version sees this change.
    """
    if not where:
        raise ValueError("cas_update needs a WHERE clause")
    conditions = [
        col(getattr(model, name)).is_(None) if value is None else col(getattr(model, name)) == value
        for name, value in where.items()
    ]
    new_values = dict(values)
    if "version" in model.model_fields and "version" not in new_values:
        new_values["version"] = col(model.version) + 1  # type: ignore[attr-defined]
    statement = update(model).where(*conditions).values(**new_values)
    result = session.exec(statement.execution_options(synchronize_session="fetch"))
    return bool(result.rowcount == 1)
