"""The outbox's claims (bot.storage.outbox), on SQLite and on PostgreSQL: only the head of a stream is ever
claimed, a claim is named by its attempt so a claim taken over can no longer settle or renew, a dead
process's item comes back as uncertain, and claimers racing from many engines never share an item."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from bot.domain.outbox import OutboxState
from bot.storage import outbox
from bot.storage.db import make_engine, session_scope
from bot.storage.outbox import Claimed, NewItem

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)


def new_items(*streams: str) -> list[NewItem]:
    return [NewItem(stream, "post", {"channel": "C1", "text": stream}) for stream in streams]


def add(engine: Engine, *streams: str) -> list[int]:
    """Add an item to each of `streams`, unclaimed; their ids."""
    with session_scope(engine) as s:
        outbox.add(s, items=new_items(*streams), now=NOW, give_up_at=NOW + timedelta(minutes=30))
        return [int(r.id or 0) for r in outbox.items(s)][-len(streams):]


def claim(engine: Engine, at: datetime = NOW, *, limit: int = 10) -> list[Claimed]:
    with session_scope(engine) as s:
        return outbox.claim_heads(s, now=at, lease_until=at + LEASE, limit=limit)


def sent(engine: Engine, held: Claimed) -> bool:
    with session_scope(engine) as s:
        return outbox.sent(s, claim=held, now=NOW, result={"channel": "C1", "ts": "1.0"})


def test_only_the_head_of_a_stream_is_claimed_and_the_next_after_it(engine: Engine) -> None:
    """Three items of one stream and one of another: a claim gets the first of each; the second of the first
    stream comes only once the first was sent; nothing is claimed twice meanwhile."""
    ids = add(engine, "KK-A", "KK-A", "KK-B", "KK-A")
    first = claim(engine)
    assert [c.id for c in first] == [ids[0], ids[2]]
    assert claim(engine) == []
    assert sent(engine, first[0])
    assert [c.id for c in claim(engine)] == [ids[1]]


def test_the_adding_transaction_claims_new_runs_where_nothing_older_is_open(engine: Engine) -> None:
    """Adding with a lease claims, in the same transaction, the new items of each stream with nothing older
    open, as one run per stream in order; a stream with an open item keeps its new ones waiting. A run's
    item never attempted can be given back, unclaimed."""
    add(engine, "KK-A")
    with session_scope(engine) as s:
        runs = outbox.add(s, items=new_items("KK-A", "KK-B", "KK-B", "KK-C"), now=NOW,
                          give_up_at=NOW + timedelta(minutes=30), lease_until=NOW + LEASE)
    assert [[(c.stream, c.attempt) for c in run] for run in runs] == [[("KK-B", 1), ("KK-B", 1)], [("KK-C", 1)]]
    assert [c.stream for c in claim(engine)] == ["KK-A"]
    with session_scope(engine) as s:
        assert outbox.give_back(s, claim=runs[0][1])
    assert claim(engine) == []  # the run's first item still holds the stream
    assert sent(engine, runs[0][0])
    (again,) = claim(engine)
    assert (again.id, again.attempt, again.uncertain) == (runs[0][1].id, 1, False)


def test_a_claim_taken_over_can_no_longer_settle_and_comes_back_uncertain(engine: Engine) -> None:
    """Once a claim's lease ran out, the item is claimed again (attempt 2) as uncertain, since the first
    claimer may have sent it; the first claim then neither settles nor renews, and a retry it asks for
    changes nothing; the second claim settles."""
    add(engine, "KK-A")
    (first,) = claim(engine)
    assert not first.uncertain and first.attempt == 1
    (second,) = claim(engine, NOW + LEASE)
    assert second.uncertain and second.attempt == 2
    with session_scope(engine) as s:
        assert outbox.renew(s, claims=[first], lease_until=NOW + 2 * LEASE) == 0
        assert not outbox.retry(s, claim=first, run_at=NOW, error="late", uncertain=False)
    assert not sent(engine, first)
    assert sent(engine, second)
    with session_scope(engine) as s:
        (row,) = outbox.items(s)
        assert (row.state, row.attempts, row.last_error) == (OutboxState.SENT.value, 2, "")


def test_a_process_holding_many_claims_renews_them_all(engine: Engine) -> None:
    """A worker behind a burst holds over a thousand claims at once (seen: ~1,200): one renewal extends every
    lease still held and none taken over (SQLite refused a single statement for them all: expression tree
    too large)."""
    streams = [f"KK-{i:06d}" for i in range(1500)]
    add(engine, *streams)
    held = claim(engine, limit=len(streams))
    assert len(held) == len(streams)
    (taken,) = [c for c in claim(engine, NOW + LEASE, limit=1)]  # one lease ran out and was taken over
    with session_scope(engine) as s:
        assert outbox.renew(s, claims=held, lease_until=NOW + 3 * LEASE) == len(streams) - 1
    with session_scope(engine) as s:
        leases = {row.id: row.lease_until for row in outbox.items(s)}
    assert sum(1 for c in held if leases[c.id] == NOW + 3 * LEASE) == len(streams) - 1
    assert leases[taken.id] == NOW + 2 * LEASE  # the new claimer's lease, untouched


def test_a_retry_waits_for_its_time_and_keeps_its_uncertainty(engine: Engine) -> None:
    """An item put back after an unknown outcome is not claimed before its time, then claimed as uncertain."""
    add(engine, "KK-A")
    (first,) = claim(engine)
    with session_scope(engine) as s:
        assert outbox.retry(s, claim=first, run_at=NOW + timedelta(seconds=4), error="http_503", uncertain=True)
    assert claim(engine, NOW + timedelta(seconds=3)) == []
    (again,) = claim(engine, NOW + timedelta(seconds=4))
    assert again.uncertain and again.attempt == 2


def test_claimers_racing_from_many_engines_never_share_an_item(database_url: str, engine: Engine) -> None:
    """Four engines (as four processes) claim at once, again and again, until 40 items are all sent: every
    item is claimed exactly once."""
    add(engine, *(f"KK-{i:02d}" for i in range(40)))
    engines = [make_engine(database_url) for _ in range(4)]
    got: list[list[int]] = [[] for _ in engines]
    barrier = threading.Barrier(len(engines))

    def run(index: int) -> None:
        barrier.wait(timeout=10)
        while True:
            claims = claim(engines[index], limit=3)
            if not claims:
                return
            for held in claims:
                assert sent(engines[index], held)
                got[index].append(held.id)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(engines))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for other in engines:
            other.dispose()
    every = sorted(i for ids in got for i in ids)
    assert every == sorted(set(every)) and len(every) == 40


def test_purge_deletes_only_finished_items_older_than_the_cutoff(engine: Engine) -> None:
    """Sent items before the cutoff go; open ones stay, however old."""
    add(engine, "KK-A", "KK-B")
    first, _ = claim(engine)
    assert sent(engine, first)
    with session_scope(engine) as s:
        assert outbox.purge(s, before=NOW + timedelta(days=8)) == 1
        assert [r.stream for r in outbox.items(s)] == ["KK-B"]


def test_deliveries_recorded_at_once_leave_a_claim_taken_over_alone(engine: Engine) -> None:
    """Three deliveries recorded in one statement: the two still held become sent with where they landed;
    the one whose lease ran out and was claimed again stays with its new claimer."""
    add(engine, "KK-A", "KK-B", "KK-C")
    first = claim(engine)
    (again,) = claim(engine, NOW + LEASE, limit=1)  # KK-A's lease ran out
    with session_scope(engine) as s:
        outbox.sent_all(s, done=[(c, {"channel": "C1", "ts": f"1.{c.id}"}) for c in first], now=NOW)
        rows = {r.id: (r.state, r.result) for r in outbox.items(s)}
    assert rows[again.id] == (OutboxState.RUNNING.value, "")
    assert [rows[c.id] for c in first[1:]] == [(OutboxState.SENT.value, f'{{"channel":"C1","ts":"1.{c.id}"}}')
                                               for c in first[1:]]


def test_the_next_of_a_stream_is_claimed_only_when_it_is_the_head_and_due(engine: Engine) -> None:
    """claim_next gives a stream's head when it is pending and due: not while an older item of the stream
    is open, nor before a retry's time."""
    first, second = add(engine, "KK-A", "KK-A")
    with session_scope(engine) as s:
        assert outbox.claim_next(s, stream="KK-A", now=NOW, lease_until=NOW + LEASE) is not None
        assert outbox.claim_next(s, stream="KK-A", now=NOW, lease_until=NOW + LEASE) is None  # first runs
        (row,) = [r for r in outbox.items(s) if r.id == first]
        held = Claimed(id=first, attempt=1, key=row.key, stream="KK-A", op="post", params={}, request_id=None,
                       uncertain=False, give_up_at=NOW, created_at=NOW)
        assert outbox.retry(s, claim=held, run_at=NOW + timedelta(seconds=5), error="ratelimited", uncertain=False)
        assert outbox.claim_next(s, stream="KK-A", now=NOW, lease_until=NOW + LEASE) is None  # not due yet
        again = outbox.claim_next(s, stream="KK-A", now=NOW + timedelta(seconds=5), lease_until=NOW + LEASE)
    assert again is not None and (again.id, again.attempt) == (first, 2) and second > first
