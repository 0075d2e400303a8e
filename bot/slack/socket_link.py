"""One Socket Mode connection (`Link`): slack_sdk's built-in `SocketModeClient`, tuned for kukey.

Built-in behaviour kept: the handshake, the reader and message threads, the ping every `ping_interval` s
(here PING_INTERVAL), acks sent on the connection the envelope came in on. Changed, with public hooks only:

- no reconnection of its own (`auto_reconnect_enabled=False`, and `connect_to_new_endpoint`, which the
  client calls on Slack's `disconnect` message, only notes it): the built-in one reconnects in place and
  blocks its message thread meanwhile, so acks come late. bot.slack.socket_mode opens a new Link instead;
- `healthy()`: open, and a pong heard within STALE_AFTER s (the built-in check waits 4 pings, then 5
  failed ones: about a minute with Bolt's defaults);
- `issue_new_wss_url()`: apps.connections.open through kukey's WebClient and its retry budget, instead of
  sleeping on a rate limit and recursing;
- `close()` at once: the reader blocked in `recv` is woken by shutting the socket down (the built-in close
  waits for it, up to its 3 s receive timeout), and it cannot wedge on the session runner restarting.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import socket
import threading
import time

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.slack.http import AckObserver
from bot.tls import shared_context

PING_INTERVAL = 2.0
# Slack's servers sometimes take over 5 s to answer a ping (bolt-js issue 2496); a dead connection must still be
# replaced within 10 s: noticed by STALE_AFTER plus one check, then a new one opened in well under a second.
STALE_AFTER = 7.0
CLOSE_CHECK_S = 0.05  # how often close() says "terminated" again while the built-in close runs
DISCONNECT_REASONS = frozenset({"refresh_requested", "warning", "link_disabled", "too_many_websockets"})


class EnvelopeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler, shared by every Link: runs the app on an envelope and acks it on the link
    it came in on. Times each envelope from the moment the handler receives it until its ack is sent (an
    envelope no listener takes gets no ack and is timed all the same); Socket Mode has no HTTP status, so
    the observer gets 200."""

    def __init__(self, app: App, on_ack: AckObserver | None) -> None:
        # Not Bolt's __init__: it would build and start a client of its own; the links are kukey's.
        self.app = app
        self._on_ack = on_ack

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override] # as Bolt's
        started = time.perf_counter()
        try:
            super().handle(client, req)
        finally:
            if isinstance(client, Link):
                client.answered()
        if self._on_ack is not None:
            self._on_ack(time.perf_counter() - started, 200)


class Link(SocketModeClient):
    """One Socket Mode connection; its slot decides when to replace it."""

    def __init__(self, *, app_token: str, web_client: WebClient, handler: EnvelopeHandler,
                 logger: logging.Logger) -> None:
        self.disconnect_reason: str | None = None  # Slack asked this connection to go (its reason)
        self.opened = time.time()
        self._count_lock = threading.Lock()
        self._unanswered = 0
        super().__init__(app_token=app_token, logger=logger, web_client=_verifying(web_client),
                         auto_reconnect_enabled=False, ping_interval=PING_INTERVAL, proxy=web_client.proxy,
                         on_message_listeners=[self._heard])
        self.socket_mode_request_listeners.append(handler.handle)  # type: ignore[arg-type] # as Bolt does

    def _heard(self, message: str) -> None:
        """On the reader thread, as each message arrives (before it is queued)."""
        if '"envelope_id"' in message:
            with self._count_lock:
                self._unanswered += 1
        elif '"disconnect"' in message:
            with contextlib.suppress(ValueError):
                parsed = json.loads(message)
                if isinstance(parsed, dict) and parsed.get("type") == "disconnect":
                    self.disconnect_reason = str(parsed.get("reason") or "unknown")

    def answered(self) -> None:
        with self._count_lock:
            self._unanswered -= 1

    @property
    def unanswered(self) -> int:
        """Envelopes received on this link and not answered yet."""
        with self._count_lock:
            return self._unanswered

    def healthy(self) -> bool:
        """Open, and a ping answered within STALE_AFTER s (or opened that recently)."""
        session = self.current_session
        if session is None or not session.is_active():
            return False
        return time.time() - (session.last_ping_pong_time or self.opened) <= STALE_AFTER

    def connect_to_new_endpoint(self, force: bool = False) -> None:
        """Called by the built-in client on Slack's disconnect message: the slot replaces this link."""

    def issue_new_wss_url(self) -> str:
        return str(self.web_client.apps_connections_open(app_token=self.app_token)["url"])

    def close(self) -> None:
        self.closed = True  # the message thread stops at its next look
        self.current_session_state.terminated = True  # the reader stops after its current recv...
        session = self.current_session
        sock = session.sock if session is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # ...which this ends at once
        self.message_queue.put(None)  # wakes the message thread waiting on the queue (None is skipped)
        # The built-in close joins the session runner without a timeout, and that runner sets the session
        # state's `terminated` back to False each time it starts reading a session: a close landing in that
        # instant waited forever (a CI run hung stopping a bot). So it runs on a thread of its own while
        # this one keeps the state terminated until it has returned.
        closing = threading.Thread(target=super().close, name="kukey-socket-close", daemon=True)
        closing.start()
        while closing.is_alive():
            self.current_session_state.terminated = True
            closing.join(CLOSE_CHECK_S)


def _verifying(web_client: WebClient) -> WebClient:
    """The link's WebClient: kukey's, with the shared TLS context as its `ssl`, which slack_sdk's built-in client
    also wraps its WebSocket in (its `web_client.ssl`; without one it makes `ssl.create_default_context()` for
    every connection, the system's CAs rather than kukey's). Its one Web API call per link
    (apps.connections.open) then brings its own urllib opener: once per link, not per call (bot.tls)."""
    link_client = copy.copy(web_client)
    link_client.ssl = shared_context()
    return link_client

