"""The outbox dispatcher: delivers what the outbox holds (bot.services.outbox), each message once, in order
within its stream, retrying until it is delivered or its deadline passes.

The normal path adds no transaction before a message goes out: the transaction that owes messages also
claims them for this process when their stream has nothing open yet (a "run"), and its commit hands the
run to a worker at once. The worker delivers the run in order through the `Courier`, then records what
became of it in one transaction (on an engine that does not wait for the disk: losing that record in a
machine crash only means looking for the messages again), which also claims what waited behind it.
Everything else (items put back after a failure, another process's items, a dead process's items once
their lease ran out) is claimed by the dispatcher's thread, one stream head at a time, when woken or every
`interval` seconds.

    delivered           -> sent (a request's post also stores the request's thread)
    transient failure   -> tried again at once within the claim (DELIVERY_BUDGET), looking first for a
                           message that may have landed; then back to the table, due after a backoff that
                           honours Retry-After (the rest of its run is given back, unsent)
    refused for good,
    or past its deadline -> given up (bot.services.undelivered)
    needs a thread that was never posted -> dropped

Claims last `lease` (KUKEY_LEASE_SECONDS); the thread renews this process's every third of it, so a live
process keeps what it is sending however slow Slack is, and a dead one's items are claimed again (as
uncertain: looked for before they are sent again) soon after its last renewal.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.domain.clock import Clock
from bot.domain.outbox import DELIVERY_BUDGET, SETS_THREAD, THREAD, Op, OutboxState, backoff, needs_thread
from bot.domain.timeutil import aware
from bot.errors import NotDelivered
from bot.services.outbox import Outbox
from bot.services.pools import start_all
from bot.services.ports import Courier, Parcel
from bot.services.undelivered import Undelivered
from bot.storage import outbox as items
from bot.storage.db import session_scope
from bot.storage.outbox import Claimed

log = logging.getLogger("kukey.outbox")
WORKERS = 4  # runs delivered at once by one process
KEEP = timedelta(days=7)  # finished items are kept this long, for troubleshooting
NO_THREAD = "its request's post was never made, so it has no thread"
Thread = tuple[str, str]


@dataclass(frozen=True)
class _Outcome:
    result: dict[str, str] | None = None  # delivered: where it landed
    failure: NotDelivered | None = None
    drop: bool = False


class Dispatcher:
    def __init__(self, *, engine: Engine, clock: Clock, courier: Courier, outbox: Outbox,
                 undelivered: Undelivered, lease: timedelta, interval: float = 1.0, workers: int = WORKERS,
                 records: Engine | None = None) -> None:
        self._engine, self._clock, self._courier = engine, clock, courier
        self._records_engine = records or engine  # for what was delivered: make_engine(flushed=False)
        self._outbox, self._undelivered = outbox, undelivered
        self._lease, self._interval, self._workers = lease, interval, workers
        self._held: dict[int, Claimed] = {}  # every claim of this process not yet recorded (renewed)
        self._runs = 0  # runs being delivered
        self._lock = threading.Lock()
        self._stop, self._wake = threading.Event(), threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kukey-outbox")
        self._thread: threading.Thread | None = None
        self._renewed = 0.0  # time.monotonic() of the last renewal
        self._purged = clock.now()

    def start(self) -> None:
        start_all(self._pool, self._workers)  # at this thread's priority, whoever hands runs over (bot.services.pools)
        self._thread = threading.Thread(target=self._loop, name="kukey-outbox", daemon=True)
        self._thread.start()
        self._outbox.hand_to(self.take, self._lease)

    def stop(self) -> None:
        """Stop claiming, and let the runs in hand end (what must wait goes back to the table)."""
        self._outbox.hand_to(None, self._lease)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)

    def wake(self) -> None:
        """Something became due (or a worker is free): claim now instead of at the next poll."""
        self._wake.set()

    def take(self, runs: list[list[Claimed]]) -> None:
        """Deliver runs this process claimed (each a stream's items, in order), starting at once."""
        for run in runs:
            if self._stop.is_set():  # stopping: left to their leases, then to whoever runs next
                return
            with self._lock:
                self._held.update((c.id, c) for c in run)
                self._runs += 1
            self._pool.submit(self._run, run)

    def tick(self) -> int:
        """Claim the due heads of as many streams as there are free workers, and start delivering them."""
        with self._lock:
            free, skip = self._workers - self._runs, list(self._held)
        if free <= 0 or self._stop.is_set():
            return 0
        now = self._clock.now()
        with session_scope(self._engine) as s:
            claims = items.claim_heads(s, now=now, lease_until=now + self._lease, limit=free, skip=skip)
            if now - self._purged > timedelta(hours=1):
                self._purged = now
                items.purge(s, before=now - KEEP)
        self.take([[claim] for claim in claims])
        return len(claims)

    def _loop(self) -> None:
        beat = self._lease.total_seconds() / 3
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if time.monotonic() - self._renewed >= beat:
                    self._renew()
                self.tick()
            except Exception:  # the database busy or gone: try again at the next poll
                log.exception("outbox tick failed")
            self._wake.wait(min(self._interval, beat))

    def _renew(self) -> None:
        """The heartbeat: extend the leases of everything this process holds."""
        self._renewed = time.monotonic()
        with self._lock:
            held = list(self._held.values())
        if held:
            now = self._clock.now()
            with session_scope(self._engine) as s:
                items.renew(s, claims=held, lease_until=now + self._lease)

    def _release(self, claims: list[Claimed]) -> None:
        with self._lock:
            for claim in claims:
                self._held.pop(claim.id, None)

    # --- one run ---------------------------------------------------------------------------------------
    def _run(self, run: list[Claimed]) -> None:
        """Deliver a run, record it, and go on with what waited behind it, until nothing does."""
        try:
            while run and not self._stop.is_set():
                run = self._deliver(run)
        except Exception:  # a bug or the database gone: the leases run out and the items are claimed again
            log.exception("outbox delivery failed", extra={"stream": run[0].stream if run else ""})
            self._release(run)
        finally:
            with self._lock:
                self._runs -= 1

    def _deliver(self, run: list[Claimed]) -> list[Claimed]:
        """Deliver a run in order, stopping at the first item that must wait; record it; what follows."""
        thread: Thread | None = None
        done: list[tuple[Claimed, _Outcome]] = []
        for i, claim in enumerate(run):
            outcome = self._attempt(claim, thread)
            if outcome.failure is not None:
                self._settle(done, claim, outcome.failure, rest=run[i + 1:])
                return []
            if outcome.result is not None and claim.params.get(SETS_THREAD):
                thread = (outcome.result["channel"], outcome.result["ts"])
            done.append((claim, outcome))
        return self._record(done)

    def _attempt(self, claim: Claimed, thread: Thread | None) -> _Outcome:
        """Deliver one item, repeating a failure whose outcome is unknown within DELIVERY_BUDGET (the
        Courier first looks for a message that may have landed)."""
        parcel = self._parcel(claim, thread)
        if parcel is None:
            return _Outcome(drop=True)
        deadline, tries = time.monotonic() + DELIVERY_BUDGET.total_seconds(), 0
        while True:
            try:
                return _Outcome(result=self._courier.deliver(parcel))
            except NotDelivered as exc:
                failure = exc
            except Exception as exc:  # a bug between sending and reading the answer: it may have landed
                log.exception("outbox courier failed", extra={"op": claim.op})
                failure = NotDelivered(type(exc).__name__, error=type(exc).__name__, uncertain=True)
            tries += 1
            parcel = dataclasses.replace(parcel, uncertain=parcel.uncertain or failure.uncertain)
            wait = 0.5 * 2 ** (tries - 1) + random.uniform(0, 0.25)  # noqa: S311 # jitter, not secrecy
            transient = failure.uncertain and not failure.final and failure.retry_after is None
            if not transient or time.monotonic() + wait > deadline or self._stop.wait(wait):
                return _Outcome(failure=NotDelivered(str(failure), method=failure.method, error=failure.error,
                                                     uncertain=parcel.uncertain, final=failure.final,
                                                     retry_after=failure.retry_after))

    def _parcel(self, claim: Claimed, thread: Thread | None) -> Parcel | None:
        """The item as the Courier takes it, with what it refers to (the request's thread, its direct
        messages) looked up; None when it needs a thread that was never posted."""
        if thread is None and claim.params.get(THREAD):
            channel, ts = claim.params[THREAD]
            thread = (str(channel), str(ts))
        direct: tuple[Thread, ...] = ()
        if (needs_thread(claim.op, claim.params) and thread is None) or claim.op == Op.UPDATE_DIRECT:
            with session_scope(self._engine) as s:
                if thread is None and claim.request_id:
                    thread = items.thread_of(s, request_id=claim.request_id)
                if claim.op == Op.UPDATE_DIRECT and claim.request_id:
                    direct = tuple(items.direct_messages(s, request_id=claim.request_id))
        if needs_thread(claim.op, claim.params) and thread is None:
            return None
        return Parcel(claim.op, claim.params, claim.key, thread, claim.uncertain, direct)

    def _settle(self, done: list[tuple[Claimed, _Outcome]], claim: Claimed, failure: NotDelivered, *,
                rest: list[Claimed]) -> None:
        """Record what was delivered, then the failed item: back to the table with a backoff, or given up;
        the rest of its run is given back unsent."""
        now = self._clock.now()
        error = failure.error or str(failure)
        giving_up = failure.final or now >= aware(claim.give_up_at)
        admins = self._undelivered.admins() if giving_up else frozenset()  # may ask Slack: not in the tx
        with session_scope(self._engine) as s:
            self._record_all(s, done, now)
            for unsent in rest:
                items.give_back(s, claim=unsent)
            if giving_up:
                if items.end(s, claim=claim, state=OutboxState.GIVEN_UP, error=error):
                    self._undelivered.give_up(s, claim, error, admins)
            else:
                log.info("message not delivered yet", extra={"op": claim.op, "error": failure.error,
                                                              "attempt": claim.attempt})
                wait = timedelta(seconds=backoff(claim.attempt, failure.retry_after))
                items.retry(s, claim=claim, run_at=now + wait, error=error, uncertain=failure.uncertain)
        self._release([one for one, _ in done] + [claim, *rest])
        if giving_up or rest:
            self.wake()  # what follows a given-up item, or the rest of the run, may go now

    def _record(self, done: list[tuple[Claimed, _Outcome]]) -> list[Claimed]:
        """Record a delivered run and, in the same transaction, claim what waited behind it (returned)."""
        now = self._clock.now()
        with session_scope(self._records_engine) as s:
            self._record_all(s, done, now)
            nxt = items.claim_next(s, stream=done[0][0].stream, now=now, lease_until=now + self._lease)
        following = [nxt] if nxt is not None else []
        with self._lock:
            for claim, _ in done:
                self._held.pop(claim.id, None)
            self._held.update((c.id, c) for c in following)
        return following

    @staticmethod
    def _record_all(s: Session, done: list[tuple[Claimed, _Outcome]], now: datetime) -> None:
        """Sent (in one statement), dropped, and a request's post with the thread it made."""
        plain: list[tuple[Claimed, dict[str, str]]] = []
        for claim, outcome in done:
            if outcome.drop:
                items.end(s, claim=claim, state=OutboxState.DROPPED, error=NO_THREAD)
            elif outcome.result is not None and claim.params.get(SETS_THREAD) and claim.request_id:
                if items.sent(s, claim=claim, now=now, result=outcome.result):
                    items.set_thread(s, request_id=claim.request_id, channel=outcome.result["channel"],
                                     ts=outcome.result["ts"])
            elif outcome.result is not None:
                plain.append((claim, outcome.result))
        items.sent_all(s, done=plain, now=now)
