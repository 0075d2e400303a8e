"""The database a scene's kukey runs on: a SQLite file in the scene's directory (the default), or, with
`--db postgres`, a fresh database on a PostgreSQL server the bench starts once per run from the installed
server programs (the test suite's tests/postgres.py), fsync off like the suite's, stopped at exit."""

from __future__ import annotations

import atexit
import threading

from bench.config import Config
from tests.postgres import PostgresServer

_server: PostgresServer | None = None
_lock = threading.Lock()


def new_database() -> str:
    """A fresh, empty PostgreSQL database (SQLAlchemy URL); the server starts on first use."""
    global _server
    with _lock:
        if _server is None:
            _server = PostgresServer().start()
            atexit.register(_server.stop)
        return _server.new_database()


def database_url(cfg: Config) -> str:
    """What the scene's KUKEY_DATABASE_URL is: "" (the scene's SQLite file) or a new PostgreSQL database."""
    return new_database() if cfg.db == "postgres" else ""
