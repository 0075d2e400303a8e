"""The scheduler: jobs live in the database (table `job`), so they survive restarts and replicas share them.

A background thread claims due jobs one at a time with compare-and-set and runs the handler for its
kind. A claim is a lease (bot.services.leases) that the process's heartbeat renews while the handler
runs: two processes never run the same job, a slow handler keeps its job, and a job whose process died
is claimed again by any replica once its lease has passed. One claim at a time, so that a replica busy
with a long job leaves the other due jobs to the other replicas.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.domain.clock import Clock
from bot.domain.jobs import Claim, JobKind
from bot.logs import bound_request
from bot.services.leases import DEFAULT_LEASE, Leases
from bot.storage import repos
from bot.storage.db import session_scope

log = logging.getLogger("kukey.scheduler")
Handler = Callable[[str], None]
RETRY_AFTER = timedelta(minutes=1)
BATCH = 20  # jobs per tick at most (a tick's end is what readiness watches)


class Scheduler:
    def __init__(self, *, engine: Engine, clock: Clock, interval: float = 1.0, lease: timedelta = DEFAULT_LEASE,
                 leases: Leases | None = None) -> None:
        self.leases = leases or Leases(engine=engine, clock=clock, lease=lease)
        self._own_leases = leases is None  # given ones are stopped by their owner, after its other work
        self._engine = engine
        self._clock = clock
        self._interval = interval
        self._handlers: dict[str, Handler] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._elsewhere: Callable[[JobKind, str], None] | None = None

    def run_elsewhere(self, run_now: Callable[[JobKind, str], None]) -> None:
        """Jobs run in another process (kukey's worker, bot.cli.worker): `run_now` asks it to run one at once,
        and `start()` starts no loop here (only the leases' heartbeat, for the work this process holds)."""
        self._elsewhere = run_now

    def on(self, kind: JobKind, handler: Handler) -> None:
        self._handlers[kind] = handler

    def start(self) -> None:
        self.leases.start()
        if self._elsewhere is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="kukey-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        if self._own_leases:
            self.leases.stop()

    def run_now(self, kind: JobKind, ref: str) -> None:
        """Claim the job of `kind` about `ref` and run it at once; no-op if another worker holds it."""
        if self._elsewhere is not None:
            self._elsewhere(kind, ref)
            return
        now = self._clock.now()
        with session_scope(self._engine) as s:
            claim = repos.claim_one(s, kind=kind, ref=ref, now=now, lease_until=now + self.leases.lease)
        if claim is not None:
            self._run(claim)

    def tick(self) -> int:
        """Claim and run due jobs, one at a time, until none is due or BATCH ran; how many ran."""
        ran = 0
        while ran < BATCH and not self._stop.is_set():
            now = self._clock.now()
            with session_scope(self._engine) as s:
                jobs = repos.claim_due(s, now=now, lease_until=now + self.leases.lease, limit=1)
                claims = [Claim(j.id, j.attempts, j.kind, j.ref) for j in jobs if j.id is not None]
            if not claims:
                break
            self._run(claims[0])
            ran += 1
        return ran

    def _run(self, claim: Claim) -> None:
        self.leases.add(claim)
        try:
            error = self._handle(claim.kind, claim.ref)
            with session_scope(self._engine) as s:
                retry = self._clock.now() + RETRY_AFTER if error else None
                repos.finish_job(s, claim=claim, retry_at=retry, error=error)
        finally:
            self.leases.release(claim)

    def _handle(self, kind: str, ref: str) -> str:
        """Run the handler; the error it ended with ("" when it succeeded)."""
        handler = self._handlers.get(kind)
        if handler is None:
            return f"no handler for {kind}"
        try:
            with bound_request(ref if ref.startswith("KK-") else None):
                handler(ref)
        except Exception as exc:  # a job failure is recorded and retried, never fatal to the loop
            log.exception("job failed", extra={"kind": kind, "ref": ref})
            return f"{type(exc).__name__}: {exc}"
        return ""

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.tick():
                    pass
            except Exception:  # database busy or gone: try again next tick
                log.exception("scheduler tick failed")
            self._wake.wait(self._interval)
            self._wake.clear()
