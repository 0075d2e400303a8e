"""Retry policy and a weight-aware gate for KuCoin's Management rate-limit pool.

KuCoin counts weight per UID in a fixed 30 s window and reports `gw-ratelimit-remaining` and
`gw-ratelimit-reset` (ms) on every answer. The gate keeps that view, reserves each call's weight before
it is sent (so parallel workers never overrun the budget together), and waits for the reset when the
budget left is too small. While the budget is unknown (start, new window) one call probes at a time.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.domain.clock import Clock

Sleep = Callable[[float], None]

# KuCoin's Management pool (VIP0): 2000 weight per 30 s window; each endpoint's weight is in transport.
MANAGEMENT_POOL_BUDGET = 2000
# Two answers whose reset times differ by less than this describe the same window.
_SAME_WINDOW_SLACK = 0.2


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retries: attempts per call, total seconds waited per call, backoff shape."""

    max_attempts: int = 5
    max_total_wait: float = 40.0  # more than one 30 s window, so one full reset wait fits
    base_delay: float = 0.5
    max_delay: float = 8.0
    timeout: float = 10.0  # per HTTP request
    recheck_attempts: int = 3  # list calls looking for a create whose answer was lost
    recheck_delay: float = 1.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with jitter: half fixed, half random, for attempt 1, 2, ..."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


@dataclass(frozen=True)
class RateHeaders:
    limit: int
    remaining: int
    reset_ms: int

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> RateHeaders | None:
        try:
            return cls(
                limit=int(headers["gw-ratelimit-limit"]),
                remaining=int(headers["gw-ratelimit-remaining"]),
                reset_ms=int(headers["gw-ratelimit-reset"]),
            )
        except (KeyError, ValueError):
            return None


class BudgetExceeded(Exception):
    """Waiting for the window to reset would exceed the caller's wait budget."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit: retry after {retry_after:.1f} s")
        self.retry_after = retry_after


class RateGate:
    """Thread-safe client-side view of one rate-limit pool."""

    def __init__(self, clock: Clock, sleep: Sleep, *, probe_wait: float = 0.05) -> None:
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._remaining: int | None = None
        self._reset_at = 0.0
        self._probing = False
        self._probe_wait = probe_wait

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def reserve(self, weight: int, *, max_wait: float) -> tuple[float, bool]:
        """Take `weight` from the budget, waiting for a reset if needed.

        Returns (seconds waited, whether this call is the probe). Raises BudgetExceeded.
        """
        waited = 0.0
        while True:
            with self._cond:
                now = self._now()
                if self._remaining is not None and now >= self._reset_at:
                    self._remaining = None  # the window has passed: budget unknown again
                if self._remaining is None:
                    if not self._probing:
                        self._probing = True
                        return waited, True
                    self._cond.wait(self._probe_wait)
                    continue
                if self._remaining >= weight:
                    self._remaining -= weight
                    return waited, False
                wait = max(self._reset_at - now, 0.0)
            if waited + wait > max_wait:
                raise BudgetExceeded(wait)
            self._sleep(wait)
            waited += wait

    def update(self, headers: RateHeaders | None, *, probe: bool) -> None:
        """Learn from an answer's headers (None when there were none, or no answer)."""
        with self._cond:
            if headers is not None:
                reset_at = self._now() + headers.reset_ms / 1000
                new_window = self._remaining is None or reset_at > self._reset_at + _SAME_WINDOW_SLACK
                if new_window:
                    self._remaining = headers.remaining
                else:
                    self._remaining = min(self._remaining or 0, headers.remaining)
                self._reset_at = reset_at
            if probe:
                self._probing = False
            self._cond.notify_all()

    def snapshot(self) -> tuple[int | None, float]:
        """(remaining, seconds until reset) as currently believed."""
        with self._cond:
            return self._remaining, max(self._reset_at - self._now(), 0.0)
