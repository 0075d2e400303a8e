"""The production HTTP server kukey embeds: waitress (pure Python, threaded, no fork), run in a thread.

kukey keeps a scheduler thread and a worker pool in its own process, so a pre-fork server (gunicorn) does
not fit; Bolt's `app.start()` is a single-threaded development server. `Server` serves one WSGI app on one
port: the Slack endpoint (bot.slack.http) or the ops endpoints (bot.ops.endpoints).

Waitress reads each request whole before the app sees it, on its own I/O thread, so a slow client holds
no worker thread. On top of waitress's limits, kukey refuses at the headers a body whose end is not known
from a plain Content-Length (chunked, or a length that is not ASCII digits) with 411, and logs every request
waitress itself refuses (411, 413, 431, malformed HTTP) once, as the app logs its own refusals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any, cast

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask
from waitress.utilities import Error

log = logging.getLogger("kukey.http")

MAX_BODY = 256 * 1024  # Slack's interaction payloads are far smaller; refuse anything larger
IDLE_TIMEOUT_S = 10  # a client that stalls mid-request (slowloris) loses its connection after this

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Limits:
    """Waitress adjustments (see waitress's docs, "Arguments to waitress.serve")."""

    threads: int = 16  # concurrent requests in the app; more wait in waitress's queue
    connection_limit: int = 100
    channel_timeout: int = IDLE_TIMEOUT_S  # seconds without a byte in or out before a connection is closed
    cleanup_interval: int = 2  # how often idle connections are looked for (waitress's default is 30 s)
    max_request_body_size: int = MAX_BODY + 1  # waitress refuses a length >= this one with 413
    max_request_header_size: int = 32 * 1024
    backlog: int = 1024


SLACK_LIMITS = Limits()
OPS_LIMITS = Limits(threads=2, max_request_body_size=1024)  # GET only: Prometheus and the health checks
QUEUE_WARNING_EVERY = 10.0  # seconds: at most one "Task queue depth" line from waitress per this long


class QueueWarnings(logging.Filter):
    """Waitress warns "Task queue depth is N" for every request queued while its threads are all busy: under a
    burst, a line per request, formatted and written on the server's I/O thread (measured: 953 lines during a
    burst of 2,000 creates, a quarter of the CPU the serving process spent on them, when the acks needed it
    most). This lets one through per `every` seconds, saying the deepest queue since the last one and how many
    lines it stands for."""

    def __init__(self, every: float = QUEUE_WARNING_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._every = every
        self._clock = clock
        self._next = -float("inf")
        self._deepest = 0
        self._held = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        depth = record.args[0] if isinstance(record.args, tuple) and record.args else 0
        with self._lock:
            self._deepest = max(self._deepest, depth if isinstance(depth, int) else 0)
            self._held += 1
            now = self._clock()
            if now < self._next:
                return False
            record.msg = "Task queue depth reached %d (%d warnings in one line, at most one per %g s)"
            record.args = (self._deepest, self._held, self._every)
            self._next, self._deepest, self._held = now + self._every, 0, 0
        return True


logging.getLogger("waitress.queue").addFilter(QueueWarnings())


class Server:
    """Serves `app` on host:port (port 0: the OS picks one) in a background thread until `stop()`."""

    def __init__(self, app: WsgiApp, *, host: str, port: int, limits: Limits = SLACK_LIMITS,
                 name: str = "kukey-http") -> None:
        self._map: dict[int, Any] = {}  # our own socket map: stop() closes exactly this server's sockets
        server = create_server(app, map=self._map, host=host, port=port, ident="kukey", asyncore_use_poll=True,
                               **asdict(limits))
        assert isinstance(server, BaseWSGIServer)  # one address to listen on: one server
        server.channel_class = _StrictChannel  # accepted connections get kukey's parser and error logging
        self._server = server
        self.port = int(server.getsockname()[1])  # the port bound (port 0: the one the OS picked)
        self._name = name
        self._stopping = threading.Event()
        self._closing = False  # set (under _lock) by the loop before it closes the trigger and the sockets
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> Server:
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, let requests in progress finish (up to 5 s), then close every connection."""
        self._stopping.set()
        if self._thread is None:
            self._close()
            return
        with self._lock:  # never write to the trigger once the loop may have closed it (its fd reused)
            if not self._closing:
                self._server.pull_trigger()  # wakes the I/O loop, which closes everything in its own thread
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set() and self._map:
                wasyncore.loop(timeout=1.0, map=self._map, use_poll=True, count=1)
        except Exception:  # waitress handles each connection's errors; this is the server itself failing
            log.exception("the HTTP server stopped", extra={"server": self._name})
        finally:
            with self._lock:
                self._closing = True
            self._close()

    def _close(self) -> None:
        self._server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(self._map, ignore_all=True)


def plain(start_response: StartResponse, status: int, body: str) -> list[bytes]:
    """Answer `status` with a short plain-text body (a WSGI app's return value)."""
    start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", "text/plain; charset=utf-8"),
                                                             ("Cache-Control", "no-store")])
    return [body.encode()]


class _LengthRequired(Error):
    code = 411
    reason = "Length Required"


class _StrictParser(HTTPRequestParser):
    """Waitress's request parser, which also refuses (411) a chunked body and a Content-Length that is not
    ASCII digits as soon as the headers are in: Slack always sends a plain Content-Length."""

    _length_checked = False

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if self.headers_finished and not self._length_checked:
            self._length_checked = True
            length = self.headers.get("CONTENT_LENGTH")
            if self.chunked:
                self.error, self.completed = _LengthRequired("chunked body"), True
            elif length is not None and not (length.isascii() and length.isdigit()):
                self.error, self.completed = _LengthRequired("invalid Content-Length"), True
        return consumed


class _LoggedErrorTask(ErrorTask):
    """The answer waitress gives a request it refuses itself, logged once (no headers, no body)."""

    def execute(self) -> None:
        error = cast(HTTPRequestParser, self.request).error  # waitress's stubs call the parser an Error
        assert error is not None  # an ErrorTask only answers a request with an error
        log.warning("request refused", extra={"status": error.code, "reason": str(error.body)[:200]})
        super().execute()


class _StrictChannel(HTTPChannel):
    parser_class = _StrictParser
    error_task_class = _LoggedErrorTask
