"""PostgreSQL's pool pings a connection before reuse only when it sat idle past the threshold: a dead idle
one is replaced without the transaction noticing, one used moments ago costs no extra round trip, and one
killed within the threshold fails its next transaction once (the trade bot.storage.db describes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from bot.storage.db import init_db, make_engine, session_scope
from tests.databases import connect, rows
from tests.storage.test_postgres import wait_until

THRESHOLD_S = 0.05  # small, so that "idle past the threshold" is a short wait
HOUR_S = 3600.0  # so long that a connection reused in the test is surely within it


@pytest.fixture
def schema_url(pg_url: str) -> str:
    """A PostgreSQL database with kukey's schema, made by an engine disposed of before the test's own."""
    engine = make_engine(pg_url)
    init_db(engine)
    engine.dispose()
    return pg_url


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines the test makes, disposed of at its end."""
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def record_driver_statements(engine: Engine) -> list[str]:
    """Every statement psycopg runs on the engine's connections from now on, pings included (SQLAlchemy's
    ping goes to the driver directly, past its own cursor events): a psycopg cursor class that records
    and then runs the statement, installed on each new connection."""
    statements: list[str] = []

    class RecordingCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            statements.append(str(query))
            return super().execute(query, params, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor_factory = RecordingCursor

    return statements


def backend_pid(engine: Engine) -> int:
    """The server process behind the connection one transaction of `engine` ran on."""
    with session_scope(engine) as session:
        return int(session.connection().execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(url: str, pid: int) -> None:
    """Kill backend `pid` from another connection and wait until the server has ended it."""
    killer = connect(url)
    try:
        assert killer.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    finally:
        killer.close()
    wait_until(lambda: rows(url, "SELECT count(*) FROM pg_stat_activity WHERE pid = ?", (pid,)) == [(0,)],
               f"backend {pid} to end")


def test_an_idle_connection_whose_backend_died_is_replaced_transparently(schema_url: str,
                                                                          engines: list[Engine]) -> None:
    """A pooled connection idle past the threshold whose backend was terminated fails its ping at checkout;
    the pool replaces it and the transaction runs on a new backend without an error."""
    engine = make_engine(schema_url, ping_idle_after_s=THRESHOLD_S)
    engines.append(engine)
    killed = backend_pid(engine)
    idle_since = time.monotonic()
    terminate(schema_url, killed)
    wait_until(lambda: time.monotonic() - idle_since > THRESHOLD_S, "the connection to be idle past the threshold")
    assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]  # QueuePool: the dead one is next

    assert backend_pid(engine) != killed


def test_a_connection_reused_within_the_threshold_is_not_pinged(schema_url: str, engines: list[Engine]) -> None:
    """With the default threshold, a transaction right after another reuses its connection and the driver
    runs only the transaction's own statements (the write lock, the query): no ping."""
    engine = make_engine(schema_url)
    engines.append(engine)
    statements = record_driver_statements(engine)
    first = backend_pid(engine)
    statements.clear()

    assert backend_pid(engine) == first
    assert statements == ["SELECT pg_advisory_xact_lock(%s)", "SELECT pg_backend_pid()"]


def test_a_connection_killed_within_the_threshold_fails_one_transaction(schema_url: str,
                                                                         engines: list[Engine]) -> None:
    """The trade: a connection killed moments after its last use is not pinged, so the next transaction on
    it fails with OperationalError; SQLAlchemy invalidates the pool and the transaction after it succeeds."""
    engine = make_engine(schema_url, ping_idle_after_s=HOUR_S)
    engines.append(engine)
    killed = backend_pid(engine)
    terminate(schema_url, killed)

    with pytest.raises(OperationalError) as failed:
        backend_pid(engine)
    assert failed.value.connection_invalidated
    assert backend_pid(engine) not in {killed, 0}
