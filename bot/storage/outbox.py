"""Repository functions for the outbox (table `outbox`, bot.domain.outbox). Keyword-only, each takes the
caller's session.

Items are added in the caller's transaction (the one that makes the change they report). A stream's items
go out one at a time, oldest first: only a stream's head (its oldest open item) is ever claimed, so a note
never overtakes the post it belongs under, whichever process delivers it. Ids grow in commit order,
because every writer holds kukey's write lock (bot.storage.db).

A claim is a compare-and-set naming the item's claim count (`attempts`), which only grows: the outcome of a
claim that was taken over (its lease ran out) matches nothing and changes nothing. On PostgreSQL the
candidates are read `FOR UPDATE SKIP LOCKED`, like the scheduler's jobs (bot.storage.repos).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Integer, and_, bindparam, delete, func, insert, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.domain.outbox import FOLLOWS, OPEN, Op, OutboxState
from bot.domain.timeutil import aware
from bot.storage.db import dialect_name, skip_locked
from bot.storage.tables import OutboxItem, Request

PENDING, RUNNING = OutboxState.PENDING.value, OutboxState.RUNNING.value
_OPEN = [s.value for s in OPEN]
_DONE = [OutboxState.SENT.value, OutboxState.GIVEN_UP.value, OutboxState.DROPPED.value]

# The statements every state change and every delivery runs are built once and executed with parameters
# (issue 16.2): SQLAlchemy then finds their compiled form without building the statement and its cache key
# again, which cost more than running them. Per call on SQLite: `add` (two streams, claimed) ~400-440 us
# when it built them, ~215-255 us now; `sent_all` ~230-270 -> ~70-100 us. Bound parameters are named b_*:
# a parameter named like a column is reserved for SQLAlchemy's own SET and VALUES.
_TABLE = OutboxItem.metadata.tables[OutboxItem.__tablename__]
RENEW_CHUNK = 200  # claims renewed per statement (`renew`): well under SQLite's expression depth of 1,000
# the streams among b_streams that have an open item
_BUSY = select(_TABLE.c.stream).where(_TABLE.c.stream.in_(bindparam("b_streams", expanding=True)),
                                      _TABLE.c.state.in_(_OPEN)).distinct()
_INSERT = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
_SENT = (update(_TABLE)
         .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.attempts == bindparam("b_attempt"),
                _TABLE.c.state == RUNNING)
         .values(state=OutboxState.SENT.value, sent_at=bindparam("b_now"), lease_until=None, uncertain=False,
                 last_error="", result=bindparam("b_result")))
# one claim's compare-and-set (`_claim`)
_CLAIM = (update(_TABLE)
          .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.state == bindparam("b_state"),
                 _TABLE.c.attempts == bindparam("b_attempts"))
          .values(state=RUNNING, lease_until=bindparam("b_until"), attempts=bindparam("b_attempt"),
                  uncertain=bindparam("b_uncertain")))
# a stream's head, if open (`claim_next`)
_HEAD = (select(OutboxItem).where(col(OutboxItem.stream) == bindparam("b_stream"), col(OutboxItem.state).in_(_OPEN))
         .order_by(col(OutboxItem.id)).limit(1))


@dataclass(frozen=True)
class NewItem:
    """One message to add: its stream, what it is, and its parameters (JSON-ready, never a secret)."""

    stream: str
    op: str
    params: dict[str, Any]
    request_id: str | None = None


@dataclass(frozen=True)
class Claimed:
    """An item as one claim holds it: (id, attempt) names the claim."""

    id: int
    attempt: int
    key: str
    stream: str
    op: str
    params: dict[str, Any]
    request_id: str | None
    uncertain: bool
    give_up_at: datetime
    created_at: datetime


def add(session: Session, *, items: Iterable[NewItem], now: datetime, give_up_at: datetime,
        lease_until: datetime | None = None) -> list[list[Claimed]]:
    """Add `items`, due now, in the caller's transaction. With `lease_until`, the caller also claims the
    new items of each stream that has nothing open yet, as one run per stream (returned, in order); the
    rest wait their turn (whoever records what holds their stream claims them next)."""
    new = list(items)
    streams = list(dict.fromkeys(i.stream for i in new))
    # SQLAlchemy Core on the session's connection (flushed first, so the statements keep their order):
    # the ORM's bulk INSERT path costs several times more, and every state change adds items here
    session.flush()
    conn = session.connection()
    busy: set[str] = set()
    if lease_until is not None:
        busy = set(conn.execute(_BUSY, {"b_streams": streams}).scalars())
    rows = [_row(i, now, give_up_at, lease_until if i.stream not in busy else None) for i in new]
    ids = conn.execute(_INSERT, rows).scalars().all()
    if lease_until is None:
        return []
    claims = [Claimed(id=int(i), attempt=1, key=row["key"], stream=item.stream, op=item.op, params=item.params,
                      request_id=item.request_id, uncertain=False, give_up_at=give_up_at, created_at=now)
              for i, row, item in zip(ids, rows, new, strict=True)]
    return [[c for c in claims if c.stream == stream] for stream in streams if stream not in busy]


def _row(item: NewItem, now: datetime, give_up_at: datetime, lease_until: datetime | None) -> dict[str, Any]:
    """A new row's values; claimed (attempt 1, leased) when `lease_until` is given."""
    return {"key": secrets.token_hex(12), "stream": item.stream, "op": item.op, "request_id": item.request_id,
            "params": json.dumps(item.params, separators=(",", ":")), "run_at": now, "created_at": now,
            "give_up_at": give_up_at, "state": PENDING if lease_until is None else RUNNING,
            "attempts": 0 if lease_until is None else 1, "lease_until": lease_until, "uncertain": False,
            "result": "", "last_error": ""}


