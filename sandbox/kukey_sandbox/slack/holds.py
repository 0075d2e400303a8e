"""Holding calls at Slack's door: what a slow network or a slow app looks like from Slack's side.

    with fake.hold("views.open") as held:     # a Web API method, or "response_url"
        driver.click(user, "Approve")
        held.wait()                            # the app's call has reached Slack and waits
        fake.advance(4)                        # meanwhile 4 s pass for Slack: the trigger_id expires
    # leaving the block lets the call through; Slack answers expired_trigger_id

A hold stops the first `count` calls that arrive while it is on (later ones pass), so a test can still
use the same endpoint itself, e.g. to spend a response_url's uses before the app's answer gets there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kukey_sandbox.slack.failures import SlackDriverError

RESPONSE_URL = "response_url"  # the name under which response_url posts are held


@dataclass
class Hold:
    name: str
    count: int
    arrived: int = 0
    released: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def wait(self, calls: int = 1, timeout: float = 10.0) -> None:
        """Until `calls` calls are held here (raises SlackDriverError after `timeout` seconds)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.arrived >= calls, timeout=timeout):
                raise SlackDriverError(f"no {self.name} call reached Slack within {timeout:g} s")

    def release(self) -> None:
        with self._changed:
            self.released = True
            self._changed.notify_all()

    def _admit(self) -> bool:
        """Count an arriving call; True when this hold stops it."""
        with self._changed:
            if self.released or self.arrived >= self.count:
                return False
            self.arrived += 1
            self._changed.notify_all()
            return True

    def _block(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self.released)


class Holds:
    """The holds that are on, by name; the fake's HTTP server asks `pass_through` for every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._on: list[Hold] = []

    @contextmanager
    def hold(self, name: str, count: int = 1) -> Iterator[Hold]:
        held = Hold(name, count)
        with self._lock:
            self._on.append(held)
        try:
            yield held
        finally:
            with self._lock:
                self._on.remove(held)
            held.release()

    def pass_through(self, name: str) -> None:
        """Return when the call named `name` may go on (at once, unless a hold stops it)."""
        with self._lock:
            stopping = next((h for h in self._on if h.name == name and h._admit()), None)
        if stopping is not None:
            stopping._block()
