"""bot.ops.health: kukey's readiness checks against a real database file and the real scheduler."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.domain.clock import FakeClock
from bot.ops.health import SCHEDULER_MAX_AGE, CachedCheck, WatchedScheduler, database_check
from bot.storage.db import init_db, make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'kukey.db'}")
    init_db(engine)
    return engine


def test_scheduler_is_ready_while_its_ticks_are_recent(engine: Engine) -> None:
    """Not ready before the first tick; ready after one; not ready once the last tick is older than the
    limit on the scheduler's clock; ready again after the next tick."""
    clock = FakeClock()
    scheduler = WatchedScheduler(engine=engine, clock=clock)
    ready = scheduler.check()
    assert not ready()
    scheduler.tick()
    assert ready()
    clock.advance(SCHEDULER_MAX_AGE)
    assert ready()
    clock.advance(timedelta(seconds=1))
    assert not ready()
    scheduler.tick()
    assert ready()


def test_a_failed_tick_does_not_count(engine: Engine) -> None:
    """A tick that fails (the database is gone) leaves the last good tick where it was."""
    clock = FakeClock()
    scheduler = WatchedScheduler(engine=engine, clock=clock)
    scheduler.tick()
    last = scheduler.last_tick
    clock.advance(5)
    engine.dispose()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE job")
    with pytest.raises(Exception, match="job"):
        scheduler.tick()
    assert scheduler.last_tick == last


def test_database_check_fails_when_the_file_is_gone(engine: Engine, tmp_path: Path) -> None:
    """The database check passes on kukey's database, and fails (raises, which readiness counts as not
    ready) once the file is gone: a new connection finds no kukey table there."""
    check = database_check(engine)
    assert check()
    for path in tmp_path.glob("kukey.db*"):
        path.unlink()
    engine.dispose()  # open connections would keep the deleted file; new ones find an empty database
    with pytest.raises(Exception, match="no such table"):
        check()


class Answers:
    """A slow check's stand-in: answers from a list, counting the runs."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.answers, self.runs = list(answers), 0

    def __call__(self) -> bool:
        self.runs += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def becomes(check: CachedCheck, expected: bool, timeout: float = 5.0) -> bool:
    """Probe until the check answers `expected` (its background run finished), or the timeout."""
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if check() is expected:
            return True
        done.wait(0.01)
    return False


def test_a_cached_check_runs_at_most_once_per_interval_off_the_probes_thread() -> None:
    """A CachedCheck answers False until its first run has answered; probes within the interval reuse the
    last answer without running the check; once the interval passed on the clock, the next probe starts a
    run and the one after sees its answer; a check that raises counts as failing."""
    clock = FakeClock()
    answers = Answers(True, False, True, RuntimeError("down"))
    check = CachedCheck(answers, clock=clock, interval=timedelta(seconds=30), name="slow")
    assert check() is False
    assert becomes(check, True)
    assert [check() for _ in range(5)] == [True] * 5 and answers.runs == 1
    clock.advance(30)
    assert check() is True  # the last answer, while the next run goes
    assert becomes(check, False) and answers.runs == 2
    clock.advance(30)
    assert becomes(check, True) and answers.runs == 3
    clock.advance(30)
    assert becomes(check, False) and answers.runs == 4


def test_a_cached_check_refreshed_now_runs_on_the_callers_thread() -> None:
    """refresh() runs the check at once and returns its answer, which probes then reuse."""
    answers = Answers(True)
    check = CachedCheck(answers, clock=FakeClock(), interval=timedelta(seconds=30), name="slow")
    assert check.refresh() is True and answers.runs == 1
    assert check() is True and answers.runs == 1