def claim_heads(session: Session, *, now: datetime, lease_until: datetime, limit: int,
                skip: Collection[int] = ()) -> list[Claimed]:
    """Claim the due heads of streams, oldest first, passing over `skip`
    (items this process is sending right now). A head still `running` past its lease was left by a process
    that died: its outcome is unknown, so it is claimed as uncertain."""
    stmt = _heads(dialect_name(session), skipping=bool(skip))
    params = {"b_now": now, "b_limit": limit} | ({"b_skip": list(skip)} if skip else {})
    candidates = session.exec(stmt, params=params).all()
    return [c for c in (_claim(session, row, lease_until) for row in candidates) if c is not None]


@cache
def _heads(dialect: str, *, skipping: bool) -> SelectOfScalar[OutboxItem]:
    """`claim_heads`' query: the open heads due at b_now, oldest first, at most b_limit, none of b_skip
    (when `skipping`); one per backend and shape."""
    item, other = OutboxItem, aliased(OutboxItem)
    head = (select(func.min(other.id)).where(other.stream == item.stream, col(other.state).in_(_OPEN))
            .scalar_subquery())
    now: BindParameter[datetime] = bindparam("b_now")
    due = or_(and_(col(item.state) == PENDING, col(item.run_at) <= now),
              and_(col(item.state) == RUNNING, col(item.lease_until) <= now))
    stmt = select(item).where(col(item.id) == head, due)
    if skipping:
        stmt = stmt.where(col(item.id).not_in(bindparam("b_skip", expanding=True)))
    return skip_locked(dialect, stmt.order_by(col(item.id)).limit(bindparam("b_limit", type_=Integer)))


def claim_next(session: Session, *, stream: str, now: datetime, lease_until: datetime) -> Claimed | None:
    """Claim the head of one stream if it is pending and due (after its predecessor was recorded)."""
    head = session.exec(_head(dialect_name(session)), params={"b_stream": stream}).first()
    if head is None or head.state != PENDING or aware(head.run_at) > now:
        return None
    return _claim(session, head, lease_until)


def _claim(session: Session, row: OutboxItem, lease_until: datetime) -> Claimed | None:
    uncertain = row.uncertain or row.state == RUNNING
    claim = Claimed(id=int(row.id or 0), attempt=row.attempts + 1, key=row.key, stream=row.stream, op=row.op,
                    params=json.loads(row.params), request_id=row.request_id, uncertain=uncertain,
                    give_up_at=row.give_up_at, created_at=row.created_at)
    # Core on the session's connection: the ORM's UPDATE costs about twice as much (it evaluates its criteria
    # against every object the session holds) and cannot be built once (that evaluation reads a bound
    # parameter's own value, not the call's). The claimed row the session holds is expired instead of
    # updated in place, to be read again if used.
    taken = session.connection().execute(_CLAIM, {"b_id": claim.id, "b_state": row.state, "b_attempts": row.attempts,
                                                  "b_until": lease_until, "b_attempt": claim.attempt,
                                                  "b_uncertain": uncertain}).rowcount == 1
    session.expire(row)
    return claim if taken else None


@cache
def _head(dialect: str) -> SelectOfScalar[OutboxItem]:
    return skip_locked(dialect, _HEAD)


def _held(claim: Claimed) -> Any:
    return and_(col(OutboxItem.id) == claim.id, col(OutboxItem.attempts) == claim.attempt,
                col(OutboxItem.state) == RUNNING)


