"""Web API failures the real Slack produces, on demand: rate limits, error answers, dropped connections and
revoked tokens. The HTTP server asks `Faults.answer(...)` before the Web API answers a call.

    fake.rate_limit("chat.postMessage", times=3, retry_after=1)   # HTTP 429 ratelimited + Retry-After: 1
    fake.steady_limit("chat.postMessage", calls=1, per=1.0)       # a tier: at most 1 call a second, then 429
    fake.fail("views.open", "internal_error", status=500, times=2)
    fake.drop_calls("auth.test", times=1)                         # the connection closes without an answer
    fake.lose_answers("chat.postMessage", times=1)                # Slack does it, then the answer is lost
    fake.lose_answers("chat.postMessage", channel=fake.dm(user))  # only a call naming that channel (a DM)
    fake.revoke_token("bot")                                      # every call with it: token_revoked

`method="*"` matches every method; `channel`, when given, only the calls whose `channel` argument it is.
One-shot faults are used up in the order they were added; a call that
meets one is recorded (World.calls) with the answer it got, and never reaches the Web API's state, except
a lost answer: that call is done (and recorded with Slack's real answer), then the connection closes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

Answer = dict[str, Any]
ANY = "*"
DROPPED = "(connection closed without an answer)"  # what a dropped call is recorded with


@dataclass(frozen=True)
class Fault:
    """What the server sends instead of the Web API's answer; `answer` None: close without answering.
    `processed`: the Web API does the call first (only its answer is lost)."""

    status: int
    answer: Answer | None
    headers: dict[str, str] = field(default_factory=dict)
    processed: bool = False


@dataclass
class _Once:
    method: str
    fault: Fault
    times: int
    channel: str | None = None

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        return self.method in (method, ANY) and self.channel in (None, params.get("channel"))


@dataclass
class _Steady:
    calls: int
    per: float
    seen: deque[float] = field(default_factory=deque)

    def refuse(self, now: float) -> float | None:
        """Seconds until a call is allowed again, or None when this call is within the limit (and counted)."""
        while self.seen and now - self.seen[0] >= self.per:
            self.seen.popleft()
        if len(self.seen) < self.calls:
            self.seen.append(now)
            return None
        return self.seen[0] + self.per - now


def rate_limited(retry_after: float) -> Fault:
    """Slack's answer to a call over the limit: HTTP 429, `ratelimited`, Retry-After in whole seconds."""
    return Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(max(0, math.ceil(retry_after)))})


class Faults:
    """Faults to inject, shared by the server threads (thread-safe)."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = tokens  # "bot" / "app" -> the token
        self._lock = threading.Lock()
        self._once: list[_Once] = []
        self._steady: dict[str, _Steady] = {}
        self._revoked: set[str] = set()

    def rate_limit(self, method: str, *, times: int = 1, retry_after: float = 1) -> None:
        self._add(method, rate_limited(retry_after), times)

    def steady_limit(self, method: str, *, calls: int, per: float = 60.0) -> None:
        """Like Slack's tiers: at most `calls` calls of `method` in any `per` seconds; the rest get 429 with
        the seconds until a call is allowed again."""
        with self._lock:
            self._steady[method] = _Steady(calls, per)

    def fail(self, method: str, error: str, *, status: int = 200, times: int = 1) -> None:
        """Answer `{"ok": false, "error": error}` with HTTP `status` (e.g. internal_error with 500)."""
        self._add(method, Fault(status, {"ok": False, "error": error}), times)

    def drop_calls(self, method: str, *, times: int = 1) -> None:
        """Close the connection without an answer (a reset between kukey and Slack)."""
        self._add(method, Fault(0, None), times)

    def lose_answers(self, method: str, *, times: int = 1, channel: str | None = None) -> None:
        """Do the call, then close the connection without answering: the caller cannot know it worked.
        With `channel`: only calls naming that channel (a DM's id, to lose a direct message's answer)."""
        self._add(method, Fault(0, None, processed=True), times, channel)

    def revoke_token(self, which: str = "bot") -> None:
        """The token (`bot` or `app`) was revoked: every call with it answers `token_revoked`."""
        with self._lock:
            self._revoked.add(self._tokens[which])

    def restore_token(self, which: str = "bot") -> None:
        with self._lock:
            self._revoked.discard(self._tokens[which])

    def clear(self) -> None:
        """No more faults: one-shot ones still pending are forgotten, limits lifted, tokens restored."""
        with self._lock:
            self._once.clear()
            self._steady.clear()
            self._revoked.clear()

    def answer(self, method: str, token: str | None, params: dict[str, Any] | None = None) -> Fault | None:
        """The fault this call meets, if any (a one-shot fault is used up)."""
        with self._lock:
            if token is not None and token in self._revoked:
                return Fault(200, {"ok": False, "error": "token_revoked"})
            for once in self._once:
                if once.matches(method, params or {}):
                    once.times -= 1
                    if once.times <= 0:
                        self._once.remove(once)
                    return once.fault
            steady = self._steady.get(method)
            wait = steady.refuse(time.monotonic()) if steady is not None else None
            return rate_limited(wait) if wait is not None else None

    def _add(self, method: str, fault: Fault, times: int, channel: str | None = None) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._once.append(_Once(method, fault, times, channel))
