"""Fault injection for the KuCoin sandbox: latency, forced errors, 429s, dropped answers, clock skew.

Faults are one-shot rules consumed in order by matching requests (optionally only for one path).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["error", "rate_limit", "drop"]


@dataclass
class Fault:
    kind: FaultKind
    count: int
    path: str | None = None
    method: str | None = None
    status: int = 500
    code: str = "500000"
    headers: bool = True  # rate_limit: with gw-ratelimit-* headers (exhausted pool) or without (overload)
    commit: bool = True  # drop: act on the request first, then drop the answer
    hang: float = 0.0  # drop: seconds to hold the connection before closing it (0: close at once)

    def matches(self, method: str, path: str) -> bool:
        return (self.path is None or self.path == path) and (self.method is None or self.method == method)


@dataclass
class FaultPlan:
    """All injected faults; thread-safe."""

    latency: dict[str, float] = field(default_factory=dict)  # path or "*" -> seconds
    clock_skew_ms: int = 0
    rules: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.rules.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, consumed."""
        with self.lock:
            for fault in self.rules:
                if fault.count > 0 and fault.matches(method, path):
                    fault.count -= 1
                    self.rules = [f for f in self.rules if f.count > 0]
                    return fault
            return None

    def delay_for(self, path: str) -> float:
        with self.lock:
            return self.latency.get(path, self.latency.get("*", 0.0))

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.latency.clear()
            self.clock_skew_ms = 0

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return {
                "latency": dict(self.latency),
                "clock_skew_ms": self.clock_skew_ms,
                "pending": [{"kind": f.kind, "count": f.count, "path": f.path} for f in self.rules],
            }
