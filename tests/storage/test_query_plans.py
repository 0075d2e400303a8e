"""The reads behind `/kukey list`, `pending` and `status`, the scheduler's and the outbox's claims and the
audit reads search an index on both backends: none of them scans the tables that grow with use (requests,
approvals, keys, jobs, outbox, audit events), so their cost does not grow with the history kukey keeps.

Each path runs through kukey's own storage functions while the engine records the SELECTs it sends
(SQLAlchemy's `before_cursor_execute` event); each recorded statement is then explained with its own
parameters: SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN (FORMAT JSON)` with sequential scans
disabled (and sorts, for a read that must come in index order), so that a Seq Scan (or a Sort) left in the
plan of these few-row test tables means that no index could serve it; on a big table the planner picks that
index by cost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from sqlalchemy import Engine, event, insert
from sqlmodel import Session

from bot.domain.actions import AuditAction
from bot.domain.clock import FakeClock
from bot.domain.jobs import JobKind, JobState
from bot.domain.keys import KeyState
from bot.domain.outbox import OutboxState
from bot.domain.requests import OPEN_STATES, State
from bot.services.deps import view
from bot.storage import audit, audit_read, outbox, repos
from bot.storage.db import session_scope
from bot.storage.outbox import NewItem
from bot.storage.tables import Approval, Job, KeyRecord, OutboxItem, Request

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MASTER = bytes(range(32))
HISTORY = 300  # closed rows of each kind, under the few open ones
GROWING = frozenset({"request", "approval", "api_key", "job", "outbox", "audit_event"})
Read = Callable[[Session], Any]


def _pending(s: Session) -> Any:
    return [view(s, r) for r in repos.requests_in(s, states=sorted(OPEN_STATES))]


def _status(s: Session) -> Any:
    row = repos.get_request(s, request_id="KK-OPEN0001")
    assert row is not None
    return view(s, row)


def _append(s: Session) -> Any:
    return audit.AuditLog(MASTER, FakeClock(NOW)).record(s, AuditAction.INVENTORY_LISTED, actor="U0ALICE01")


LEASE = NOW + timedelta(seconds=10)


class Path(NamedTuple):
    """A read, whether its rows must come in index order (no sort of all that matched), and the columns an
    index must be searched on (not merely filtered by after the search)."""

    read: Read
    ordered: bool = False
    on: tuple[str, ...] = ()


PATHS: dict[str, Path] = {
    "pending": Path(_pending, on=("state",)),  # sorts the open requests only
    "status": Path(_status, on=("request_id",)),
    "list (the sub-account's live keys)": Path(lambda s: repos.keys_of(
        s, sub_account="alpha-trading", states=(KeyState.ACTIVE, KeyState.DELETE_PENDING, KeyState.DELIVERING)),
        on=("sub_account", "state")),
    "audit append (list writes one)": Path(_append, ordered=True),
    "scheduler claim of due jobs": Path(lambda s: repos.claim_due(s, now=NOW, lease_until=LEASE, limit=1),
                                        on=("state", "run_at")),
    "scheduler claim of one job": Path(lambda s: repos.claim_one(s, kind=JobKind.REVOKE, ref="KK-OPEN0001", now=NOW,
                                                                 lease_until=LEASE), on=("kind", "ref")),
    "outbox claim of stream heads": Path(lambda s: outbox.claim_heads(s, now=NOW, lease_until=LEASE, limit=4,
                                                                      skip=[1]), on=("state", "stream")),
    "outbox claim of a stream's next": Path(lambda s: outbox.claim_next(s, stream="req:KK-OPEN0001", now=NOW,
                                                                        lease_until=LEASE), on=("stream",)),
    "outbox add (open streams)": Path(lambda s: outbox.add(s, items=[NewItem("req:KK-OPEN0001", "post", {})],
                                                           now=NOW, give_up_at=LEASE, lease_until=LEASE),
                                      on=("stream",)),
    "audit head": Path(audit.head, ordered=True),
    "audit page after a seq": Path(lambda s: audit_read.events(s, after_seq=1, limit=100), ordered=True),
    "audit stream of a sub-account": Path(lambda s: audit_read.events(s, after_seq=1, limit=100,
                                                                      sub_account="alpha-trading"),
                                          ordered=True, on=("sub_account",)),
    "audit newest of a sub-account": Path(lambda s: audit_read.events(s, limit=10, sub_account="alpha-trading",
                                                                      newest_first=True),
                                          ordered=True, on=("sub_account",)),
    "audit newest": Path(lambda s: audit_read.events(s, limit=10, newest_first=True), ordered=True),
    "audit since a time": Path(lambda s: audit_read.events(s, since=NOW, limit=100), ordered=True, on=("ts",)),
}


class Step(NamedTuple):
    """One step of a plan: a table read in full (or along a whole index), or searched on a condition; or a sort."""

    table: str = ""
    full: bool = False
    condition: str = ""
    sort: bool = False


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """A database with a row of each kind the paths read (an open request, its approval, jobs, an outbox item,
    audit events), so that every path runs all of its statements, over some history."""
    with session_scope(engine) as s:
        s.add(Request(id="KK-OPEN0001", kind="create", state=State.PENDING.value, requester="U0ALICE01",
                      sub_account="alpha-trading", created_at=NOW, expires_at=NOW + timedelta(days=1)))
        s.flush()
        s.add(Approval(request_id="KK-OPEN0001", approver="U0BOB0001", totp_step=1, approved_at=NOW))
        repos.schedule(s, kind=JobKind.EXPIRE_REQUEST, ref="KK-OPEN0001", run_at=NOW)
        outbox.add(s, items=[NewItem("req:KK-OPEN0001", "post", {})], now=NOW, give_up_at=LEASE)
        log = audit.AuditLog(MASTER, FakeClock(NOW))
        for _ in range(3):
            log.record(s, AuditAction.REQUEST_CREATED, actor="U0ALICE01", sub_account="alpha-trading")
        add_history(s)
    if engine.dialect.name == "postgresql":  # autovacuum's statistics, as a server in use has them
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return engine


def add_history(s: Session, count: int = HISTORY) -> None:
    """What use leaves behind: closed requests and their approvals, done jobs, deleted keys, delivered outbox
    items."""
    old = NOW - timedelta(days=30)
    s.execute(insert(Request), [dict(id=f"KK-OLD{i:05d}", kind="create", state=State.DONE.value,
                                     requester="U0ALICE01", sub_account="alpha-trading", created_at=old,
                                     expires_at=old) for i in range(count)])
    s.execute(insert(Approval), [dict(request_id=f"KK-OLD{i:05d}", approver="U0BOB0001", totp_step=i, approved_at=old)
                                 for i in range(count)])
    s.execute(insert(Job), [dict(kind=JobKind.EXPIRE_REQUEST.value, ref=f"KK-OLD{i:05d}", run_at=old,
                                 state=JobState.DONE.value, attempts=1, last_error="") for i in range(count)])
    s.execute(insert(KeyRecord), [dict(api_key=f"old{i:05d}", sub_account="alpha-trading", created_at=old,
                                       state=KeyState.DELETED.value) for i in range(count)])
    s.execute(insert(OutboxItem), [dict(key=f"old{i:05d}", stream=f"req:KK-OLD{i:05d}", op="post", params="{}",
                                        state=OutboxState.SENT.value, attempts=1, uncertain=False, run_at=old,
                                        created_at=old, give_up_at=old, result="", last_error="")
                                   for i in range(count)])


@contextmanager
def selects(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements (with their parameters) the engine sends meanwhile."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def bounded_walk(statement: str) -> bool:
    """Without WHERE, every row an ordered walk meets is returned: its LIMIT bounds it (the audit head)."""
    text = " ".join(statement.upper().split())
    return " WHERE " not in text and " LIMIT " in text


def sqlite_plan(engine: Engine, statement: str, parameters: Any, _ordered: bool) -> list[Step]:
    """`EXPLAIN QUERY PLAN`: "SCAN t [USING INDEX i]", "SEARCH t USING ... (a=? AND b>?)", "USE TEMP B-TREE"."""
    with engine.connect() as conn:
        details = [str(row[3]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    steps = []
    for detail in details:
        words = detail.split()
        table = re.sub(r"_\d+$", "", words[1]) if len(words) > 1 else ""  # outbox_1: an alias of outbox
        if words[0] in ("SCAN", "SEARCH"):
            steps.append(Step(table, full=words[0] == "SCAN", condition=detail.partition("(")[2]))
        elif "TEMP B-TREE FOR ORDER BY" in detail:
            steps.append(Step(sort=True))
    return steps


def postgres_plan(engine: Engine, statement: str, parameters: Any, ordered: bool) -> list[Step]:
    """`EXPLAIN (FORMAT JSON)` with sequential scans (and, for an ordered read, sorts) disabled."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        if ordered:  # a sort then remains only where no index gives the order
            conn.exec_driver_sql("SET enable_sort = off")
        plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
    steps: list[Step] = []

    def walk(node: dict[str, Any]) -> None:
        kind, table = node["Node Type"], node.get("Relation Name", "")
        condition = str(node.get("Index Cond") or node.get("Recheck Cond") or "")
        if kind in ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"):
            steps.append(Step(table, full=not condition, condition=condition))
        elif kind in ("Sort", "Incremental Sort"):
            steps.append(Step(sort=True))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return steps


def problems(statement: str, steps: list[Step], path: Path) -> list[str]:
    out = [f"{s.table} read in full" for s in steps if s.full and s.table in GROWING and not bounded_walk(statement)]
    if path.ordered:
        out += ["a sort" for s in steps if s.sort]
    return out


@pytest.mark.parametrize("name", list(PATHS))
def test_the_read_searches_an_index(seeded: Engine, name: str) -> None:
    """Every SELECT of the path searches an index of each growing table it reads (no full scan), on the
    columns that select its rows, and a read that returns rows in order gets them from an index in that
    order (no sort of all that matched)."""
    path = PATHS[name]
    with selects(seeded) as sent, session_scope(seeded) as s:
        path.read(s)
    explain = sqlite_plan if seeded.dialect.name == "sqlite" else postgres_plan
    plans = {statement: explain(seeded, statement, parameters, path.ordered) for statement, parameters in sent}
    assert any(step.table in GROWING for steps in plans.values() for step in steps)
    assert {statement: problems(statement, steps, path) for statement, steps in plans.items()
            if problems(statement, steps, path)} == {}
    searched = " ".join(step.condition for steps in plans.values() for step in steps if step.table in GROWING)
    assert [column for column in path.on if column not in searched] == []
