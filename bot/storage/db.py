"""Engines and sessions for kukey's database: SQLite (the embedded default) or PostgreSQL (several replicas).

Both backends give every transaction the same guarantee: it runs alone among kukey's writers, from its
first statement to its commit, across threads AND processes. The workflows rely on it: they read, decide
and then write (an approval count, a TOTP failure counter, the audit chain's head), and two processes
must never act on the same reading.

SQLite: every connection runs in WAL mode with synchronous=FULL (a commit is on disk when it returns), a
busy timeout and foreign keys on. pysqlite's own transaction handling is switched off and every
transaction starts with `BEGIN IMMEDIATE` (SQLAlchemy's documented pysqlite recipe): the write lock.

PostgreSQL (psycopg 3): READ COMMITTED, and every transaction first takes the transaction-level advisory
lock WRITE_LOCK (`pg_advisory_xact_lock`), released at commit or rollback: PostgreSQL's counterpart of
BEGIN IMMEDIATE. lock_timeout plays SQLite's busy timeout. Datetimes are `timestamp with time zone`
(SQLModel's UTCDateTime reads them back as aware UTC, whatever the server's time zone). Compare-and-set
updates, unique constraints and the audit append lock (bot.storage.audit) hold on their own as well;
the write lock is what keeps read-then-write workflows exact. A pooled connection is pinged before reuse
only when it sat idle a while (PING_IDLE_AFTER_S).

The schema is made and upgraded by migrations (bot.storage.schema); `init_db` readies a database for
writing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, create_engine, event, literal_column
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, SQLModel

from bot.storage import audit_schema as _audit_schema
from bot.storage import tables as _tables
from bot.storage import urls
from bot.storage.schema import prepare

BUSY_TIMEOUT_S = 15.0
Select_T = TypeVar("Select_T", bound=Select[Any])
# pg_advisory_xact_lock key of kukey's write lock: any fixed bigint; these are the bytes of "kukey-wr".
WRITE_LOCK = int.from_bytes(b"kukey-wr", "big")
POOL_SIZE, POOL_OVERFLOW = 5, 20  # the bot's worker threads, scheduler and listeners share the pool
# PostgreSQL: a pooled connection idle longer than this is pinged (SELECT 1) before it is used again; one used
# more recently is not. SQLAlchemy's pool_pre_ping pinged at every checkout: one round trip (~150-300 us
# here) per transaction, ~15 on a request lifecycle's path, whose transactions follow each other within
# milliseconds, so nearly all of them now skip it. What kills a connection while it sits in the pool (idle
# timeouts of the server, pgbouncer or a NAT: minutes; a restart or failover: any moment) is caught by the
# ping after 1 s of idleness. The trade: a connection killed within 1 s of its last use fails the next
# transaction on it, like any disconnect in mid-transaction: SQLAlchemy raises OperationalError and
# invalidates the pool, so the transactions after it run on new connections. 1 s keeps that window short.
PING_IDLE_AFTER_S = 1.0
_CHECKED_IN = "kukey_checked_in"  # a pooled connection's info: time.monotonic() when it last went back

_ = _tables  # imported for its side effect: every table joins SQLModel.metadata (audit_schema's too)


def make_engine(url: str, *, busy_timeout_s: float = BUSY_TIMEOUT_S, flushed: bool = True,
                ping_idle_after_s: float = PING_IDLE_AFTER_S) -> Engine:
    """An engine for KUKEY_DATABASE_URL (see bot.storage.urls), usable from worker threads and safe across
    processes. ValueError, with the password masked, for a URL kukey cannot use.

    `flushed=False`: a small engine whose commits return before they reach the disk (SQLite WAL with
    synchronous=NORMAL, PostgreSQL synchronous_commit=off), still atomic and in order, but the last ones
    may be lost if the machine (not the process) dies; for records that are safe to lose, such as what the
    outbox delivered (bot.services.delivery), so that they never make a person's next step wait on a disk
    flush.

    `ping_idle_after_s` (PostgreSQL): how long a pooled connection may sit idle before it is pinged."""
    target = urls.normalized(url)
    _audit_schema.add_dialect_options(target.get_backend_name())
    if target.get_backend_name() == "sqlite":
        return _sqlite_engine(url, busy_timeout_s, flushed)
    return _postgres_engine(target, busy_timeout_s, flushed, ping_idle_after_s)


def _sqlite_engine(url: str, busy_timeout_s: float, flushed: bool = True) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_s, "isolation_level": None},
    )
    synchronous = "FULL" if flushed else "NORMAL"
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite must not emit its own BEGIN/COMMIT
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: URL, busy_timeout_s: float, flushed: bool, ping_idle_after_s: float) -> Engine:
    lock_ms = int(busy_timeout_s * 1000)
    options = f"-c lock_timeout={lock_ms}" + ("" if flushed else " -c synchronous_commit=off")
    engine = create_engine(
        url, isolation_level="READ COMMITTED",
        pool_size=POOL_SIZE if flushed else 1, max_overflow=POOL_OVERFLOW if flushed else 1,
        connect_args={"options": options, "application_name": "kukey",
                      "connect_timeout": max(1, int(busy_timeout_s))},
    )

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))

    _ping_when_idle(engine, ping_idle_after_s)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection at checkout only when it sat idle over `idle_s` seconds (a new one never):
    SQLAlchemy's custom pessimistic ping ("Dealing with Disconnects") with its pool events. A failed ping
    invalidates the pool, as SQLAlchemy's own pre-ping does (after a restart every pooled connection is
    dead), and the pool connects anew for this checkout."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)  # None: a new connection (info is cleared on reconnect)
        if checked_in is None or time.monotonic() - checked_in <= idle_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError("a pooled connection idle a while failed its ping") from exc


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def insert_unless_taken(on: Session | Connection, table: type[SQLModel] | Table, *, unique: list[str] | None = None,
                        **values: Any) -> Insert:
    """INSERT of one row that does nothing when it conflicts (on the `unique` columns' values, or any
    unique constraint): ON CONFLICT DO NOTHING, in the dialect of the backend behind `on`. Each backend's
    dialect is imported only when used, so a bot never holds the other one (PostgreSQL's: about 2 MB)."""
    stmt: Insert = _insert(dialect_name(on))(table).values(**values).on_conflict_do_nothing(index_elements=unique)
    return stmt


def inserted(session: Session, table: type[SQLModel], *, unique: list[str], **values: Any) -> bool:
    """INSERT one row unless its `unique` columns' values are taken (ON CONFLICT DO NOTHING), on the session's
    connection after a flush; True when the row went in. Read through RETURNING: PostgreSQL's rowcount is -1
    for this statement."""
    session.flush()
    conn = session.connection()
    return conn.execute(_insert_unless_taken(conn.dialect.name, table, tuple(unique)), values).first() is not None


@cache
def _insert_unless_taken(dialect: str, table: type[SQLModel], unique: tuple[str, ...]) -> Insert:
    """`inserted`'s statement, built once per backend, table and unique columns and executed with the row's
    values as parameters (they name the columns of VALUES): built per call, an approval's insert cost
    ~170-225 us, now ~50 us (issue 16.2); every approval, TOTP code and notice runs one."""
    stmt: Insert = _insert(dialect)(table).on_conflict_do_nothing(index_elements=list(unique))
    return stmt.returning(literal_column("1"))


def insert_or_update(dialect: str, table: type[SQLModel] | Table, *, unique: Sequence[str], update: Sequence[str],
                     also: Mapping[str, Any] | None = None) -> Insert:
    """INSERT of one row, its values given as the execution's parameters, that, when a row with the same
    `unique` columns exists, sets that row's `update` columns to the values this INSERT proposed for them
    (EXCLUDED) and its `also` columns to their expressions instead: ON CONFLICT DO UPDATE, in `dialect`
    ("sqlite" or "postgresql"). Nothing in it depends on the row, so a caller can build it once."""
    stmt = _insert(dialect)(table)
    upsert: Insert = stmt.on_conflict_do_update(index_elements=list(unique),
                                                set_={name: stmt.excluded[name] for name in update} | dict(also or {}))
    return upsert


def dialect_name(on: Session | Connection) -> str:
    """"sqlite" or "postgresql": the backend behind a session or connection."""
    return str(on.get_bind().dialect.name if isinstance(on, Session) else on.dialect.name)


def skip_locked(dialect: str, stmt: Select_T) -> Select_T:
    """PostgreSQL: `FOR UPDATE SKIP LOCKED`, so a row another transaction holds is passed over, not waited
    for (the compare-and-set update after it still decides). SQLite: unchanged; its write lock serialises."""
    if dialect == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def _insert(dialect: str) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    from sqlalchemy.dialects.postgresql import insert as postgres_insert

    return postgres_insert


def init_db(engine: Engine, *, auto_migrate: bool = False) -> None:
    """Ready the database for writing: a new, empty one is created at the head revision; one behind the
    head is upgraded when `auto_migrate`, else refused with SchemaError (see bot.storage.schema)."""
    prepare(engine, auto_migrate=auto_migrate)


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
