"""Readiness: a list of named checks, each a function answering "is this part ready?".

kukey is ready when every check passes: "database" (kukey's tables answer a query) and "scheduler" (its
loop completed a tick recently). Other code adds its own with `Readiness.add` (bot.app adds "transport"
and "slack"). /readyz answers 503 naming the checks that fail (bot.ops.endpoints). A check that asks
another service (Slack's auth.test) is wrapped in `CachedCheck`: asked at most once per interval, off the
probe's thread, so probes never wait on it or multiply its calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.domain.clock import Clock
from bot.services.scheduler import Scheduler

log = logging.getLogger("kukey.health")

Check = Callable[[], bool]
# A tick runs every due job in turn, KuCoin calls included: allow a slow one before calling it stuck.
SCHEDULER_MAX_AGE = timedelta(seconds=120)


class Readiness:
    """Named readiness checks; thread-safe. A check that raises counts as failing (and is logged)."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()

    def add(self, name: str, check: Check) -> None:
        with self._lock:
            if name in self._checks:
                raise ValueError(f"readiness check {name!r} is already there")
            self._checks[name] = check

    def replace(self, name: str, check: Check) -> None:
        """Put `check` in place of the check called `name`, keeping its place in the order."""
        with self._lock:
            if name not in self._checks:
                raise ValueError(f"no readiness check {name!r}")
            self._checks[name] = check

    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def failing(self) -> list[str]:
        """The names of the checks that do not pass now, in the order they were added."""
        with self._lock:
            checks = list(self._checks.items())
        return [name for name, check in checks if not _passes(name, check)]


def _passes(name: str, check: Check) -> bool:
    try:
        return bool(check())
    except Exception as exc:  # a failing check means not ready, never a 500 with a traceback
        log.warning("readiness check failed", extra={"check": name, "error": type(exc).__name__})
        return False


def database_check(engine: Engine) -> Check:
    """The database answers a query on one of kukey's tables (a missing or corrupt file fails)."""
    def check() -> bool:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM request LIMIT 1"))
        return True
    return check


class CachedCheck:
    """A slow check run at most once per `interval` (on the injected clock), on a thread of its own: a probe
    reads the last answer and, when it is older than `interval`, starts the next run. False until the first
    run has answered; `refresh()` runs it now, on the caller's thread."""

    def __init__(self, check: Check, *, clock: Clock, interval: timedelta, name: str) -> None:
        self._check, self._clock, self._interval, self._name = check, clock, interval, name
        self._lock = threading.Lock()
        self._answer = False
        self._asked: datetime | None = None  # when the last run started
        self._running = False

    def __call__(self) -> bool:
        with self._lock:
            answer = self._answer
            due = not self._running and (self._asked is None or self._clock.now() - self._asked >= self._interval)
            if due:
                self._running, self._asked = True, self._clock.now()
        if due:
            threading.Thread(target=self._run, name=f"kukey-check-{self._name}", daemon=True).start()
        return answer

    def refresh(self) -> bool:
        with self._lock:
            self._running, self._asked = True, self._clock.now()
        return self._run()

    def _run(self) -> bool:
        answer = _passes(self._name, self._check)
        with self._lock:
            self._answer, self._running = answer, False
        return answer


class WatchedScheduler(Scheduler):
    """The scheduler, noting on its clock when each tick completes (a tick that fails notes nothing)."""

    def __init__(self, *, clock: Clock, **kwargs: Any) -> None:
        super().__init__(clock=clock, **kwargs)
        self._watch_clock = clock
        self.last_tick: datetime | None = None

    def tick(self) -> int:
        ran = super().tick()
        self.last_tick = self._watch_clock.now()
        return ran

    def check(self, max_age: timedelta = SCHEDULER_MAX_AGE) -> Check:
        """Ready while the last completed tick is at most `max_age` old."""
        return lambda: self.last_tick is not None and self._watch_clock.now() - self.last_tick <= max_age
