"""A test's view of a kukey database from outside kukey, on either backend: plain sqlite3 or psycopg
connections (no kukey engine, so no kukey lock), SQL written with `?` placeholders for both."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

SQLITE = "sqlite:///"


def is_postgres(url: str) -> bool:
    return not url.startswith(SQLITE)


def connect(url: str, *, read_only: bool = False) -> Any:
    """An autocommit DB-API connection to the database `url` names (SQLite read-only if asked)."""
    if not is_postgres(url):
        path = url.removeprefix(SQLITE)
        if read_only:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        return sqlite3.connect(path, isolation_level=None)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(conninfo, autocommit=True)


def placeholders(url: str, sql: str) -> str:
    """`sql` in the driver's placeholder style: sqlite3 takes ?, psycopg %s."""
    return sql.replace("?", "%s") if is_postgres(url) else sql


def rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every row `sql` returns, read on a connection of its own."""
    conn = connect(url, read_only=True)
    try:
        return [tuple(row) for row in conn.execute(placeholders(url, sql), params).fetchall()]
    finally:
        conn.close()
