"""Socket Mode: kukey holds several WebSocket connections to Slack (CONNECTIONS) and keeps them alive itself.

Slack gives each envelope to ONE of an app's open connections, so while one connection is replaced the
others keep acking. Each connection is a `Link` (slack_sdk's built-in client, bot.slack.socket_link); Bolt's
`SocketModeHandler` answers every envelope on the link it came in on. One `Slot` thread per connection:

- notices a dead connection and replaces it: the socket closed, or no pong to its pings (sent every
  socket_link.PING_INTERVAL s) for STALE_AFTER s: a TCP connection dropped without a close frame (a NAT or load
  balancer timing out) shows only that way. Noticed and replaced well within 10 s;
- on Slack's `disconnect` message (refresh_requested, warning, link_disabled) opens the replacement FIRST,
  then retires the old link, which keeps acking until Slack closes it or HANDOFF s pass; after
  `too_many_websockets` it waits CROWDED_WAIT s before opening another one, unless no other is live;
- retries a failed connect with backoff, or after Retry-After when apps.connections.open is rate limited.

`live()` (readiness) is true while at least one connection answered a ping recently. The observer (the
metrics) hears each replacement by reason, the seconds without any live connection, and the live count.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Protocol

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.client import SlackRateLimited
from bot.slack.http import AckObserver
from bot.slack.socket_link import DISCONNECT_REASONS, EnvelopeHandler, Link

log = logging.getLogger("kukey.slack.socket")

CONNECTIONS = 2
CHECK_EVERY = 0.25  # how often a slot looks at its connection
HANDOFF = 5.0  # a link Slack asked to replace keeps acking this long after its replacement is up
ACK_DEADLINE = 3.0  # then, at most this long for what it received to be acked
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0  # between failed connects (doubling, with jitter)
CROWDED_WAIT = 30.0  # after too_many_websockets


class SocketObserver(Protocol):
    def slack_reconnect(self, reason: str) -> None: ...
    def slack_offline(self, seconds: float) -> None: ...
    def slack_connections(self, live: int) -> None: ...


class HandshakeFailed(ConnectionError):
    """The WebSocket to the URL apps.connections.open gave could not be opened."""


class SocketTransport:
    """Socket Mode with `connections` connections kept open by one Slot thread each."""

    def __init__(self, app: App, *, app_token: str, web_client: WebClient, on_ack: AckObserver | None = None,
                 observer: SocketObserver | None = None, connections: int = CONNECTIONS) -> None:
        self._handler = EnvelopeHandler(app, on_ack)
        self._app_token, self._web_client, self._logger = app_token, web_client, app.logger
        self.observer = observer
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: set[Link] = set()  # every link not closed yet: the slots' and the retiring ones
        self._accounted = time.monotonic()
        self._slots = [Slot(self, n) for n in range(1, connections + 1)]

    def start(self) -> SocketTransport:
        """Open every connection, then watch them. Slack refusing the app token is raised (the first
        connection's apps.connections.open); a rate limit or a failed handshake is left to the slot."""
        for slot in self._slots:
            try:
                slot.link = self.open_link()
            except (SlackRateLimited, OSError) as exc:  # HandshakeFailed is an OSError
                log.warning("slack connection failed; retrying", extra={"slot": slot.number, "error": str(exc)})
            except SlackApiError:
                if slot.number == 1:
                    raise
                log.warning("slack connection refused; retrying", extra={"slot": slot.number})
        for slot in self._slots:
            slot.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for slot in self._slots:
            slot.join()
        with self._lock:
            links = list(self._open)
        for link in links:
            self.close_link(link)

    def live_count(self) -> int:
        with self._lock:
            links = list(self._open)
        return sum(link.healthy() for link in links)

    def live(self) -> bool:
        """At least one connection is open and answered a ping recently (readiness check "slack")."""
        return self.live_count() > 0

    def open_link(self) -> Link:
        link = Link(app_token=self._app_token, web_client=self._web_client, handler=self._handler,
                    logger=self._logger)
        try:
            link.connect()
        except BaseException:
            link.close()
            raise
        if not link.is_connected():
            link.close()
            raise HandshakeFailed("the Socket Mode WebSocket handshake failed")
        with self._lock:
            self._open.add(link)
        return link

    def retire(self, link: Link, *, handoff: bool) -> None:
        """Close `link`: at once when it is dead; after a handoff when Slack asked for a new one."""
        if not handoff:
            self.close_link(link)
            return
        threading.Thread(target=self._hand_off, args=(link,), name="kukey-socket-retire", daemon=True).start()

    def _hand_off(self, link: Link) -> None:
        until = time.monotonic() + HANDOFF
        self._wait(lambda: not link.is_connected() or time.monotonic() >= until)
        until = time.monotonic() + ACK_DEADLINE
        self._wait(lambda: link.unanswered <= 0 or time.monotonic() >= until)
        self.close_link(link)

    def _wait(self, done: Callable[[], bool]) -> None:
        while not done() and not self.stopping.wait(CHECK_EVERY):
            pass

    def close_link(self, link: Link) -> None:
        with self._lock:
            if link not in self._open:
                return
            self._open.discard(link)
        link.close()

    def account(self) -> None:
        """Tell the observer how many connections are live, and how long there was none."""
        live = self.live_count()
        with self._lock:  # the time read under the lock: two threads accounting at once never go back in time
            now = time.monotonic()
            elapsed, self._accounted = now - self._accounted, now
        if self.observer is not None:
            self.observer.slack_connections(live)
            if live == 0:
                self.observer.slack_offline(elapsed)


class Slot:
    """Keeps one connection open: opens it, watches it, replaces it."""

    def __init__(self, pool: SocketTransport, number: int) -> None:
        self.pool, self.number = pool, number
        self.link: Link | None = None
        self._not_before = 0.0
        self._thread = threading.Thread(target=self._keep, name=f"kukey-socket-{number}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _keep(self) -> None:
        failures, wait = 0, 0.0
        while not self.pool.stopping.wait(wait):
            self.pool.account()
            reason, wait = self._why(), CHECK_EVERY
            if reason is None or (time.monotonic() < self._not_before and self._others_live()):
                continue
            try:
                fresh = self.pool.open_link()
            except (SlackApiError, OSError) as exc:
                failures += 1
                wait = self._backoff(failures, exc)
                continue
            failures = 0
            old, self.link = self.link, fresh
            if old is not None:
                log.info("slack connection replaced", extra={"slot": self.number, "reason": reason})
                if self.pool.observer is not None:
                    self.pool.observer.slack_reconnect(reason)
                self.pool.retire(old, handoff=old.disconnect_reason is not None and old.is_connected())

    def _why(self) -> str | None:
        """Why this slot needs a new connection now, or None."""
        link = self.link
        if link is None:
            return "connect"
        if link.disconnect_reason is not None:
            reason = link.disconnect_reason if link.disconnect_reason in DISCONNECT_REASONS else "disconnect"
            if reason == "too_many_websockets" and self._not_before == 0.0:
                self._not_before = time.monotonic() + CROWDED_WAIT
            return reason
        self._not_before = 0.0
        if not link.is_connected():
            return "closed"
        return None if link.healthy() else "stale"

    def _others_live(self) -> bool:
        own = self.link is not None and self.link.healthy()
        return self.pool.live_count() > int(own)

    def _backoff(self, failures: int, exc: Exception) -> float:
        if isinstance(exc, SlackRateLimited):
            wait = exc.retry_after
        else:
            wait = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)  # noqa: S311
        log.warning("slack connection failed; retrying", extra={"slot": self.number, "error": type(exc).__name__,
                                                               "retry_in_s": round(wait, 2)})
        return wait
