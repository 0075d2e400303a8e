"""Readiness: a list of named checks, each a function answering "is this part ready?".

kukey is ready when every check passes: "database" (kukey's tables answer a query) and "scheduler" (its
loop completed a tick recently). Other code adds its own with `Readiness.add` (e.g. "the Slack connection
is alive"). /readyz answers 503 naming the checks that fail (bot.ops.endpoints).
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
