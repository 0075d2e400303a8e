"""Retry policy and a weight-aware gate for KuCoin's Management rate-limit pool.

KuCoin counts weight per UID in a fixed 30 s window and reports `gw-ratelimit-remaining` and
`gw-ratelimit-reset` (ms) on every answer. The gate keeps that view, reserves each call's weight before
it is sent (so parallel workers never overrun the budget together), and waits for the reset when the
budget left is too small. While the budget is unknown (start, new window) one call probes at a time.

Why a new window is probed rather than assumed full: the pool is per account (UID), and kukey's other
replicas and any other client of the account spend from it too, so a view of the budget says nothing once
its window has reset. Assuming the whole limit would send a burst that such a client can push past the
budget, and a delete refused with 429 waits for the next reset (up to 30 s) where the probe costs one
call's round trip. (Tried for issue 16: the kill-switch scenario's own seeding client showed exactly that.)
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.domain.clock import Clock

Sleep = Callable[[float], None]

# KuCoin's Management pool (VIP0): 2000 weight per 30 s window; each endpoint's weight is in transport.
MANAGEMENT_POOL_BUDGET = 2000
MANAGEMENT_WINDOW_S = 30.0  # its window, until the answers show a shorter one (a sandbox may)


def seconds_for(calls: int, *, weight: int, remaining: int | None, reset_in: float, budget: int,
                window: float) -> float:
    """The least time `calls` more calls of `weight` take in a fixed-window pool: what the budget left
    pays for goes now (all of a fresh window when `remaining` is unknown), the rest one window's worth at
    a time after each reset."""
    per_window = max(budget // weight, 1)
    fits, first_reset = (per_window, window) if remaining is None else (remaining // weight, reset_in)
    if calls <= fits:
        return 0.0
    return first_reset + (math.ceil((calls - fits) / per_window) - 1) * window


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
        self._limit = MANAGEMENT_POOL_BUDGET
        self._window = 0.0  # the longest reset seen: a fresh window's length
        self._in_flight = 0  # the weight of the calls let go and not answered yet

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
                        self._in_flight += weight
                        return waited, True
                    self._cond.wait(self._probe_wait)
                    continue
                if self._remaining >= weight:
                    self._remaining -= weight
                    self._in_flight += weight
                    return waited, False
                wait = max(self._reset_at - now, 0.0)
            if waited + wait > max_wait:
                raise BudgetExceeded(wait)
            self._sleep(wait)
            waited += wait

    def update(self, headers: RateHeaders | None, *, probe: bool, weight: int) -> None:
        """Learn from the answer (headers None: there were none, or no answer) to a call of `weight` that
        `reserve` let go, as the probe or not.

        Only the probe's answer starts a view of a window: it was sent alone while the budget was unknown,
        so it says what the pool held when it arrived, less the calls of an older view still in flight (they
        may land in this window after it). Any other answer may only lower the count: its `remaining` was
        counted when the call arrived, so it can lag behind the calls reserved since, never lead them, and
        an answer read late (a busy process) or from an older window, read after that window passed, must
        not pass for a new window: that gave back a window's budget already spent, and KuCoin answered 429
        (the kill switch on a loaded machine, 2026-12-02)."""
        with self._cond:
            self._in_flight = max(self._in_flight - weight, 0)
            if headers is not None:
                if probe:
                    self._remaining = max(headers.remaining - self._in_flight, 0)
                    self._reset_at = self._now() + headers.reset_ms / 1000
                elif self._remaining is not None:
                    self._remaining = min(self._remaining, headers.remaining)
                self._limit, self._window = headers.limit, max(self._window, headers.reset_ms / 1000)
            if probe:
                self._probing = False
            self._cond.notify_all()

    def seconds_for(self, calls: int, weight: int) -> float:
        """The least time `calls` more calls of `weight` take, as the pool is now believed to stand."""
        remaining, reset_in = self.snapshot()
        with self._cond:
            budget, window = self._limit, self._window or MANAGEMENT_WINDOW_S
        return seconds_for(calls, weight=weight, remaining=remaining, reset_in=reset_in, budget=budget,
                           window=window)

    def known(self) -> bool:
        """Whether the gate holds a view of the current window (else the next call probes)."""
        with self._cond:
            return self._remaining is not None and self._now() < self._reset_at

    def snapshot(self) -> tuple[int | None, float]:
        """(remaining, seconds until reset) as currently believed."""
        with self._cond:
            return self._remaining, max(self._reset_at - self._now(), 0.0)
