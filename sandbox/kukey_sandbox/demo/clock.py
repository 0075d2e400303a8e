"""The demo's clock: wall-clock time that can also jump ahead, as a person waits for the next TOTP code.

It is a FakeClock (so `KukeyWorld.code()` moves it to the next 30-second step instead of waiting), but it
keeps running between jumps, so request expiry and reveal deadlines work in `kukey demo --keep`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.clock import Clock, FakeClock, SystemClock


class RunningClock(FakeClock):
    """`now()` is the wall clock plus every `advance()` so far."""

    def __init__(self, wall: Clock | None = None) -> None:
        self._wall = wall or SystemClock()
        self._ahead = timedelta(0)
        super().__init__(self._wall.now())

    def now(self) -> datetime:
        with self._lock:
            return self._wall.now() + self._ahead

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        with self._lock:
            self._ahead += delta
            return self._wall.now() + self._ahead

    def set(self, when: datetime) -> None:
        with self._lock:
            self._ahead = when - self._wall.now()
