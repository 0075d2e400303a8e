"""The sandbox's HTTP layer: a ThreadingHTTPServer on 127.0.0.1 plus the /_sandbox/ control endpoints; with a
certificate, HTTPS as KuCoin speaks it (kukey_sandbox.tls.TlsServing).

Control (no auth, loopback only): GET /_sandbox/state; POST /_sandbox/faults with any of
{"latency": {"seconds", "path"}, "fail_next": {...}, "rate_limit_next": {...}, "drop_next": {...},
"clock_skew_ms": int} (keyword arguments of the KucoinSandbox methods of the same names);
POST /_sandbox/faults/clear. The request log never goes to the process log: queries carry passphrases.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from kukey_sandbox.kucoin.messages import Answer, RecordedRequest
from kukey_sandbox.tls import LocalCertificate, TlsServing

if TYPE_CHECKING:
    from kukey_sandbox.kucoin.sandbox import KucoinSandbox

log = logging.getLogger("kukey_sandbox.kucoin")
CONTROL = "/_sandbox/"


class SandboxServer:
    """Owns the listening socket, the serving thread and the open connections."""

    def __init__(self, sandbox: KucoinSandbox, host: str, port: int, tls: LocalCertificate | None = None) -> None:
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.opened = 0  # connections accepted so far
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.tls = tls.server_context() if tls else None
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def refused_handshakes(self) -> int:
        """TLS handshakes a client broke off (a client that does not trust the sandbox's certificate)."""
        return self._httpd.refused_handshakes

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self._httpd.tls else 'http'}://{host!s}:{port}"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="kucoin-sandbox", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
                self.opened += 1
            else:
                self._conns.discard(conn)


class _HTTPServer(TlsServing, ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 50 deletes at once (an incident revoke) must not hit SYN retries
    owner: SandboxServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 30  # idle keep-alive connections are closed after this

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls
        self.server.owner.track(self.connection, add=True)

    def finish(self) -> None:
        self.server.owner.track(self.connection, add=False)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("sandbox %s %s -> %s", self.command, self.path.partition("?")[0], code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox: %s", self.path.partition("?")[0] if hasattr(self, "path") else "")

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, raw_query = self.path.partition("?")
        sandbox = self.server.owner.sandbox
        if path.startswith(CONTROL):
            self._write(*control(sandbox, self.command, path, body))
            return
        headers = {name.upper(): value for name, value in self.headers.items()}
        req = RecordedRequest(self.command, path, raw_query, headers, body, self.client_address[1])
        sandbox.record(req)
        delay = sandbox.faults.delay_for(path)
        if delay > 0:
            self.server.owner.stopping.wait(delay)
        result = sandbox.handle(req, self.client_address[0])
        self._answer(result, f"{req.method} {req.path}")

    def _answer(self, result: Answer, call: str) -> None:
        sandbox = self.server.owner.sandbox
        if result.doc is None:
            sandbox.count_answer("dropped", call)
            if result.hang > 0:
                self.server.owner.stopping.wait(result.hang)
            self.close_connection = True
            return
        sandbox.count_answer(str(result.doc.get("code")), call)
        self._write(result.status, result.doc, result.headers)

    def _write(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def control(sandbox: KucoinSandbox, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """The /_sandbox/ endpoints: state for tests in other processes, fault injection."""
    try:
        if method == "GET" and path == CONTROL + "state":
            return 200, sandbox.state()
        if method == "POST" and path == CONTROL + "faults/clear":
            sandbox.clear_faults()
            return 200, sandbox.faults.describe()
        if method == "POST" and path == CONTROL + "faults":
            _apply_faults(sandbox, json.loads(body or b"{}"))
            return 200, sandbox.faults.describe()
    except (ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"no control endpoint {method} {path}"}


def _apply_faults(sandbox: KucoinSandbox, spec: dict[str, Any]) -> None:
    unknown = set(spec) - {"latency", "fail_next", "rate_limit_next", "drop_next", "clock_skew_ms"}
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
    if "latency" in spec:
        sandbox.set_latency(float(spec["latency"]["seconds"]), spec["latency"].get("path"))
    if "fail_next" in spec:
        sandbox.fail_next(**spec["fail_next"])
    if "rate_limit_next" in spec:
        sandbox.rate_limit_next(**spec["rate_limit_next"])
    if "drop_next" in spec:
        sandbox.drop_next(**spec["drop_next"])
    if "clock_skew_ms" in spec:
        sandbox.set_clock_skew(int(spec["clock_skew_ms"]))
