"""Slack's Socket Mode endpoint: a WebSocket server (the `websockets` library) on its own event loop thread.

apps.connections.open issues `ws://127.0.0.1:PORT/link/?ticket=...` (one use per ticket). On connect the
server sends `{"type": "hello", ...}` like Slack; `send()` pushes an envelope to the newest connection and
waits for the app's `{"envelope_id", "payload"?}` ack. Every envelope is recorded in the world, acked or not.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import secrets
import threading
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from kukey_sandbox.slack.failures import AckTimeout, SlackDriverError
from kukey_sandbox.slack.model import Envelope
from kukey_sandbox.slack.world import World

_HOST = "applink-sandbox"
# Slack pings its Socket Mode clients too. A short interval matters for slack_sdk's builtin client: its
# close() waits for the reader thread, which blocks in recv() (3 s timeout) until a frame arrives.
_PING_INTERVAL = 0.25


class SocketModeServer:
    def __init__(self, world: World) -> None:
        self._world = world
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._pending: dict[str, concurrent.futures.Future[dict[str, Any] | None]] = {}
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
                         ping_interval=_PING_INTERVAL) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

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
            if parts.path.rstrip("/") == "/link" and ticket in self._tickets:
                self._tickets.discard(ticket)
                return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")

    async def _serve(self, conn: ServerConnection) -> None:
        with self._lock:
            count = len(self._connections) + 1
        await conn.send(json.dumps({
            "type": "hello", "num_connections": count, "connection_info": {"app_id": self._world.app_id},
            "debug_info": {"host": _HOST, "build_number": 1, "approximate_connection_time": 18060},
        }))
        with self._changed:
            self._connections.append(conn)
            self._changed.notify_all()
        try:
            async for raw in conn:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._connections.remove(conn)
                self._changed.notify_all()

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        payload = message.get("payload") if isinstance(message, dict) else None
        payload = payload if isinstance(payload, dict) else None
        with self._lock:
            future = self._pending.pop(str(envelope_id), None)
            envelope = self._envelopes.get(str(envelope_id))
            if future is not None:
                future.set_result(payload)
        if future is None and envelope is not None:
            with self._world.transaction():
                envelope.late, envelope.ack_payload = True, payload

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def wait_connected(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: bool(self._connections), timeout=timeout)

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every connected app to reconnect, as Slack does before it rotates a connection."""
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": _HOST}})
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            self._call(conn.send(message), timeout=5)

    # envelopes ----------------------------------------------------------------------------------
    def send(self, kind: str, payload: dict[str, Any], *, timeout: float) -> dict[str, Any] | None:
        """Send one envelope and return the ack's payload (None when the ack had none)."""
        if not self.wait_connected(timeout):
            raise SlackDriverError("no app is connected over Socket Mode (did the handler connect?)")
        envelope = Envelope(str(uuid.uuid4()), kind, payload)
        future: concurrent.futures.Future[dict[str, Any] | None] = concurrent.futures.Future()
        with self._world.transaction():
            self._world.envelopes.append(envelope)
        with self._lock:
            conn = self._connections[-1]
            self._pending[envelope.id] = future
            self._envelopes[envelope.id] = envelope
        message = {"envelope_id": envelope.id, "type": kind, "payload": payload,
                   "accepts_response_payload": True}
        self._call(conn.send(json.dumps(message)), timeout=timeout)
        try:
            ack = future.result(timeout=timeout)
        except TimeoutError:
            with self._lock:
                self._pending.pop(envelope.id, None)
            if not future.done():
                raise AckTimeout(f"the app did not ack the {kind} envelope within {timeout:g} s") from None
            ack = future.result()
        with self._world.transaction():
            envelope.acked, envelope.ack_payload = True, ack
        return ack

    def _call(self, coro: Any, *, timeout: float) -> None:
        if self._loop is None:
            raise SlackDriverError("the Socket Mode server is not running")
        try:
            asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)
        except ConnectionClosed as exc:
            raise SlackDriverError("the app's Socket Mode connection closed while sending") from exc
