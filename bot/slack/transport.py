"""How Slack reaches the bot: HTTP (`/slack/events`, signed requests) or Socket Mode.

The HTTP server is a stdlib ThreadingHTTPServer that hands the raw body and headers to Bolt's
`App.dispatch` (Bolt verifies the signature over the raw bytes). Bolt's own `app.start()` server is a
single-threaded development server; acks must not queue behind one another, hence this one.
The same server answers `/healthz` and `/metrics` (see bot.metrics).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.request.internals import build_context
from slack_sdk import WebClient
from slack_sdk.signature import Clock as SdkClock
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger("kukey.transport")

MAX_BODY = 256 * 1024  # Slack's interaction payloads are far smaller; refuse anything larger
READ_TIMEOUT_S = 10.0  # a client that stalls mid-request (slowloris) loses its connection
EVENTS_PATH = "/slack/events"

# (status, content type, body) for GET endpoints such as /healthz and /metrics
GetRoute = Callable[[], tuple[int, str, bytes]]
AckObserver = Callable[[float, int], None]
Precheck = Callable[[bytes, Any], "tuple[int, str] | None"]


def slack_precheck(signing_secret: str, *, now: Callable[[], float] = time.time) -> Precheck:
    """Refuse, before Bolt sees it, what Slack would never send: a missing or wrong signature, a timestamp
    more than 5 minutes off, a body changed after signing, JSON instead of a form, an interaction payload
    that is not JSON or lacks what every Slack interaction carries (see `payload_problem`), a command
    without user or channel. One log line per refusal (by the transport), no audit event: forged traffic
    must not flood the log."""
    verifier = SignatureVerifier(signing_secret, clock=_Clock(now))

    def check(raw: bytes, headers: Any) -> tuple[int, str] | None:
        timestamp = headers.get("X-Slack-Request-Timestamp") or ""
        signature = headers.get("X-Slack-Signature") or ""
        if not timestamp or not signature:
            return 401, "missing signature headers"
        if not _DIGITS.fullmatch(timestamp) or abs(now() - int(timestamp)) > 300:
            return 401, "stale or invalid timestamp"
        try:
            text = raw.decode("utf-8")  # the SDK's verifier decodes too, and raises on anything else
        except UnicodeDecodeError:
            return 400, "body is not UTF-8"
        if not signature.isascii() or not verifier.is_valid(text, timestamp, signature):
            return 401, "invalid signature"
        return body_problem(text, headers.get("Content-Type") or "")

    return check


def body_problem(text: str, content_type: str) -> tuple[int, str] | None:
    """What is wrong with a signed body, or None: Slack posts commands and interactions as forms."""
    if "json" in content_type.lower() or text.lstrip().startswith("{"):
        return 415, "JSON body (Slack posts forms here)"
    form = dict(parse_qsl(text, keep_blank_values=True))  # last value wins, as in Bolt
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
            json.dumps(payload, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be stored
        except (ValueError, RecursionError):
            return 400, "payload is not JSON"
        problem = payload_problem(payload)
    elif "command" in form:
        problem = command_problem(form)
    else:
        problem = "neither a command nor an interaction"
    return None if problem is None else (400, problem)


def command_problem(form: dict[str, str]) -> str | None:
    """A slash command form: who, where and what, and no field that makes Bolt read it as something else."""
    if not all(_SLACK_ID.fullmatch(form.get(key, "")) for key in ("user_id", "channel_id")):
        return "command without a valid user or channel id"
    if "text" not in form or not form.get("trigger_id"):
        return "command without text or trigger_id"
    if any(key in form for key in _NOT_IN_COMMANDS):
        return "command with interaction fields"
    return None


def payload_problem(payload: Any) -> str | None:
    """An interaction payload kukey handles, shaped as Slack sends it (every field Bolt or kukey reads has
    Slack's type), or why not. Junk deeper inside (modal input values) is the listeners' to ignore."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return "payload has no type"
    kind = payload["type"]
    if kind not in _INTERACTIONS:
        return "unsupported interaction type"
    if any(key in payload for key in _NOT_IN_INTERACTIONS):
        return "interaction with event fields"
    user = payload.get("user")
    if not isinstance(user, dict) or not _SLACK_ID.fullmatch(_str(user.get("id"))):
        return "interaction without a valid user id"
    for key, fields in _OBJECTS.items():
        value = payload.get(key)
        if value is not None and not isinstance(value, dict):
            return f"{key} is not an object"
        if value and any(not isinstance(value.get(f), str | None) for f in fields):
            return f"{key} has a field of the wrong type"
    if any(not isinstance(payload.get(f), str | None) for f in _TOP_STRINGS):
        return "a top-level field of the wrong type"
    urls = payload.get("response_urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, dict) and isinstance(u.get("response_url"), str)
                                             for u in urls):
        return "response_urls of the wrong shape"
    if kind == "block_actions":
        return _actions_problem(payload)
    return _view_problem(payload)


def _actions_problem(payload: dict[str, Any]) -> str | None:
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(payload.get("trigger_id"), str):
        return "block_actions without actions or trigger_id"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "an action without action_id"
        if any(not isinstance(action.get(f), str | None) for f in _ACTION_STRINGS):
            return "an action field of the wrong type"
    return None


def _view_problem(payload: dict[str, Any]) -> str | None:
    view = payload.get("view")
    if not isinstance(view, dict) or view.get("type") != "modal":  # kukey opens modals only
        return "a view payload without a modal view"
    if not isinstance(view.get("callback_id"), str):
        return "a view without callback_id"
    if payload["type"] == "view_submission" and not isinstance(payload.get("trigger_id"), str):
        return "view_submission without trigger_id"
    state = view.get("state")
    if state is not None and not (isinstance(state, dict) and isinstance(state.get("values", {}), dict)):
        return "view state of the wrong shape"
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


_DIGITS = re.compile(r"[0-9]{1,12}")
_SLACK_ID = re.compile(r"[A-Z0-9][A-Z0-9_-]{1,39}")  # U0ALICE01, C0APPROVALS, T0..., W...
_INTERACTIONS = frozenset({"block_actions", "view_submission", "view_closed"})
# Events API fields: Bolt follows them into other code paths; Slack never puts them in an interaction.
_NOT_IN_INTERACTIONS = ("authorizations", "event", "item", "assistant_thread", "function_data",
                        "previous_message", "workflow_step")
_NOT_IN_COMMANDS = ("type", "payload", "authorizations", "response_urls", "event")
# objects Bolt and the listeners read, and their fields that must be strings when present
_OBJECTS = {
    "user": ("id", "username", "name", "team_id"),
    "team": ("id", "domain", "enterprise_id"),
    "enterprise": ("id", "name"),
    "channel": ("id", "name"),
    "container": ("type", "message_ts", "channel_id", "thread_ts", "view_id"),
    "message": ("ts", "thread_ts", "user", "text"),
    "view": ("id", "type", "callback_id", "private_metadata", "team_id", "app_installed_team_id", "hash"),
}
_TOP_STRINGS = ("type", "trigger_id", "response_url", "api_app_id", "token", "enterprise_id", "team_id",
                "user_id", "channel_id", "thread_ts", "function_execution_id", "bot_access_token")
_ACTION_STRINGS = ("action_id", "block_id", "value", "type", "action_ts")


class _Clock(SdkClock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
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
            self.close_connection = True
            self._refuse(404, "unknown path")
            return
        raw = self._read_body()
        if raw is None:
            return
        problem = self.server.precheck(raw, self.headers) if self.server.precheck else None
        if problem is not None:
            self._refuse(*problem)
            return
        body = raw.decode("utf-8", errors="replace")
        headers: dict[str, str | Sequence[str]] = {k.lower(): [v] for k, v in self.headers.items()}
        try:
            bolt_response = self.server.app.dispatch(_bolt_request(body, headers))
        except Exception as exc:  # Bolt could not even parse it: the payload is malformed, not our failure
            self._refuse(400, f"Bolt could not process the payload ({type(exc).__name__})")
            return
        status = bolt_response.status
        if status >= 400:
            log.warning("slack request refused", extra={"status": status, "path": self.path})
        out = bolt_response.body.encode("utf-8") if isinstance(bolt_response.body, str) else b""
        extra = {k: v[0] for k, v in bolt_response.headers.items() if v and k.lower() != "content-length"}
        ctype = extra.pop("content-type", "text/plain; charset=utf-8")
        self._send(status, out, ctype, extra)
        if self.server.on_ack:
            self.server.on_ack(time.perf_counter() - started, status)

    def _read_body(self) -> bytes | None:
        """The body, or None after refusing it (no or a bad length, too large, short or stalled)."""
        length_text = self.headers.get("Content-Length", "")
        if not _DIGITS.fullmatch(length_text):
            self.close_connection = True  # the body's end is unknown: the connection cannot go on
            self._refuse(411, "no content length")
            return None
        length = int(length_text)
        if length > MAX_BODY:
            self.close_connection = True
            self._refuse(413, "payload too large", bytes=length)
            return None
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            self._refuse(408, "body not received in time")
            return None
        if len(raw) != length:
            self.close_connection = True
            self._refuse(400, "body shorter than its content length")
            return None
        return raw

    def _refuse(self, status: int, reason: str, **fields: Any) -> None:
        log.warning("slack request refused", extra={"status": status, "reason": reason, **fields})
        try:
            self._send(status, reason.encode())
        except OSError:  # the client is gone already
            self.close_connection = True


def _bolt_request(body: str, headers: dict[str, str | Sequence[str]]) -> BoltRequest:
    """Bolt reads any form body containing the word "payload" as an interaction; a slash command whose
    text says "payload" would reach Bolt empty and go unhandled. Give Bolt the command fields then."""
    request = BoltRequest(body=body, headers=headers)
    if not request.body and "payload" in body:
        form = dict(parse_qsl(body, keep_blank_values=True))
        if "payload" not in form:
            request.body = form
            request.context = build_context(BoltContext({}), form)
    return request


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
        self._handler.connect()  # type: ignore[no-untyped-call]
        return self

    def stop(self) -> None:
        self._handler.close()  # type: ignore[no-untyped-call]