def sent(session: Session, *, claim: Claimed, now: datetime, result: dict[str, str]) -> bool:
    """The claim delivered its item; False (nothing changed) when the claim was taken over meanwhile."""
    stmt = update(OutboxItem).where(_held(claim)).values(
        state=OutboxState.SENT.value, sent_at=now, lease_until=None, uncertain=False, last_error="",
        result=json.dumps(result, separators=(",", ":")))
    return bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]


def sent_all(session: Session, *, done: Sequence[tuple[Claimed, dict[str, str]]], now: datetime) -> None:
    """Record several deliveries in one statement; a claim taken over meanwhile changes nothing (use `sent`
    where the caller must know)."""
    if not done:
        return
    session.connection().execute(_SENT, [{"b_id": claim.id, "b_attempt": claim.attempt, "b_now": now,
                                          "b_result": json.dumps(result, separators=(",", ":"))}
                                         for claim, result in done])


def renew(session: Session, *, claims: Iterable[Claimed], lease_until: datetime) -> int:
    """Extend the leases of claims still held (the heartbeat of a live process); how many were.

    RENEW_CHUNK claims per statement: one statement for all of them grew an OR of one compare-and-set per
    claim, and SQLite refuses an expression over 1,000 deep ("Expression tree is too large"); a worker
    behind a burst of creates held ~1,200 claims, its renewals failed and its leases ran out under it."""
    held = list(claims)
    renewed = 0
    for start in range(0, len(held), RENEW_CHUNK):
        chunk = held[start:start + RENEW_CHUNK]
        stmt = update(OutboxItem).where(or_(*(_held(c) for c in chunk))).values(lease_until=lease_until)
        renewed += int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
    return renewed


def retry(session: Session, *, claim: Claimed, run_at: datetime, error: str, uncertain: bool) -> bool:
    """Not delivered this time: back to pending, due at `run_at`; `uncertain` when it may have landed."""
    stmt = update(OutboxItem).where(_held(claim)).values(
        state=PENDING, run_at=run_at, lease_until=None, uncertain=uncertain, last_error=error[:500])
    return bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]


def give_back(session: Session, *, claim: Claimed) -> bool:
    """A claim never attempted (its run stopped before it): pending again, as if never claimed."""
    stmt = update(OutboxItem).where(_held(claim)).values(state=PENDING, attempts=claim.attempt - 1,
                                                          lease_until=None)
    return bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]


def end(session: Session, *, claim: Claimed, state: OutboxState, error: str) -> bool:
    """Never delivered: given up, or dropped (it needed a thread that does not exist)."""
    stmt = update(OutboxItem).where(_held(claim)).values(state=state.value, lease_until=None,
                                                          last_error=error[:500])
    return bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]


def thread_of(session: Session, *, request_id: str) -> tuple[str, str] | None:
    """The (channel, ts) of a request's post, once it was posted."""
    row = session.get(Request, request_id)
    return (row.channel, row.thread_ts) if row is not None and row.channel and row.thread_ts else None


def set_thread(session: Session, *, request_id: str, channel: str, ts: str) -> None:
    session.execute(update(Request).where(col(Request.id) == request_id).values(channel=channel, thread_ts=ts))


def direct_messages(session: Session, *, request_id: str) -> list[tuple[str, str]]:
    """The (channel, ts) of each direct message sent about a request that follows it (FOLLOWS), oldest first."""
    stmt = select(OutboxItem.params, OutboxItem.result).where(
        OutboxItem.request_id == request_id, OutboxItem.op == Op.PRIVATE.value,
        OutboxItem.state == OutboxState.SENT.value).order_by(col(OutboxItem.id))
    found = []
    for params, result in session.exec(stmt):
        landed = json.loads(result or "{}")
        if json.loads(params).get(FOLLOWS) and landed.get("ts"):
            found.append((str(landed["channel"]), str(landed["ts"])))
    return found


def items(session: Session, *, stream: str | None = None) -> list[OutboxItem]:
    """Every item (of one stream), oldest first: for tests, `kukey` commands and troubleshooting."""
    stmt = select(OutboxItem)
    if stream is not None:
        stmt = stmt.where(OutboxItem.stream == stream)
    return list(session.exec(stmt.order_by(col(OutboxItem.id))))


def purge(session: Session, *, before: datetime) -> int:
    """Delete finished items created before `before` (kept meanwhile for troubleshooting)."""
    stmt = delete(OutboxItem).where(col(OutboxItem.state).in_(_DONE), col(OutboxItem.created_at) < before)
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
