"""The scheduler: jobs live in the database (table `job`), so they survive restarts.

A background thread claims due jobs with compare-and-set (a lease, so two processes never run the same
job and a crashed process's job is picked up after its lease) and runs the handler for its kind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.domain.clock import Clock
from bot.domain.jobs import JobKind, JobState
from bot.logs import bound_request
from bot.storage import repos
from bot.storage.db import session_scope

log = logging.getLogger("kukey.scheduler")
Handler = Callable[[str], None]
LEASE = timedelta(minutes=2)


class Scheduler:
    def __init__(self, *, engine: Engine, clock: Clock, interval: float = 1.0, lease: timedelta = LEASE) -> None:
        self._lease = lease
        self._engine = engine
        self._clock = clock
        self._interval = interval
        self._handlers: dict[str, Handler] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def on(self, kind: JobKind, handler: Handler) -> None:
        self._handlers[kind] = handler

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kukey-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def run_now(self, kind: JobKind, ref: str) -> None:
        """Claim the job of `kind` about `ref` and run it at once; no-op if another worker holds it."""
        now = self._clock.now()
        with session_scope(self._engine) as s:
            job_id = repos.claim_one(s, kind=kind, ref=ref, now=now, lease_until=now + self._lease)
        if job_id is not None:
            self._run(kind, ref, job_id=job_id)

    def tick(self) -> int:
        now = self._clock.now()
        with session_scope(self._engine) as s:
            jobs = [(j.id, j.kind, j.ref) for j in repos.claim_due(s, now=now, lease_until=now + self._lease)]
        for job_id, kind, ref in jobs:
            self._run(kind, ref, job_id=job_id)
        return len(jobs)

    def _run(self, kind: str, ref: str, *, job_id: int | None) -> None:
        handler = self._handlers.get(kind)
        error = ""
        try:
            if handler is None:
                error = f"no handler for {kind}"
            else:
                with bound_request(ref if ref.startswith("KK-") else None):
                    handler(ref)
        except Exception as exc:  # a job failure is recorded and retried, never fatal to the loop
            log.exception("job failed", extra={"kind": kind, "ref": ref})
            error = f"{type(exc).__name__}: {exc}"
        if job_id is None:
            return
        with session_scope(self._engine) as s:
            retry = self._clock.now() + timedelta(minutes=1) if error else None
            still = [j for j in repos.pending_jobs(s) if j.id == job_id]
            if still and still[0].state == JobState.RUNNING:
                repos.finish_job(s, job_id=job_id, retry_at=retry, error=error)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.tick():
                    pass
            except Exception:  # database busy or gone: try again next tick
                log.exception("scheduler tick failed")
            self._wake.wait(self._interval)
            self._wake.clear()
