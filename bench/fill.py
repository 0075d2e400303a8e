"""A kukey database with a history behind it (issue 16, point 6), made in bulk before kukey starts on it.

Every database gets the same few open requests (what `/kukey pending` shows and `/kukey status` asks for);
a full one also gets `requests` closed requests, spread over the past year, with what they leave behind:
an approval and a key (deleted since) for each revealed one, a done job for each, the outbox items of the
last week (kukey purges delivered items after 7 days) and `events` audit events. The tables are written
through kukey's own table models (SQLAlchemy Core inserts, one transaction per table); the audit log
with the rows AuditLog.record writes, chained and signed with the world's master key (bench.audit.events):
kukey's start-up checks the key of the last event, and its appends chain onto the head. SQLite gets them
with raw SQL (bench.audit.insert_events), PostgreSQL with COPY. On PostgreSQL the fill ends with ANALYZE,
as autovacuum would soon after a load this size; SQLite is left as kukey leaves it (no ANALYZE).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from bench import audit
from bot.domain.jobs import JobKind, JobState
from bot.domain.keys import KeyState
from bot.domain.outbox import OutboxState
from bot.domain.requests import State
from bot.storage import urls
from bot.storage.audit_chain import COLUMNS
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Approval, Job, KeyRecord, OutboxItem, Request

OPEN = 20  # open requests in every database
# Request ids are "KK-" and 8 Crockford base32 characters (no I, L, O, U), as kukey makes them: "0PEN", not "OPEN"
STATUS_ID = "KK-0PEN0001"  # the request `/kukey status` asks about
SUBS = ("alpha-trading", "delta-research", "beta-spot")
CLOSED = (State.REVEALED,) * 6 + (State.DENIED, State.EXPIRED, State.CANCELLED, State.LAPSED)
YEAR = timedelta(days=365)
KEEP = timedelta(days=7)  # bot.services.delivery.KEEP: delivered outbox items are purged after it
BATCH = 20_000


def fill(url: str, master: bytes, *, requests: int, events: int, now: datetime) -> dict[str, Any]:
    """Create kukey's schema at `url` and write the open requests, then the history; what was written and
    how long it took."""
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        init_db(engine)
        rows = {"open requests": _open(engine, now)}
        if requests:
            rows |= _history(engine, requests, now)
        if events:
            _audit(url, engine, audit.events(master, events, start=now - YEAR, spacing=YEAR / events / 1.01,
                                             subject=lambda seq: _subject(seq, events, requests)))
            rows["audit events"] = events
        if urls.is_postgres(url):
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 1)}


def _open(engine: Engine, now: datetime) -> int:
    rows = [dict(id=f"KK-0PEN{i:04d}", kind="create", state=(State.PENDING if i % 2 else State.APPROVED).value,
                 requester=f"U0REQ{i:05d}", sub_account=SUBS[i % len(SUBS)], permissions="General,Spot",
                 ips="203.0.113.5", expire_days=30, reason="benchmark: an open request", created_at=now,
                 expires_at=now + timedelta(days=1)) for i in range(1, OPEN + 1)]
    with session_scope(engine) as s:
        s.execute(insert(Request), rows)
        s.execute(insert(Approval), [dict(request_id=r["id"], approver="U0APPR001", totp_step=i, approved_at=now)
                                     for i, r in enumerate(rows) if r["state"] == State.APPROVED.value])
        s.execute(insert(Job), [dict(kind=JobKind.EXPIRE_REQUEST.value, ref=r["id"], run_at=r["expires_at"],
                                     state=JobState.PENDING.value, attempts=0, last_error="") for r in rows])
    return len(rows)


def _history(engine: Engine, count: int, now: datetime) -> dict[str, int]:
    step = YEAR / count
    made = {"closed requests": 0, "approvals": 0, "keys (deleted)": 0, "jobs (done)": 0, "outbox items (sent)": 0}
    for first in range(0, count, BATCH):
        chunk = [_closed(i, now - YEAR + i * step) for i in range(first, min(first + BATCH, count))]
        revealed = [r for r in chunk if r["state"] == State.REVEALED.value]
        recent = [r for r in chunk if r["created_at"] > now - KEEP]
        with session_scope(engine) as s:
            s.execute(insert(Request), chunk)
            _insert(s, Approval, [dict(request_id=r["id"], approver="U0APPR001", totp_step=i,
                                       approved_at=r["approved_at"]) for i, r in enumerate(revealed)])
            _insert(s, KeyRecord, [dict(api_key=r["new_api_key"], sub_account=r["sub_account"],
                                        remark=r["id"], permissions=r["permissions"], ips=r["ips"], expire_days=30,
                                        created_at=r["approved_at"], request_id=r["id"], requested_by=r["requester"],
                                        approved_by="U0APPR001", state=KeyState.DELETED.value,
                                        deleted_at=r["approved_at"] + timedelta(days=30)) for r in revealed])
            s.execute(insert(Job), [dict(kind=JobKind.EXPIRE_REQUEST.value, ref=r["id"], run_at=r["expires_at"],
                                         state=JobState.DONE.value, attempts=1, last_error="") for r in chunk])
            _insert(s, OutboxItem, [_sent(r, n) for r in recent for n in range(2)])
        for name, n in (("closed requests", len(chunk)), ("approvals", len(revealed)),
                        ("keys (deleted)", len(revealed)), ("jobs (done)", len(chunk)),
                        ("outbox items (sent)", 2 * len(recent))):
            made[name] += n
    return made


def _insert(session: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(table), rows)


def _closed(i: int, at: datetime) -> dict[str, Any]:
    state = CLOSED[i % len(CLOSED)]
    row = dict(id=f"KK-H{i:07d}", kind="create", state=state.value, requester=f"U0REQ{i % 500:05d}",
               sub_account=SUBS[i % len(SUBS)], permissions="General,Spot", ips="203.0.113.5", expire_days=30,
               reason="benchmark: history", channel="C0APPROVALS", thread_ts=f"{at.timestamp():.6f}",
               created_at=at, expires_at=at + timedelta(days=1), resolved_at=at + timedelta(minutes=5),
               approved_at=None, new_api_key=None)
    if state == State.REVEALED:
        row |= dict(approved_at=at + timedelta(minutes=2), new_api_key=f"{i:024x}")
    return row


def _sent(request: dict[str, Any], n: int) -> dict[str, Any]:
    at = request["created_at"]
    return dict(key=f"{request['id']}-{n}", stream=f"req:{request['id']}", op="post", params="{}",
                request_id=request["id"], state=OutboxState.SENT.value, attempts=1, uncertain=False, run_at=at,
                created_at=at, give_up_at=at + timedelta(hours=1), sent_at=at, result="{}", last_error="")


def _subject(seq: int, events: int, requests: int) -> tuple[str, str]:
    """The request an event is about: the history's requests in order, about 10 events each."""
    i = seq * requests // (events + 1) if requests else seq
    return f"KK-H{i:07d}", SUBS[i % len(SUBS)]


def _audit(url: str, engine: Engine, rows: Iterator[tuple[Any, ...]]) -> None:
    if not urls.is_postgres(url):
        audit.insert_events(Path(url.removeprefix(urls.SQLITE_PREFIX)), rows)
        return
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            while chunk := list(islice(rows, BATCH * 5)):
                with cursor.copy(f"COPY audit_event ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in chunk:
                        copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
