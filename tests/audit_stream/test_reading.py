"""The stream's engines read the audit log without kukey's write lock, and the read-only ones cannot write."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.audit_stream.reading import event_json, events_after, head_seq, latest, stream_engine
from bot.domain.actions import AuditAction
from bot.storage.audit_read import Event
from bot.storage.db import session_scope
from tests.audit_stream.helpers import Log


def test_reading_never_waits_for_kukeys_write_lock(database_url: str, log: Log) -> None:
    """While a kukey transaction holds the write lock (and has appended an event it has not committed), the
    stream reads the committed events at once, and sees the new one only after the commit."""
    log.write(3)
    reader = stream_engine(database_url, read_only=True)
    try:
        with session_scope(log.engine) as writing:
            log.audit.record(writing, AuditAction.REQUEST_CREATED, actor="U1")
            assert [e.seq for e in events_after(reader, 0, limit=10)] == [1, 2, 3]
            assert head_seq(reader) == 3
        assert [e.seq for e in latest(reader, 2)] == [3, 4]
    finally:
        reader.dispose()


def test_a_read_only_stream_engine_cannot_write(database_url: str, log: Log) -> None:
    """The engine `tail --follow` reads with refuses an INSERT, on SQLite (mode=ro) and on PostgreSQL
    (default_transaction_read_only)."""
    log.write(1)
    reader = stream_engine(database_url, read_only=True)
    try:
        with reader.connect() as conn, pytest.raises(DBAPIError, match=r"(?i)read.?only"):
            conn.execute(text("INSERT INTO audit_forward (target, last_seq) VALUES ('x', 0)"))
    finally:
        reader.dispose()


def test_an_events_json_line_is_what_export_prints() -> None:
    """event_json keeps every column in order; ascii_only escapes what is not ASCII and nothing else changes."""
    event = Event(seq=7, ts="2026-03-01T09:00:00.000000+00:00", actor="U1", action="request.created",
                  request_id=None, sub_account="süd", api_key=None, outcome="ok", detail={"n": 1}, key_id="k",
                  prev_hash="0" * 64, hash="f" * 64)
    line = event_json(event)
    assert line.startswith('{"seq": 7, "ts": "2026-03-01T09:00:00.000000+00:00", "actor": "U1"')
    assert '"sub_account": "süd"' in line and '"sub_account": "s\\u00fcd"' in event_json(event, ascii_only=True)
