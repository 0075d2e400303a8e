"""Reading the audit log as it grows: engines that never take kukey's write lock, events after a seq, and
the JSON line each event is shown as.

kukey's own engines (bot.storage.db) open every transaction with its write lock (BEGIN IMMEDIATE on
SQLite, the advisory lock on PostgreSQL), reads too. A reader polling twice a second must not queue
with the approvals, so the stream has engines of its own, in autocommit: each statement is its own
transaction and takes no lock but its own row's. `read_only` ones cannot write at all (SQLite opens the
file with mode=ro; PostgreSQL sets default_transaction_read_only).

Polling `seq > N ORDER BY seq` never skips an event: appends are serialised and each commits before the
next one reads the head (bot.storage.audit), so event N is visible before event N+1 exists.
"""

from __future__ import annotations

import json
import sqlite3
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, col

from bot.storage import audit_read, urls
from bot.storage.audit_read import Event
from bot.storage.audit_schema import AuditEvent

TIMEOUT_S = 15  # SQLite's busy timeout; PostgreSQL's connect and statement timeouts
APPLICATION = "kukey-audit-stream"  # PostgreSQL's application_name: pg_stat_activity shows who reads


def stream_engine(url: str, *, read_only: bool) -> Engine:
    """An autocommit engine on KUKEY_DATABASE_URL for the stream (see the module docstring)."""
    target = urls.normalized(url)
    if target.get_backend_name() == "sqlite":
        path = url.removeprefix(urls.SQLITE_PREFIX)
        uri = f"file:{quote(path)}" + ("?mode=ro" if read_only else "")

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, timeout=TIMEOUT_S, isolation_level=None, check_same_thread=False)

        return create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=2, max_overflow=2,
                             isolation_level="AUTOCOMMIT")
    options = f"-c statement_timeout={TIMEOUT_S * 1000}" + (" -c default_transaction_read_only=on" if read_only else "")
    return create_engine(target, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=2, pool_pre_ping=True,
                         connect_args={"options": options, "application_name": APPLICATION,
                                       "connect_timeout": TIMEOUT_S})


def events_after(engine: Engine, seq: int, *, limit: int, sub_account: str | None = None) -> list[Event]:
    """Up to `limit` events with seq greater than `seq`, in seq order (about one sub-account if given)."""
    with Session(engine) as session:
        return audit_read.events(session, after_seq=seq, limit=limit, sub_account=sub_account)


def latest(engine: Engine, count: int, *, sub_account: str | None = None) -> list[Event]:
    """The last `count` events, oldest first."""
    with Session(engine) as session:
        return audit_read.events(session, limit=count, sub_account=sub_account, newest_first=True)[::-1]


def head_seq(engine: Engine) -> int:
    """The seq of the newest event; 0 for an empty log."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(col(AuditEvent.seq)), 0))).scalar_one())


def event_json(event: Event, *, ascii_only: bool = False) -> str:
    """The event as one line of JSON: what `kukey audit export --format jsonl` prints, field for field."""
    return json.dumps(event.as_dict(), ensure_ascii=ascii_only)
