"""bot.ops.health: kukey's readiness checks against a real database file and the real scheduler."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.domain.clock import FakeClock
from bot.ops.health import SCHEDULER_MAX_AGE, WatchedScheduler, database_check
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
