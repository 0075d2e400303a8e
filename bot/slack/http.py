"""HTTP mode: Slack posts to `/slack/events`, served by bot.ops.server (waitress) through Bolt's WSGI adapter.

`SlackGate` is WSGI middleware in front of `slack_bolt.adapter.wsgi.SlackRequestHandler`: it answers 404
for any other path (the health and metrics endpoints are on their own port, bot.ops.endpoints), refuses a
body without a plain length or over the size limit, runs the precheck (bot.slack.precheck: the signature,
verified here once, and the body's shape: forms for commands and interactions, JSON for Events API
callbacks), logs each refusal in one line, and times every answer Bolt gives
(the ack latency metric). With a worker process, a slash command whose ack is empty and whose work is the
worker's is handed over here and acked without Bolt (`shortcut`: bot.slack.handoff.CommandShortcut).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.ops.server import MAX_BODY, SLACK_LIMITS, Server, StartResponse, WsgiApp, plain
from bot.slack.precheck import Precheck

log = logging.getLogger("kukey.transport")

EVENTS_PATH = "/slack/events"
AckObserver = Callable[[float, int], None]  # (seconds from request in to answer out, HTTP status)
# (the body as Bolt gets it, its headers as Bolt's request has them) -> True: handed over, ack it empty
Shortcut = Callable[[bytes, Mapping[str, list[str]]], bool]
_SLACK_HEADERS = {"x-slack-request-timestamp": "HTTP_X_SLACK_REQUEST_TIMESTAMP",
                  "x-slack-signature": "HTTP_X_SLACK_SIGNATURE", "content-type": "CONTENT_TYPE"}


class SlackGate:
    """WSGI middleware: refuse what Slack would never send, pass the rest to Bolt (`bolt`)."""

    def __init__(self, bolt: WsgiApp, *, precheck: Precheck | None, on_ack: AckObserver | None = None,
                 shortcut: Shortcut | None = None) -> None:
        self._bolt = bolt
        self._precheck = precheck
        self._on_ack = on_ack
        self._shortcut = shortcut if precheck is not None else None  # only once the signature was verified here

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        if environ.get("PATH_INFO") != EVENTS_PATH or environ.get("REQUEST_METHOD") != "POST":
            return _refuse(start_response, 404, "unknown path")
        raw, problem = _read_body(environ)
        if problem is None and self._precheck is not None:
            headers = {name: environ.get(key, "") for name, key in _SLACK_HEADERS.items()}
            problem = self._precheck(raw, headers)
        if problem is not None:
            return _refuse(start_response, *problem)
        body = bolt_safe(raw)
        if self._shortcut is not None and self._handed(body, environ):
            acked = _ack(start_response)
            if self._on_ack is not None:
                self._on_ack(time.perf_counter() - started, 200)
            return acked
        answered: list[int] = []

        def answer(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        try:
            out = self._bolt({**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}, answer)
        except Exception as exc:  # Bolt could not even parse it: the payload is malformed, not our failure
            return _refuse(start_response, 400, f"Bolt could not process the payload ({type(exc).__name__})")
        status = answered[0] if answered else 500
        if status >= 400:
            log.warning("slack request refused", extra={"status": status, "path": EVENTS_PATH})
        if self._on_ack is not None:
            self._on_ack(time.perf_counter() - started, status)
        return out

    def _handed(self, body: bytes, environ: dict[str, Any]) -> bool:
        assert self._shortcut is not None
        try:
            return self._shortcut(body, bolt_headers({**environ, "CONTENT_LENGTH": str(len(body))}))
        except Exception as exc:  # Bolt takes it, and answers what its listeners make of it
            log.warning("command shortcut failed; left to Bolt", extra={"error": type(exc).__name__})
            return False


def bolt_headers(environ: Mapping[str, Any]) -> dict[str, list[str]]:
    """The request's headers as Bolt's WSGI adapter reads them (lower-case names), each a list of values as
    in Bolt's request."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            headers[key.removeprefix("HTTP_").lower().replace("_", "-")] = [str(value)]
    return headers


def _ack(start_response: StartResponse) -> list[bytes]:
    """The empty ack, as Bolt answers `ack()`."""
    start_response("200 OK", [("Content-Type", "text/plain;charset=utf-8"), ("Content-Length", "0")])
    return [b""]


def bolt_safe(raw: bytes) -> bytes:
    """The body as Bolt must see it. Bolt reads any form body containing the word "payload" as an interaction,
    so a slash command whose text says "payload" would reach Bolt empty and go unhandled. A body without a
    `payload` field (a command) gets the word's first letter percent-encoded: the form decodes to the same
    fields, and Bolt sees a command. Only after the signature was verified over the raw bytes. A JSON body
    (an event: the precheck lets no other JSON through) is Bolt's as it is."""
    if b"payload" not in raw or raw.startswith(b"{") or _has_payload_field(raw):
        return raw
    return raw.replace(b"payload", b"%70ayload")


def _has_payload_field(raw: bytes) -> bool:
    return any(unquote_to_bytes(part.partition(b"=")[0].replace(b"+", b" ")) == b"payload"
               for part in raw.split(b"&"))


def _read_body(environ: dict[str, Any]) -> tuple[bytes, tuple[int, str] | None]:
    """The body, or why it is refused (no or a bad length, too large, shorter than its length)."""
    length = environ.get("CONTENT_LENGTH") or ""
    if not (length.isascii() and length.isdigit()):
        return b"", (411, "no content length")
    if int(length) > MAX_BODY:
        return b"", (413, "payload too large")
    raw: bytes = environ["wsgi.input"].read(int(length))
    if len(raw) != int(length):
        return b"", (400, "body shorter than its content length")
    return raw, None


def _refuse(start_response: StartResponse, status: int, reason: str) -> list[bytes]:
    log.warning("slack request refused", extra={"status": status, "reason": reason})
    return plain(start_response, status, reason)


class HttpTransport:
    """Serves `/slack/events` on host:port (port 0: any) with bot.ops.server, in a background thread.
    Without a precheck (the benchmark's bare Bolt floor), Bolt verifies the signature itself."""

    def __init__(self, app: App, *, host: str = "127.0.0.1", port: int = 0, on_ack: AckObserver | None = None,
                 precheck: Precheck | None = None, shortcut: Shortcut | None = None) -> None:
        gate = SlackGate(SlackRequestHandler(app, path=EVENTS_PATH), precheck=precheck, on_ack=on_ack,
                         shortcut=shortcut)
        self._server = Server(gate, host=host, port=port, limits=SLACK_LIMITS, name="kukey-http")

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{EVENTS_PATH}"

    def start(self) -> HttpTransport:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
