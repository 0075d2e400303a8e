"""Slack's Socket Mode endpoint: a WebSocket server (the `websockets` library) on its own event loop thread.

apps.connections.open issues `ws://127.0.0.1:PORT/link/?ticket=...` (one use per ticket). On connect the
server sends `{"type": "hello", ...}` like Slack. An app may hold up to 10 connections (one more is told
`too_many_websockets` and closed). `send()` gives each envelope to ONE open connection, round-robin,
preferring those not told to disconnect, and waits for the app's `{"envelope_id", "payload"?}` ack. Every
envelope is recorded in the world, acked or not.

Failures the real Slack produces, on demand:
- `disconnect(reason)`: Slack's `{"type": "disconnect"}` before it recycles connections (it closes them
  `close_after` seconds later, or leaves that to the app);
- `drop(how)`: a connection dies without a close frame (a NAT or load-balancer reset): "silent" (nothing
  more arrives; pings go unanswered), "eof" (a FIN, no close frame) or "reset" (a TCP RST);
- `go_down()` / `come_back()`: every connection dropped, new ones refused (503), until it comes back.
An envelope whose connection dies before its ack is lost: for a slash command, click or submission the
person sees an error in Slack, so `send` raises EnvelopeLost; an events_api envelope is delivered again on
another connection (Slack retries events, up to 3 times).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import json
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from kukey_sandbox.slack.failures import AckTimeout, EnvelopeLost, SlackDriverError
from kukey_sandbox.slack.model import Envelope
from kukey_sandbox.slack.world import World

_HOST = "applink-sandbox"
# Slack pings its Socket Mode clients, but seconds apart, not continuously: a client blocked in a read
# waits for its own timeout, as it would with Slack.
PING_INTERVAL = 10.0
MAX_CONNECTIONS = 10
EVENT_RETRIES = 3
DROPS = ("silent", "eof", "reset")
Ack = dict[str, Any] | None


class _Lost(Exception):
    """The connection carrying an envelope died before its ack came."""


@dataclass(eq=False)
class _Link:
    conn: ServerConnection
    number: int
    greeted: bool = False  # Slack's hello sent: envelopes may follow
    recycling: bool = False  # told to disconnect: used only while no other connection is open
    pending: set[str] = field(default_factory=set)  # envelope ids sent on it, not acked yet


class SocketModeServer:
    def __init__(self, world: World, *, ping_interval: float = PING_INTERVAL) -> None:
        self._world = world
        self._ping_interval = ping_interval
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tickets: set[str] = set()
        self._links: list[_Link] = []  # open connections, oldest first
        self._zombies: list[_Link] = []  # dropped without a FIN or RST: still open underneath
        self._numbers = itertools.count(1)
        self._turn = 0
        self._down = False
        self._pending: dict[str, concurrent.futures.Future[Ack]] = {}
        self._carrier: dict[str, _Link] = {}
        self._envelopes: dict[str, Envelope] = {}
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="slack-fake-socket", daemon=True)
        self.port = 0

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the Socket Mode server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._serve, "127.0.0.1", 0, process_request=self._admit, close_timeout=1,
                         ping_interval=self._ping_interval) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()
            for zombie in self._zombies:
                zombie.conn.transport.abort()

    # connections --------------------------------------------------------------------------------
    def issue_url(self) -> str:
        ticket = secrets.token_urlsafe(16)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self._world.app_id}"

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._lock:
            if self._down:
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "socket mode is down\n")
            if parts.path.rstrip("/") == "/link" and ticket in self._tickets:
                self._tickets.discard(ticket)
                return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")

    async def _serve(self, conn: ServerConnection) -> None:
        link = _Link(conn, next(self._numbers))
        with self._changed:  # counted before the hello: an app that saw it may count on the connection
            self._links.append(link)
            count = len(self._links)
        try:
            await conn.send(json.dumps({
                "type": "hello", "num_connections": count, "connection_info": {"app_id": self._world.app_id},
                "debug_info": {"host": _HOST, "build_number": 1, "approximate_connection_time": 18060},
            }))
            if count > MAX_CONNECTIONS:
                self._forget(link)
                await conn.send(_disconnect_message("too_many_websockets"))
                await conn.close(1008, "too many websockets")
                return
            with self._changed:
                link.greeted = True  # envelopes only after the hello
                self._changed.notify_all()
            async for raw in conn:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            self._forget(link)

    def _forget(self, link: _Link) -> None:
        """The connection is gone: no more envelopes on it; those it carried unacked are lost."""
        with self._changed:
            if link in self._links:
                self._links.remove(link)
            for envelope_id in link.pending:
                self._carrier.pop(envelope_id, None)
                future = self._pending.pop(envelope_id, None)
                if future is not None and not future.done():
                    future.set_exception(_Lost())
            link.pending.clear()
            self._changed.notify_all()

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        envelope_id = str(message.get("envelope_id")) if isinstance(message, dict) else ""
        payload = message.get("payload") if isinstance(message, dict) else None
        payload = payload if isinstance(payload, dict) else None
        with self._lock:
            future = self._pending.pop(envelope_id, None)
            carrier = self._carrier.pop(envelope_id, None)
            if carrier is not None:
                carrier.pending.discard(envelope_id)
            envelope = self._envelopes.get(envelope_id)
            if future is not None and not future.done():
                future.set_result(payload)
        if future is None and envelope is not None:
            with self._world.transaction():
                envelope.late, envelope.ack_payload = True, payload

    @property
    def connection_count(self) -> int:
        """Open connections (dropped ones do not count)."""
        with self._lock:
            return len(self._links)

    def connections(self) -> list[tuple[int, bool]]:
        """(number, told to disconnect) of each open connection, oldest first; numbers count from 1."""
        with self._lock:
            return [(link.number, link.recycling) for link in self._links]

    def wait_connected(self, timeout: float, count: int = 1) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self._links) >= count, timeout=timeout)

    # failures on demand -------------------------------------------------------------------------
    def disconnect(self, reason: str = "refresh_requested", *, close_after: float | None = None) -> None:
        """Ask every connected app to reconnect, as Slack does before it recycles connections; Slack closes
        them `close_after` seconds later (None: the app closes them)."""
        with self._lock:
            links = list(self._links)
            for link in links:
                link.recycling = True
        for link in links:
            self._call(self._tell(link, reason, close_after), timeout=5)

    async def _tell(self, link: _Link, reason: str, close_after: float | None) -> None:
        try:
            await link.conn.send(_disconnect_message(reason))
        except ConnectionClosed:
            return
        if close_after is not None:
            asyncio.get_running_loop().call_later(
                close_after, lambda: asyncio.ensure_future(link.conn.close(1001, "recycled")))

    def drop(self, how: str = "silent", *, index: int = 0) -> None:
        """The `index`-th open connection (oldest first) dies without a close frame, the way `how` says."""
        if how not in DROPS:
            raise ValueError(f"how must be one of {DROPS}")
        with self._lock:
            if not -len(self._links) <= index < len(self._links):
                raise SlackDriverError(f"there is no open connection #{index} to drop")
            link = self._links[index]
        self._on_loop(functools.partial(self._kill, link, how))

    def go_down(self, how: str = "silent") -> None:
        """Slack's Socket Mode is down: every connection dropped, new ones refused until `come_back()`."""
        with self._lock:
            self._down = True
            links = list(self._links)
        for link in links:
            self._on_loop(functools.partial(self._kill, link, how))

    def come_back(self) -> None:
        with self._lock:
            self._down = False

    def _kill(self, link: _Link, how: str) -> None:
        """On the loop. "reset" aborts with SO_LINGER 0 (an RST); "silent" stops reading and writing (no
        pongs, no pings, no acks read); "eof" also sends a FIN. None sends a close frame."""
        self._forget(link)
        transport = link.conn.transport
        sock = transport.get_extra_info("socket")
        if transport.is_closing() or sock is None:  # already going: nothing left to drop
            return
        if how == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return
        if link.conn.keepalive_task is not None:
            link.conn.keepalive_task.cancel()
        transport.pause_reading()
        if how == "eof":
            sock.shutdown(socket.SHUT_WR)
        self._zombies.append(link)

    # envelopes ----------------------------------------------------------------------------------
    def send(self, kind: str, payload: dict[str, Any], *, timeout: float) -> Ack:
        """Send one envelope and return the ack's payload (None when the ack had none)."""
        attempts = 1 + (EVENT_RETRIES if kind == "events_api" else 0)
        for attempt in range(attempts):
            envelope = Envelope(str(uuid.uuid4()), kind, payload)
            with self._world.transaction():
                self._world.envelopes.append(envelope)
            try:
                return self._deliver(envelope, attempt, timeout)
            except _Lost:
                with self._world.transaction():
                    envelope.lost = True
        raise EnvelopeLost(f"the connection carrying the {kind} envelope died before the app acked it "
                           "(Slack shows the person an error)")

    def _deliver(self, envelope: Envelope, attempt: int, timeout: float) -> Ack:
        deadline = time.monotonic() + timeout
        message: dict[str, Any] = {"envelope_id": envelope.id, "type": envelope.type, "payload": envelope.payload,
                                   "accepts_response_payload": envelope.type != "events_api"}
        if envelope.type == "events_api":
            message.update(retry_attempt=attempt, retry_reason="timeout" if attempt else "")
        while True:  # a connection that closes before the envelope is written: Slack takes another one
            link, future = self._assign(envelope, deadline)
            try:
                self._call(link.conn.send(json.dumps(message)), timeout=max(deadline - time.monotonic(), 0.1))
                break
            except SlackDriverError:
                self._forget(link)
        try:
            ack = future.result(timeout=max(deadline - time.monotonic(), 0))
        except TimeoutError:
            with self._lock:
                self._pending.pop(envelope.id, None)  # a later ack is recorded as late
            if not future.done():
                raise AckTimeout(f"the app did not ack the {envelope.type} envelope within {timeout:g} s") from None
            ack = future.result()
        with self._world.transaction():
            envelope.acked, envelope.ack_payload = True, ack
        return ack

    def _assign(self, envelope: Envelope, deadline: float) -> tuple[_Link, concurrent.futures.Future[Ack]]:
        def greeted() -> list[_Link]:
            return [link for link in self._links if link.greeted]

        with self._changed:
            if not self._changed.wait_for(greeted, timeout=max(deadline - time.monotonic(), 0)):
                raise SlackDriverError("no app is connected over Socket Mode (did the handler connect?)")
            choices = [link for link in greeted() if not link.recycling] or greeted()
            link = choices[self._turn % len(choices)]
            self._turn += 1
            future: concurrent.futures.Future[Ack] = concurrent.futures.Future()
            self._pending[envelope.id], self._carrier[envelope.id] = future, link
            self._envelopes[envelope.id] = envelope
            link.pending.add(envelope.id)
            return link, future

    # the loop -----------------------------------------------------------------------------------
    def _on_loop(self, fn: Callable[[], None]) -> None:
        async def run() -> None:
            fn()
        self._call(run(), timeout=5)

    def _call(self, coro: Coroutine[Any, Any, Any], *, timeout: float) -> None:
        if self._loop is None:
            coro.close()
            raise SlackDriverError("the Socket Mode server is not running")
        try:
            asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)
        except ConnectionClosed as exc:
            raise SlackDriverError("the app's Socket Mode connection closed while sending") from exc


def _disconnect_message(reason: str) -> str:
    return json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": _HOST}})
