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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from bot.domain.actions import AuditAction
from bot.domain.clock import FakeClock
from bot.domain.jobs import JobKind
from bot.domain.keys import KeyState
from bot.domain.requests import OPEN_STATES, State
from bot.services.deps import view
from bot.storage import audit, audit_read, outbox, repos
from bot.storage.db import session_scope
from bot.storage.outbox import NewItem
from bot.storage.tables import Approval, Request

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MASTER = bytes(range(32))
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
# name -> (the read, whether its rows must come in index order: no sort of everything that matched)
PATHS: dict[str, tuple[Read, bool]] = {
    "pending": (_pending, False),  # sorts the open requests only
    "status": (_status, False),
    "list (the sub-account's live keys)": (lambda s: repos.keys_of(
        s, sub_account="alpha-trading", states=(KeyState.ACTIVE, KeyState.DELETE_PENDING, KeyState.DELIVERING)),
        False),
    "audit append (list writes one)": (_append, True),
    "scheduler claim of due jobs": (lambda s: repos.claim_due(s, now=NOW, lease_until=LEASE, limit=1), False),
    "scheduler claim of one job": (lambda s: repos.claim_one(s, kind=JobKind.REVOKE, ref="KK-OPEN0001", now=NOW,
                                                             lease_until=LEASE), False),
    "outbox claim of stream heads": (lambda s: outbox.claim_heads(s, now=NOW, lease_until=LEASE, limit=4,
                                                                  skip=[1]), False),
    "outbox claim of a stream's next": (lambda s: outbox.claim_next(s, stream="req:KK-OPEN0001", now=NOW,
                                                                    lease_until=LEASE), False),
    "outbox add (open streams)": (lambda s: outbox.add(s, items=[NewItem("req:KK-OPEN0001", "post", {})], now=NOW,
                                                       give_up_at=LEASE, lease_until=LEASE), False),
    "audit head": (audit.head, True),
    "audit page after a seq": (lambda s: audit_read.events(s, after_seq=1, limit=100), True),
    "audit stream of a sub-account": (lambda s: audit_read.events(s, after_seq=1, limit=100,
                                                                  sub_account="alpha-trading"), True),
    "audit newest of a sub-account": (lambda s: audit_read.events(s, limit=10, sub_account="alpha-trading",
                                                                  newest_first=True), True),
    "audit newest": (lambda s: audit_read.events(s, limit=10, newest_first=True), True),
    "audit since a time": (lambda s: audit_read.events(s, since=NOW, limit=100), True),
}


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """A database with a row of each kind the paths read (an open request, its approval, jobs, an outbox item,
    audit events), so that every path runs all of its statements."""
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
    return engine


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


def sqlite_problems(engine: Engine, statement: str, parameters: Any, ordered: bool) -> list[str]:
    with engine.connect() as conn:
        steps = [str(row[3]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    problems = [step for step in steps if step.startswith("SCAN ") and step.split()[1] in GROWING
                and not bounded_walk(statement)]
    if ordered:
        problems += [step for step in steps if "TEMP B-TREE FOR ORDER BY" in step]
    return problems


def postgres_problems(engine: Engine, statement: str, parameters: Any, ordered: bool) -> list[str]:
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        if ordered:  # a sort then remains only where no index gives the order
            conn.exec_driver_sql("SET enable_sort = off")
        plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
    problems: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        kind, table = node["Node Type"], node.get("Relation Name")
        if table in GROWING and kind == "Seq Scan":
            problems.append(f"Seq Scan on {table}")
        if table in GROWING and kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node \
                and not bounded_walk(statement):
            problems.append(f"{kind} of all of {node['Index Name']} on {table}")
        if ordered and kind in ("Sort", "Incremental Sort"):
            problems.append(f"Sort by {node['Sort Key']}")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return problems


@pytest.mark.parametrize("path", list(PATHS))
def test_the_read_searches_an_index(seeded: Engine, path: str) -> None:
    """Every SELECT of the path searches an index of each growing table it reads (no full scan), and a read
    that returns rows in order gets them from the index in that order (no sort of all that matched)."""
    read, ordered = PATHS[path]
    with selects(seeded) as sent, session_scope(seeded) as s:
        read(s)
    explain = sqlite_problems if seeded.dialect.name == "sqlite" else postgres_problems
    found = {statement: explain(seeded, statement, parameters, ordered) for statement, parameters in sent}
    assert any(table in statement for statement in found for table in GROWING)
    assert {statement: problems for statement, problems in found.items() if problems} == {}


def test_reading_the_audit_log_since_a_time_starts_from_the_time_index(seeded: Engine) -> None:
    """`since` is looked up on the ts index, so reading the last hour of a long log never walks its start."""
    with selects(seeded) as sent, session_scope(seeded) as s:
        audit_read.events(s, since=NOW, limit=100)
    first, parameters = next((st, p) for st, p in sent if "audit_event" in st)
    with seeded.connect() as conn:
        if seeded.dialect.name == "sqlite":
            plan = " ".join(str(r[3]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {first}", parameters))
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {first}", parameters))
    assert "ix_audit_event_ts" in plan
