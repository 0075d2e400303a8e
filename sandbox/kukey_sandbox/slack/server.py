"""The fake's HTTP side on 127.0.0.1: the Web API under /api/ and the response_url endpoints.

Bodies are read the way Slack reads them: query string, form-encoded or JSON, merged into one
argument dict. Answers are HTTP 200 with Slack's JSON, except response_url failures (404/400 + code).
Every answer carries a `Date` header, like Slack's: the fake's clock, moved by `HttpServer.clock_skew`.
With a certificate (kukey_sandbox.tls) it speaks HTTPS, as Slack does (kukey_sandbox.tls.TlsServing).

HTTP/1.1 with keep-alive, as Slack's API servers: a client may send call after call on one connection (urllib
asks for it to be closed after each answer, and it is), and a connection left idle for `idle_timeout` seconds
is closed by the fake, as a load balancer closes it. `HttpServer.connections` counts the connections made and
`idle_closed` those the fake closed that way; `stop()` closes every open connection, so nothing kept alive
answers once the fake is gone.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kukey_sandbox.slack import delivery
from kukey_sandbox.slack.faults import DROPPED, Faults
from kukey_sandbox.slack.holds import RESPONSE_URL, Holds
from kukey_sandbox.slack.model import Call
from kukey_sandbox.slack.webapi import WebApi
from kukey_sandbox.slack.world import World
from kukey_sandbox.tls import LocalCertificate, TlsServing

_MAX_BODY = 2_000_000
IDLE_TIMEOUT_S = 60.0  # an idle kept-alive connection is closed after this (AWS load balancers' default)


class _Server(TlsServing, ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent calls must not hit SYN retries
    allow_reuse_address = True
    world: World
    api: WebApi
    faults: Faults
    holds: Holds
    clock_skew = 0.0  # seconds added to the Date header (Slack's clock ahead of the fake's)
    idle_timeout = IDLE_TIMEOUT_S
    connections = 0  # connections made to the fake
    idle_closed = 0  # kept-alive connections the fake closed after `idle_timeout` seconds without a request
    live: set[socket.socket]  # connections open now
    lock: threading.Lock


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SlackFake/1.0"
    protocol_version = "HTTP/1.1"  # keep-alive, unless the client asks for the connection to be closed

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)  # waiting for the next request included
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls
        with self.server.lock:
            self.server.connections += 1
            self.server.live.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.live.discard(self.connection)
        with contextlib.suppress(OSError):  # the client went away mid-answer
            super().finish()

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):  # http.server's idle timeout: the connection is closed
            with self.server.lock:
                self.server.idle_closed += 1

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry response_url secrets."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header: the fake's clock (not the host's), moved by the configured skew."""
        if timestamp is None:
            timestamp = self.server.world.clock.now().timestamp() + self.server.clock_skew
        return email.utils.formatdate(timestamp, usegmt=True)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, _MAX_BODY)) if length else b""
        if parts.path.startswith("/api/"):
            self.server.holds.pass_through(parts.path[len("/api/"):])
            params = _arguments(parts.query, raw, self.headers.get("Content-Type") or "")
            if params is None:
                self._reply(200, {"ok": False, "error": "invalid_form_data"})
                return
            method, token = parts.path[len("/api/"):], _token(self.headers, params)
            with self.server.world.transaction() as world:
                fault = self.server.faults.answer(method, token, params)
                if fault is None or fault.processed:
                    answer = self.server.api.call(method, params, token)
                else:  # recorded like any call, without its token
                    world.calls.append(Call(method, {k: v for k, v in params.items() if k != "token"},
                                            dict(fault.answer or {"ok": False, "error": DROPPED})))
            if fault is None:
                self._reply(200, answer, self.server.api.scope_headers(token))
            elif fault.answer is None:  # no answer at all (lost, if it was processed): the connection closes
                self.close_connection = True
            else:
                self._reply(fault.status, fault.answer, fault.headers)
        elif parts.path.startswith(("/commands/", "/actions/")) and self.command == "POST":
            self.server.holds.pass_through(RESPONSE_URL)
            status, text = self._respond(parts.path, raw)
            self._reply(status, text)
        else:
            self._reply(404, "not_found")

    def _respond(self, path: str, raw: bytes) -> tuple[int, str]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, "invalid_payload"
        if not isinstance(body, dict):
            return 400, "invalid_payload"
        world = self.server.world
        with world.transaction():
            url = world.response_url(path)
            if isinstance(url, str):
                return 404, url
            return delivery.respond(world, url, body)

    def _reply(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, dict):
            data, kind = json.dumps(body).encode(), "application/json; charset=utf-8"
        else:
            data, kind = body.encode(), "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:  # the client asked for it (urllib does): said, as Slack's servers say it
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def _arguments(query: str, raw: bytes, content_type: str) -> dict[str, Any] | None:
    params: dict[str, Any] = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not raw:
        return params
    try:
        if content_type.startswith("application/json"):
            body = json.loads(raw)
            if not isinstance(body, dict):
                return None
            params.update(body)
        else:
            params.update({k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()})
    except (ValueError, UnicodeDecodeError):
        return None
    return params


def _token(headers: Any, params: dict[str, Any]) -> str | None:
    auth = str(headers.get("Authorization") or "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer "):].strip() or None
    token = params.get("token")
    return str(token) if token else None


class HttpServer:
    """A ThreadingHTTPServer on 127.0.0.1, port chosen by the OS, served from a daemon thread."""

    def __init__(self, world: World, api: WebApi, faults: Faults, holds: Holds,
                 tls: LocalCertificate | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.tls = tls.server_context() if tls else None
        self._server.world, self._server.api = world, api
        self._server.faults, self._server.holds = faults, holds
        self._server.live, self._server.lock = set(), threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="slack-fake-http", daemon=True)

    @property
    def base_url(self) -> str:
        scheme = "https" if self._server.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}/"

    def set_clock_skew(self, seconds: float) -> None:
        """Slack's clock `seconds` ahead of the fake's (negative: behind), as the Date header shows it."""
        self._server.clock_skew = seconds

    @property
    def connections(self) -> int:
        """Connections made to the fake so far."""
        with self._server.lock:
            return self._server.connections

    @property
    def idle_closed(self) -> int:
        """Kept-alive connections the fake closed because they sat idle for `idle_timeout` seconds."""
        with self._server.lock:
            return self._server.idle_closed

    def set_idle_timeout(self, seconds: float) -> None:
        """Close a kept-alive connection after `seconds` without a request (new connections)."""
        self._server.idle_timeout = seconds

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        with self._server.lock:
            live = list(self._server.live)
        for connection in live:  # what a client kept alive is cut, as when Slack goes away
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
