"""KuCoin's rate-limit pools: fixed windows starting at a pool's first request, weight per call."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class PoolState:
    """What the gw-ratelimit-* headers say after a request."""

    limit: int
    remaining: int
    reset_ms: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "gw-ratelimit-limit": str(self.limit),
            "gw-ratelimit-remaining": str(self.remaining),
            "gw-ratelimit-reset": str(self.reset_ms),
        }


class Pools:
    """Fixed-window pools keyed by (owner, pool name); thread-safe."""

    def __init__(self, *, window_ms: int, budgets: dict[str, int]) -> None:
        self.window_ms = window_ms
        self.budgets = dict(budgets)
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}  # -> (window start ms, used)

    def charge(self, owner: str, pool: str, weight: int, now_ms: int) -> PoolState:
        """Spend `weight` if the window has room; `allowed` says whether it did."""
        limit = self.budgets[pool]
        with self._lock:
            start, used = self._window(owner, pool, now_ms)
            allowed = used + weight <= limit
            if allowed:
                used += weight
            self._windows[(owner, pool)] = (start, used)
            return PoolState(limit, limit - used, start + self.window_ms - now_ms, allowed)

    def spent(self, owner: str, pool: str, now_ms: int) -> int:
        """The weight spent in the pool's current window (0 once it has passed: the next request opens one)."""
        with self._lock:
            return self._window(owner, pool, now_ms)[1]

    def exhausted(self, owner: str, pool: str, now_ms: int) -> PoolState:
        """Headers of an exhausted pool (for injected 429s): remaining 0 until the window resets."""
        limit = self.budgets[pool]
        with self._lock:
            start, _ = self._window(owner, pool, now_ms)
            self._windows[(owner, pool)] = (start, limit)
            return PoolState(limit, 0, start + self.window_ms - now_ms, False)

    def _window(self, owner: str, pool: str, now_ms: int) -> tuple[int, int]:
        """(start ms, weight used) of the pool's window at `now_ms`; a new one if the last has passed (or is
        in the future: a clock moved back). The caller holds the lock."""
        start, used = self._windows.get((owner, pool), (now_ms, 0))
        if now_ms >= start + self.window_ms or now_ms < start:
            return now_ms, 0
        return start, used
