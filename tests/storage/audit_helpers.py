"""Helpers for audit tests: a real database, a filled chain, and an attacker with a raw connection."""

from __future__ import annotations

import os
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bot.domain.clock import FakeClock
from bot.storage.audit import AuditLog
from bot.storage.audit_chain import COLUMNS
from bot.storage.db import init_db, make_engine, session_scope
from tests.databases import connect, is_postgres, placeholders


def new_master() -> bytes:
    return os.urandom(32)


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kukey.db'}"


def new_engine(tmp_path: Path) -> Engine:
    """A kukey engine on a new SQLite file in tmp_path, its schema made."""
    return open_engine(db_url(tmp_path))


def open_engine(url: str) -> Engine:
    """A kukey engine on the database `url` names, its schema made."""
    engine = make_engine(url)
    init_db(engine)
    return engine


def fill(engine: Engine, log: AuditLog, clock: FakeClock, count: int, *, sub_account: str = "sub-a") -> None:
    """Append `count` events in one transaction, one second apart."""
    with session_scope(engine) as session:
        for i in range(count):
            clock.advance(timedelta(seconds=1))
            log.record(session, "request.created", actor=f"U{i % 3}", request_id=f"KK-{i:04d}",
                       sub_account=sub_account, detail={"n": i})


# The guards an attacker with the database's owner rights drops first (SQLite: the file's owner).
_GUARDS = {"sqlite": ["DROP TRIGGER audit_event_no_update", "DROP TRIGGER audit_event_no_delete"],
           "postgresql": ["DROP TRIGGER audit_event_no_update ON audit_event",
                          "DROP TRIGGER audit_event_no_delete ON audit_event"]}


class Attacker:
    """A raw, autocommit connection to the same database with the append-only triggers dropped, as an
    attacker holding the owner's rights would; SQL with `?` placeholders on either backend."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = connect(url)
        for statement in _GUARDS["postgresql" if is_postgres(url) else "sqlite"]:
            self.execute(statement)

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> Any:
        return self.conn.execute(placeholders(self.url, sql), params)

    def executescript(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self.execute(statement)

    def close(self) -> None:
        self.conn.close()


def attacker(engine: Engine) -> Attacker:
    return Attacker(engine.url.render_as_string(hide_password=False))


def row(conn: Attacker | sqlite3.Connection, seq: int) -> tuple[object, ...]:
    found = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_event WHERE seq = ?", (seq,)).fetchone()  # noqa: S608
    assert found is not None
    return tuple(found)


def insert(conn: Attacker | sqlite3.Connection, values: tuple[object, ...]) -> None:
    """Insert a raw audit_event row (all 12 columns in table order)."""
    conn.execute(f"INSERT INTO audit_event ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",  # noqa: S608
                 values)
