"""How Slack reaches the bot: HTTP (`/slack/events`, signed requests) or Socket Mode.

The HTTP server is a stdlib ThreadingHTTPServer that hands the raw body and headers to Bolt's
`App.dispatch` (Bolt verifies the signature over the raw bytes). Bolt's own `app.start()` server is a
single-threaded development server; acks must not queue behind one another, hence this one.
The same server answers `/healthz` and `/metrics` (see bot.metrics).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

log = logging.getLogger("kukey.transport")

MAX_BODY = 256 * 1024  # Slack's interaction payloads are far smaller; refuse anything larger
EVENTS_PATH = "/slack/events"

# (status, content type, body) for GET endpoints such as /healthz and /metrics
GetRoute = Callable[[], tuple[int, str, bytes]]
AckObserver = Callable[[float, int], None]
Precheck = Callable[[bytes, Any], "tuple[int, str] | None"]


def slack_precheck(signing_secret: str, *, now: Callable[[], float] = time.time) -> Precheck:
    """Refuse, before Bolt sees it, what Slack would never send: a missing or wrong signature, a timestamp
    more than 5 minutes off, a body changed after signing, or an interaction payload that is not JSON.
    One log line per refusal (by the transport), no audit event: forged traffic must not flood the log."""
    from urllib.parse import parse_qs

    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(signing_secret, clock=_Clock(now))

    def check(raw: bytes, headers: Any) -> tuple[int, str] | None:
        timestamp = headers.get("X-Slack-Request-Timestamp") or ""
        signature = headers.get("X-Slack-Signature") or ""
        if not timestamp or not signature:
            return 401, "missing signature headers"
        if not timestamp.isdigit() or abs(now() - int(timestamp)) > 300:
            return 401, "stale or invalid timestamp"
        if not verifier.is_valid(raw, timestamp, signature):
            return 401, "invalid signature"
        try:
            form = parse_qs(raw.decode("utf-8"), strict_parsing=False)
        except UnicodeDecodeError:
            return 400, "body is not UTF-8"
        if "payload" in form:
            import json

            try:
                payload = json.loads(form["payload"][0])
            except ValueError:
                return 400, "payload is not JSON"
            if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
                return 400, "payload has no type"
        elif "command" not in form and "type" not in raw.decode("utf-8", "replace")[:200]:
            return 400, "neither a command nor an interaction"
        return None

    return check


class _Clock:
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # access logs would carry nothing useful; requests are logged by outcome below

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        route = self.server.get_routes.get(self.path.split("?", 1)[0])
        if route is None:
            self._send(404, b"not found")
            return
        status, ctype, body = route()
        self._send(status, body, ctype)

    def do_POST(self) -> None:
        started = time.perf_counter()
        if self.path.split("?", 1)[0] != EVENTS_PATH:
            self._send(404, b"not found")
            return
        length_text = self.headers.get("Content-Length", "")
        if not length_text.isdigit():
            log.warning("slack request refused", extra={"reason": "no content length"})
            self._send(411, b"length required")
            return
        length = int(length_text)
        if length > MAX_BODY:
            log.warning("slack request refused", extra={"reason": "body too large", "bytes": length})
            self.close_connection = True
            self._send(413, b"payload too large")
            return
        raw = self.rfile.read(length)
        problem = self.server.precheck(raw, self.headers) if self.server.precheck else None
        if problem is not None:
            status, reason = problem
            log.warning("slack request refused", extra={"status": status, "reason": reason})
            self._send(status, reason.encode())
            return
        body = raw.decode("utf-8", errors="replace")
        headers = {k.lower(): [v] for k, v in self.headers.items()}
        bolt_response = self.server.app.dispatch(BoltRequest(body=body, headers=headers))
        status = bolt_response.status
        if status >= 400:
            log.warning("slack request refused", extra={"status": status, "path": self.path})
        out = bolt_response.body.encode("utf-8") if isinstance(bolt_response.body, str) else b""
        extra = {k: v[0] for k, v in bolt_response.headers.items() if v and k.lower() != "content-length"}
        ctype = extra.pop("content-type", "text/plain; charset=utf-8")
        self._send(status, out, ctype, extra)
        if self.server.on_ack:
            self.server.on_ack(time.perf_counter() - started, status)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    app: App
    precheck: Precheck | None
    get_routes: dict[str, GetRoute]
    on_ack: AckObserver | None


class HttpTransport:
    """Serves `/slack/events` (and GET routes) on host:port in a background thread."""

    def __init__(self, app: App, *, host: str = "127.0.0.1", port: int = 0,
                 get_routes: dict[str, GetRoute] | None = None, on_ack: AckObserver | None = None,
                 precheck: Precheck | None = None) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.app = app
        self._server.precheck = precheck
        self._server.get_routes = dict(get_routes or {})
        self._server.on_ack = on_ack
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{EVENTS_PATH}"

    def start(self) -> HttpTransport:
        self._thread = threading.Thread(target=self._server.serve_forever, name="kukey-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


class SocketTransport:
    """Socket Mode: the bot dials out to the WebSocket URL `apps.connections.open` returns."""

    def __init__(self, app: App, *, app_token: str, web_client: WebClient) -> None:
        self._handler = SocketModeHandler(app, app_token=app_token, web_client=web_client)

    def start(self) -> SocketTransport:
        self._handler.connect()
        return self

    def stop(self) -> None:
        self._handler.close()
