"""Real receivers on 127.0.0.1 for the audit stream's tests, on ports the OS chooses: an HTTP server that
records every POST and what it answered, and syslog listeners over TCP (RFC 6587 octet counting) and UDP.
Each can be stopped (its port refuses connections) and started again on the same port."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OK, FAIL, HANG = "ok", "fail", "hang"


@dataclass
class Post:
    """One request the webhook receiver got: its headers, its body, and whether it answered 2xx."""

    headers: dict[str, str]
    body: bytes
    acknowledged: bool = False

    @property
    def seq(self) -> int:
        return int(json.loads(self.body)["seq"])

    def signed_by(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-kukey-signature", ""), expected)


@dataclass
class WebhookReceiver:
    """Answers 200 (mode "ok"), 503 ("fail"), or holds each request until `release()` ("hang")."""

    mode: str = OK
    posts: list[Post] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one request per connection, so stop() is a stop
            def do_POST(self) -> None:
                post = Post({k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    receiver.posts.append(post)
                    mode = receiver.mode
                if mode == HANG:
                    receiver._released.wait(timeout=120)
                self.send_response(503 if mode == FAIL else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.wfile.flush()
                post.acknowledged = mode != FAIL

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def release(self) -> None:
        """Answer every held request, and hold no more."""
        with self._lock:
            self.mode = OK
        self._released.set()

    def seqs(self) -> list[int]:
        with self._lock:
            return [p.seq for p in self.posts]

    def acknowledged(self) -> list[int]:
        with self._lock:
            return [p.seq for p in self.posts if p.acknowledged]


class SyslogReceiver:
    """A syslog listener on 127.0.0.1 over "tcp" (octet-counted frames) or "udp" (one message a datagram),
    recording each message's bytes."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.port = 0
        self.messages: list[bytes] = []
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._server: socketserver.BaseServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"syslog+{self.transport}://127.0.0.1:{self.port}"

    def start(self) -> SyslogReceiver:
        receiver = self

        class Stream(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with receiver._lock:
                    receiver._connections.append(self.connection)
                while (length := _read_length(self.rfile)) is not None:
                    receiver._record(self.rfile.read(length))

        class Datagram(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                receiver._record(self.request[0])

        tcp = self.transport == "tcp"
        server_class = socketserver.ThreadingTCPServer if tcp else socketserver.UDPServer
        server_class.allow_reuse_address = True
        server: Any = server_class(("127.0.0.1", self.port), Stream if tcp else Datagram)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and close every open connection (the sender sees the close)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def _record(self, data: bytes) -> None:
        with self._lock:
            self.messages.append(data)

    def parsed(self) -> list[Syslog]:
        with self._lock:
            return [parse_rfc5424(m) for m in self.messages]


def _read_length(stream: Any) -> int | None:
    digits = b""
    while (c := stream.read(1)) not in (b" ", b""):
        digits += c
    return int(digits) if digits and c == b" " else None


# RFC 5424's ABNF as regular expressions, written from section 6 of the RFC (not from kukey's code).
_PRINT = r"[\x21-\x7e]"
_SD_NAME = r'[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]{1,32}'  # PRINTUSASCII but '=', ']', '"' (and SP)
_PARAM_VALUE = r'(?:[^"\\\]]|\\["\\\]])*'
_HEADER = re.compile(
    rf"<(?P<pri>\d{{1,3}})>(?P<version>[1-9]\d{{0,2}}) "
    r"(?P<timestamp>-|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})) "
    rf"(?P<hostname>{_PRINT}{{1,255}}) (?P<app>{_PRINT}{{1,48}}) (?P<procid>{_PRINT}{{1,128}}) "
    rf"(?P<msgid>{_PRINT}{{1,32}}) (?P<sd>-|(?:\[{_SD_NAME}(?: {_SD_NAME}=\"{_PARAM_VALUE}\")*\])+)"
    r"(?: (?P<msg>.*))?\Z", re.DOTALL)
_ELEMENT = re.compile(rf"\[({_SD_NAME})((?: {_SD_NAME}=\"{_PARAM_VALUE}\")*)\]")
_PARAM = re.compile(rf" ({_SD_NAME})=\"({_PARAM_VALUE})\"")


@dataclass(frozen=True)
class Syslog:
    pri: int
    timestamp: str
    hostname: str
    app: str
    procid: str
    msgid: str
    sd: dict[str, dict[str, str]]
    msg: str


def parse_rfc5424(data: bytes) -> Syslog:
    """An RFC 5424 message, or AssertionError naming what does not conform."""
    text = data.decode("utf-8")
    match = _HEADER.match(text)
    assert match, f"not RFC 5424: {text[:200]!r}"
    sd = {} if match["sd"] == "-" else {
        sd_id: {name: re.sub(r"\\(.)", r"\1", value) for name, value in _PARAM.findall(params)}
        for sd_id, params in _ELEMENT.findall(match["sd"])}
    return Syslog(int(match["pri"]), match["timestamp"], match["hostname"], match["app"], match["procid"],
                  match["msgid"], sd, match["msg"] or "")
