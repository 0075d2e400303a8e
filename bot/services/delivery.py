"""The outbox dispatcher: delivers what the outbox holds (bot.services.outbox), each message once, in order
within its stream, retrying until it is delivered or its deadline passes.

A thread claims the due heads of streams (woken at once by a commit in this process that added items,
else every `interval` seconds, which also finds items left by a process that died), and a small pool
delivers them: each worker takes one stream, delivers its head through the `Courier`, records the outcome
and claims the stream's next item in one transaction, and goes on until the stream is empty or waits.
Claims last `lease` (KUKEY_LEASE_SECONDS) and the thread renews those of this process's workers every third
of it, so a live process keeps what it is sending however slow Slack is, and a dead one's items are
claimed again (as uncertain: looked for before they are sent again) soon after its last renewal.

    delivered           -> sent (a request's post also stores the request's thread)
    transient failure   -> tried again at once within the claim (DELIVERY_BUDGET), looking first for a
                           message that may have landed; then back to the table, due after a backoff that
                           honours Retry-After
    refused for good,
    or past its deadline -> given up (bot.services.undelivered)
    needs a thread that was never posted -> dropped
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.domain.clock import Clock
from bot.domain.outbox import DELIVERY_BUDGET, SETS_THREAD, OutboxState, backoff, needs_thread
from bot.domain.timeutil import aware
from bot.errors import NotDelivered
from bot.services.ports import Courier, Parcel
from bot.services.undelivered import Undelivered
from bot.storage import outbox as items
from bot.storage.db import session_scope
from bot.storage.outbox import Claimed

log = logging.getLogger("kukey.outbox")
WORKERS = 4  # streams delivered at once by one process
KEEP = timedelta(days=7)  # finished items are kept this long, for troubleshooting
NO_THREAD = "its request's post was never made, so it has no thread"


@dataclass(frozen=True)
class _Outcome:
    result: dict[str, str] | None = None  # delivered: where it landed
    failure: NotDelivered | None = None
    drop: bool = False


class Dispatcher:
    def __init__(self, *, engine: Engine, clock: Clock, courier: Courier, undelivered: Undelivered,
                 lease: timedelta, interval: float = 1.0, workers: int = WORKERS) -> None:
        self._engine, self._clock, self._courier = engine, clock, courier
        self._undelivered = undelivered
        self._lease, self._interval = lease, interval
        self._workers = workers
        self._busy: dict[str, Claimed] = {}  # stream -> the claim a worker of this process is delivering
        self._renewed = 0.0  # time.monotonic() of the last renewal
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kukey-outbox")
        self._thread: threading.Thread | None = None
        self._purged = clock.now()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kukey-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)

    def wake(self) -> None:
        """Something was added (or a worker is free): claim now instead of at the next poll."""
        self._wake.set()

    def tick(self) -> int:
        """Claim the due heads of as many streams as there are free workers, and start delivering them."""
        with self._lock:
            free, skip = self._workers - len(self._busy), [c.id for c in self._busy.values()]
        if free <= 0 or self._stop.is_set():
            return 0
        now = self._clock.now()
        with session_scope(self._engine) as s:
            claims = items.claim_heads(s, now=now, lease_until=now + self._lease, limit=free, skip=skip)
            if now - self._purged > timedelta(hours=1):
                self._purged = now
                items.purge(s, before=now - KEEP)
        for claim in claims:
            self._mark(claim)
            self._pool.submit(self._run, claim)
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
        """The heartbeat: extend the leases of the items this process's workers are delivering."""
        self._renewed = time.monotonic()
        with self._lock:
            held = list(self._busy.values())
        if held:
            now = self._clock.now()
            with session_scope(self._engine) as s:
                items.renew(s, claims=held, lease_until=now + self._lease)

    def _mark(self, claim: Claimed | None, done: Claimed | None = None) -> None:
        with self._lock:
            if done is not None:
                self._busy.pop(done.stream, None)
            if claim is not None:
                self._busy[claim.stream] = claim

    def _run(self, claim: Claimed) -> None:
        """Deliver `claim`'s stream, item after item, until it is empty or its head must wait."""
        current: Claimed | None = claim
        try:
            while current is not None and not self._stop.is_set():
                following = self._settle(current, self._attempt(current))
                self._mark(following, done=current)
                current = following
        except Exception:  # a bug or the database gone: the item's lease runs out and it is claimed again
            log.exception("outbox delivery failed", extra={"stream": claim.stream})
        finally:
            if current is not None:
                self._mark(None, done=current)
            self.wake()

    def _attempt(self, claim: Claimed) -> _Outcome:
        """Deliver one item, repeating a transient failure within DELIVERY_BUDGET (after a failure that
        may have landed, the Courier first looks for the message)."""
        thread = None
        if needs_thread(claim.op, claim.params):
            with session_scope(self._engine) as s:
                thread = items.thread_of(s, request_id=claim.request_id) if claim.request_id else None
            if thread is None:
                return _Outcome(drop=True)
        parcel = Parcel(claim.op, claim.params, claim.key, thread, claim.uncertain)
        deadline, tries = time.monotonic() + DELIVERY_BUDGET.total_seconds(), 0
        while True:
            try:
                return _Outcome(result=self._courier.deliver(parcel))
            except NotDelivered as exc:
                failure = exc
            except Exception as exc:  # a bug between sending and reading the answer: it may have landed
                log.exception("outbox courier failed", extra={"op": claim.op})
                failure = NotDelivered(str(type(exc).__name__), error=type(exc).__name__, uncertain=True)
            tries += 1
            parcel = Parcel(claim.op, claim.params, claim.key, thread, parcel.uncertain or failure.uncertain)
            wait = 0.5 * 2 ** (tries - 1) + random.uniform(0, 0.25)  # noqa: S311 # jitter, not secrecy
            transient = failure.uncertain and not failure.final and failure.retry_after is None
            if not transient or time.monotonic() + wait > deadline or self._stop.wait(wait):
                return _Outcome(failure=NotDelivered(str(failure), method=failure.method, error=failure.error,
                                                     uncertain=parcel.uncertain, final=failure.final,
                                                     retry_after=failure.retry_after))

    def _settle(self, claim: Claimed, outcome: _Outcome) -> Claimed | None:
        """Record the outcome and claim the stream's next item, in one transaction; that item, if any."""
        now = self._clock.now()
        failure = outcome.failure
        giving_up = failure is not None and (failure.final or now >= aware(claim.give_up_at))
        admins = self._undelivered.admins() if giving_up else frozenset()  # may ask Slack: not in the tx
        with session_scope(self._engine) as s:
            if outcome.result is not None:
                if items.sent(s, claim=claim, now=now, result=outcome.result) and claim.params.get(SETS_THREAD):
                    items.set_thread(s, request_id=claim.request_id or "", channel=outcome.result["channel"],
                                     ts=outcome.result["ts"])
            elif outcome.drop:
                items.end(s, claim=claim, state=OutboxState.DROPPED, error=NO_THREAD)
            elif failure is not None and giving_up:
                if items.end(s, claim=claim, state=OutboxState.GIVEN_UP, error=failure.error or str(failure)):
                    self._undelivered.give_up(s, claim, failure.error or str(failure), admins)
            elif failure is not None:
                log.info("message not delivered yet", extra={"op": claim.op, "error": failure.error,
                                                              "attempt": claim.attempt})
                items.retry(s, claim=claim, run_at=now + timedelta(seconds=backoff(claim.attempt, failure.retry_after)),
                            error=failure.error or str(failure), uncertain=failure.uncertain)
                return None
            following = items.claim_heads(s, now=now, lease_until=now + self._lease, limit=1,
                                          stream=claim.stream)
        return following[0] if following else None
