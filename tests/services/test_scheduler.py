"""The scheduler's jobs live in SQLite: claimed once across processes, reclaimed after a crash's lease."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from bot.domain.clock import FakeClock
from bot.domain.jobs import JobState
from bot.services.scheduler import Scheduler
from bot.storage import repos
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Job


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    init_db(engine)
    return engine


def test_two_schedulers_run_a_due_job_once(tmp_path: Path) -> None:
    """Two schedulers (as two bot processes would) ticking at once run each due job exactly once."""
    engine, clock = _engine(tmp_path), FakeClock()
    runs: list[str] = []
    lock = threading.Lock()
    with session_scope(engine) as s:
        for i in range(30):
            repos.schedule(s, kind="work", ref=f"r{i}", run_at=clock.now())
    schedulers = [Scheduler(engine=engine, clock=clock) for _ in range(2)]
    for sch in schedulers:
        sch.on("work", lambda ref: (lock.acquire(), runs.append(ref), lock.release()))
    threads = [threading.Thread(target=sch.tick) for sch in schedulers for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(runs) == sorted(f"r{i}" for i in range(30))
    engine.dispose()


def test_a_crashed_job_is_reclaimed_after_its_lease(tmp_path: Path) -> None:
    """A job claimed by a process that died stays claimed until its lease ends, then runs again."""
    engine, clock = _engine(tmp_path), FakeClock()
    with session_scope(engine) as s:
        repos.schedule(s, kind="work", ref="x", run_at=clock.now())
        assert len(repos.claim_due(s, now=clock.now(), lease_until=clock.now() + timedelta(seconds=60))) == 1
    runs: list[str] = []
    sch = Scheduler(engine=engine, clock=clock, lease=timedelta(seconds=60))
    sch.on("work", runs.append)
    assert sch.tick() == 0 and runs == []
    clock.advance(61)
    assert sch.tick() == 1 and runs == ["x"]
    assert sch.tick() == 0
    engine.dispose()


def test_a_failed_job_is_retried_a_minute_later(tmp_path: Path) -> None:
    """A handler that raises leaves its job pending, retried one minute later, with the error recorded."""
    engine, clock = _engine(tmp_path), FakeClock()
    with session_scope(engine) as s:
        repos.schedule(s, kind="flaky", ref="y", run_at=clock.now())
    attempts: list[int] = []

    def flaky(ref: str) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("KuCoin busy")

    sch = Scheduler(engine=engine, clock=clock)
    sch.on("flaky", flaky)
    assert sch.tick() == 1
    with session_scope(engine) as s:
        (job,) = s.exec(select(Job).where(col(Job.state) != JobState.DONE)).all()
        assert job.last_error.startswith("RuntimeError")
    assert sch.tick() == 0
    clock.advance(61)
    assert sch.tick() == 1 and len(attempts) == 2
    with session_scope(engine) as s:
        assert s.exec(select(Job).where(col(Job.state) != JobState.DONE)).all() == []
    engine.dispose()
