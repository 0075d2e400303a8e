"""Job leases renewed by a heartbeat: a live holder keeps its job however long the work takes, a dead one's
job is taken over once its lease has passed, and a holder that was taken over can no longer touch the job;
on SQLite and on PostgreSQL. Two Scheduler objects on one database stand for two replicas; the FakeClock
decides when a lease has passed, and `Leases.renew()` is one beat of the heartbeat."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.domain.clock import FakeClock
from bot.domain.jobs import Claim, JobState
from bot.domain.timeutil import maybe_aware
from bot.services.leases import Leases
from bot.services.scheduler import Scheduler
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import Job

LEASE = timedelta(seconds=10)


def _job(engine: Engine, ref: str) -> Job:
    with session_scope(engine) as s:
        job = s.exec(select(Job).where(Job.ref == ref)).one()
        s.expunge(job)
        return job


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Blocking:
    """A handler that runs until released, as a KuCoin call that takes its time."""

    def __init__(self) -> None:
        self.started, self.release, self.runs = threading.Event(), threading.Event(), 0

    def __call__(self, ref: str) -> None:
        self.runs += 1
        self.started.set()
        assert self.release.wait(10)


def test_a_live_holder_keeps_its_job_past_the_lease(engine: Engine) -> None:
    """While a job's handler runs far longer than the lease, the heartbeat renews it and the other replica
    never claims it; the job runs once."""
    clock = FakeClock()
    a, b = (Scheduler(engine=engine, clock=clock, lease=LEASE) for _ in range(2))
    slow = Blocking()
    for replica in (a, b):
        replica.on("work", slow)
    with session_scope(engine) as s:
        repos.schedule(s, kind="work", ref="x", run_at=clock.now())
    running = threading.Thread(target=a.tick)
    running.start()
    assert slow.started.wait(10)
    for _ in range(5):  # 50 s of KuCoin's time, one beat every 5 s of it
        clock.advance(LEASE / 2)
        assert a.leases.renew() == []
        assert b.tick() == 0
    slow.release.set()
    running.join(10)
    assert slow.runs == 1 and _job(engine, "x").state == JobState.DONE


def test_a_dead_holders_job_is_taken_over_after_the_lease(engine: Engine) -> None:
    """A job whose holder stopped renewing (its process died) is claimed by another replica once the lease
    has passed, not before."""
    clock = FakeClock()
    dead = Leases(engine=engine, clock=clock, lease=LEASE)
    with session_scope(engine) as s:
        repos.schedule(s, kind="work", ref="x", run_at=clock.now())
        claim = repos.claim_one(s, kind="work", ref="x", now=clock.now(), lease_until=clock.now() + LEASE)
    assert claim is not None
    dead.add(claim)
    survivor = Scheduler(engine=engine, clock=clock, lease=LEASE)
    runs: list[str] = []
    survivor.on("work", runs.append)
    clock.advance(LEASE - timedelta(seconds=1))
    assert survivor.tick() == 0
    clock.advance(timedelta(seconds=1))
    assert survivor.tick() == 1 and runs == ["x"]
    assert dead.renew() == [claim], "the dead process's claim is gone for good"


def test_a_taken_over_holder_cannot_finish_or_renew_the_new_claim(engine: Engine) -> None:
    """Claims are named by (job, attempt): after a takeover the first holder's finish and renewal match
    nothing, even after the job was rescheduled and claimed again, so the new holder's job stays its own."""
    clock = FakeClock()
    with session_scope(engine) as s:
        repos.schedule(s, kind="work", ref="x", run_at=clock.now())
        first = repos.claim_one(s, kind="work", ref="x", now=clock.now(), lease_until=clock.now() + LEASE)
    clock.advance(LEASE)
    with session_scope(engine) as s:
        (_taken,) = repos.claim_due(s, now=clock.now(), lease_until=clock.now() + LEASE)
        repos.schedule(s, kind="work", ref="x", run_at=clock.now())  # the new holder's handler reschedules
        (again,) = repos.claim_due(s, now=clock.now(), lease_until=clock.now() + LEASE)
    assert first is not None and again.attempts == 3
    with session_scope(engine) as s:
        assert not repos.renew(s, claim=first, lease_until=clock.now() + LEASE)
        assert not repos.finish_job(s, claim=first)
        assert repos.renew(s, claim=Claim(again.id or 0, again.attempts, "work", "x"),
                           lease_until=clock.now() + LEASE)
    assert _job(engine, "x").state == JobState.RUNNING


def test_the_heartbeat_thread_renews_on_real_time(engine: Engine) -> None:
    """The heartbeat thread renews held claims by itself every `renew_every` seconds of real time."""
    clock = FakeClock()
    leases = Leases(engine=engine, clock=clock, lease=LEASE, renew_every=0.01)
    with session_scope(engine) as s:
        repos.schedule(s, kind="work", ref="x", run_at=clock.now())
        claim = repos.claim_one(s, kind="work", ref="x", now=clock.now(), lease_until=clock.now() + LEASE)
    assert claim is not None
    leases.add(claim)
    leases.start()
    try:
        target = clock.advance(timedelta(minutes=5)) + LEASE
        assert _wait(lambda: maybe_aware(_job(engine, "x").lease_until) == target)
    finally:
        leases.stop()


def test_work_started_at_once_ends_its_own_claim(engine: Engine) -> None:
    """A job run at once after an ack (`run_now`) is done afterwards, not left running to be run again."""
    clock = FakeClock()
    replica = Scheduler(engine=engine, clock=clock, lease=LEASE)
    runs: list[str] = []
    replica.on("work", runs.append)
    with session_scope(engine) as s:
        repos.schedule(s, kind="work", ref="x", run_at=clock.now())
    replica.run_now("work", "x")
    clock.advance(LEASE * 2)
    assert replica.tick() == 0 and runs == ["x"]
    assert _job(engine, "x").state == JobState.DONE and replica.leases.held() == []
