"""Shared fixtures. Every test starts with a clean environment (no real credentials can leak in)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.storage.db import init_db, make_engine
from tests.postgres import PostgresServer
from tests.postgres import available as postgres_available

_KEEP = {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT",
         "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST", "PYTEST_VERSION"}


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Remove every variable but the basics, so tests never see a developer's real tokens."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name not in _KEEP:
            del os.environ[name]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL 15 server per test process, started from the installed server programs."""
    why_not = postgres_available()
    if why_not:
        pytest.fail(f"PostgreSQL tests need the server programs: {why_not}")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A fresh, empty PostgreSQL database for one test (SQLAlchemy URL, psycopg 3)."""
    return postgres.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend kukey supports: a SQLite file in tmp_path, then a new
    database on the suite's PostgreSQL server. Tests taking it run once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kukey.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A kukey engine on a new database (schema at the head), on SQLite and on PostgreSQL."""
    engine = make_engine(database_url)
    init_db(engine)
    yield engine
    engine.dispose()
