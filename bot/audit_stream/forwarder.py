"""The forwarder inside `kukey run`: ships every committed audit event, in seq order, to one target.

It runs in its own thread, on its own database connections (bot.audit_stream.reading): the write path
never waits for it and does not know it exists, so a dead SIEM can slow nothing but the stream. Each
round it takes or renews the lease (bot.audit_stream.cursor; a replica without it only reports the lag),
reads the events after the durable cursor, and sends them one by one; after each acknowledgement the
cursor moves to that event's seq. A failure stops the round and the same event is sent again after a
backoff (0.5 s doubling to a third of KUKEY_LEASE_SECONDS, at most 30 s, jittered): delivery is at least
once, in order, and a restart re-sends at most the one event that was in flight. `stop()` gives the
stream a few seconds to deliver what is left (the stop event too), then gives the lease up so another
replica takes over at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.audit_stream.cursor import Cursor
from bot.audit_stream.delivery import DeliveryError, Sender
from bot.audit_stream.reading import events_after, head_seq, stream_engine
from bot.audit_stream.syslog import SyslogSender
from bot.audit_stream.target import WEBHOOK, parse
from bot.audit_stream.webhook import WebhookSender
from bot.config import Settings
from bot.domain.clock import Clock
from bot.tls import http_client

log = logging.getLogger("kukey.audit_stream")
POLL_INTERVAL = 0.5  # seconds between looks for new events when caught up
SEND_TIMEOUT = 10.0  # seconds one delivery may take (connect, send, answer), at most a third of the lease
BACKOFF_CAP = 30.0  # the longest wait between retries, at most a third of the lease
BATCH = 100  # events read per round
STOP_GRACE = 5.0  # seconds stop() lets the stream catch up


class ForwardObserver(Protocol):
    """What the forwarder reports (bot.ops.metrics.Metrics implements it)."""

    def audit_forwarded(self) -> None: ...
    def audit_forward_lag(self, events: int) -> None: ...
    def audit_forward_failed(self, reason: str) -> None: ...
    def audit_forward_leading(self, leading: bool) -> None: ...


class Backoff:
    """Delays after consecutive failures: `first` doubling up to `cap`, each jittered down by up to half."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self._first, self._cap, self._next = first, cap, first
        self.failures = 0

    def delay(self) -> float:
        self.failures += 1
        delay, self._next = self._next, min(self._cap, self._next * 2)
        return random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self._next, self.failures = self._first, 0


class Forwarder:
    """One target's stream; `start()` runs it in a daemon thread until `stop()`."""

    def __init__(self, *, engine: Engine, sender: Sender, cursor: Cursor, observer: ForwardObserver, shown: str,
                 interval: float = POLL_INTERVAL, backoff: Backoff | None = None) -> None:
        self._engine, self._sender, self.cursor, self._observer = engine, sender, cursor, observer
        self.shown = shown  # the target without credentials
        self._interval = interval
        self._backoff = backoff or Backoff()
        self._leading = False
        self._wake, self._closing = threading.Event(), threading.Event()
        self._deadline = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> Forwarder:
        self._thread = threading.Thread(target=self._run, name="kukey-audit-stream", daemon=True)
        self._thread.start()
        return self

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Deliver what is left for up to `grace` seconds, then stop and give the lease up."""
        self._deadline = time.monotonic() + grace
        self._closing.set()
        self._wake.set()
        if self._thread is None:
            self._close()
            return
        self._thread.join(timeout=grace + 1)
        if self._thread.is_alive():
            log.warning("audit stream still waiting for its target; left behind", extra={"target": self.shown})

    def _run(self) -> None:
        try:
            while True:
                draining = self._closing.is_set()  # a round begun after stop() sees every event written before
                delay = self.step()
                if draining and (delay > 0 or time.monotonic() > self._deadline):
                    return
                if not self._closing.is_set():
                    self._wake.wait(delay)
                    self._wake.clear()
        finally:
            self._close()

    def step(self) -> float:
        """One round; returns the seconds to wait before the next (0: more events are waiting)."""
        try:
            return self._round()
        except DeliveryError as exc:
            return self._failed(exc.reason)
        except SQLAlchemyError as exc:  # the database is restarting or unreachable: read again later
            return self._failed(f"database_{type(exc).__name__}")
        except Exception:  # a bug must not end the stream for good, nor spin
            log.exception("audit stream round failed", extra={"target": self.shown})
            return self._failed("internal")

    def _round(self) -> float:
        claim = self.cursor.claim()
        self._lead(claim.leading, claim.last_seq)
        head = head_seq(self._engine)
        self._observer.audit_forward_lag(max(0, head - claim.last_seq))
        if not claim.leading:
            return self._interval
        events = events_after(self._engine, claim.last_seq, limit=BATCH)
        for event in events:
            if self._closing.is_set() and time.monotonic() > self._deadline:
                return self._interval
            self._sender.send(event)
            if not self.cursor.advance(event.seq):
                self._lead(False, event.seq)
                return self._interval
            self._observer.audit_forwarded()
            self._observer.audit_forward_lag(max(0, head - event.seq))
        self._recovered()
        return 0.0 if len(events) == BATCH else self._interval

    def _lead(self, leading: bool, last_seq: int) -> None:
        if leading != self._leading:
            log.info("audit stream " + ("forwarding" if leading else "left to another process"),
                     extra={"target": self.shown, "after_seq": last_seq})
        self._leading = leading
        self._observer.audit_forward_leading(leading)

    def _failed(self, reason: str) -> float:
        self._observer.audit_forward_failed(reason)
        if self._backoff.failures == 0:
            log.warning("audit stream delivery failed; retrying with backoff",
                        extra={"target": self.shown, "reason": reason})
        return self._backoff.delay()

    def _recovered(self) -> None:
        if self._backoff.failures:
            log.info("audit stream delivering again", extra={"target": self.shown, "failures": self._backoff.failures})
        self._backoff.reset()

    def _close(self) -> None:
        try:
            if self._leading:
                self.cursor.release()
        except SQLAlchemyError:  # the lease then runs out on its own
            pass
        finally:
            self._sender.close()
            self._engine.dispose()


def from_settings(settings: Settings, *, clock: Clock, observer: ForwardObserver, interval: float = POLL_INTERVAL,
                  backoff: Backoff | None = None) -> Forwarder | None:
    """The forwarder KUKEY_AUDIT_FORWARD asks for (None when it is unset); not started."""
    if not settings.audit_forward:
        return None
    target = parse(settings.audit_forward)
    # A delivery and a retry's wait each stay within a third of the lease, so the holder renews it in time
    # and a standby takes over only from a dead process.
    renewal = max(1.0, settings.lease_seconds / 3)
    timeout = min(SEND_TIMEOUT, renewal)
    engine = stream_engine(settings.database_url, read_only=False)
    sender: Sender
    if target.kind == WEBHOOK:
        http = http_client(timeout=timeout, follow_redirects=False)
        sender = WebhookSender(target.url, secret=settings.audit_forward_secret, http=http)
    else:
        sender = SyslogSender(target, timeout=timeout)
    cursor = Cursor(engine, target.key, clock=clock, lease=timedelta(seconds=settings.lease_seconds))
    backoff = backoff or Backoff(cap=min(BACKOFF_CAP, renewal))
    return Forwarder(engine=engine, sender=sender, cursor=cursor, observer=observer, shown=target.shown,
                     interval=interval, backoff=backoff)
