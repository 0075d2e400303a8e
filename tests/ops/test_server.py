"""bot.ops.server: the embedded waitress server over real sockets on 127.0.0.1, with an echo app."""

from __future__ import annotations

import http.client
import logging
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from bot.ops.server import MAX_BODY, Limits, Server, StartResponse, plain

Calls = list[bytes]


def _echo(calls: Calls) -> Any:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        calls.append(body)
        return plain(start_response, 200, f"got {len(body)}")
    return app


@pytest.fixture
def served() -> Iterator[tuple[Server, Calls]]:
    calls: Calls = []
    server = Server(_echo(calls), host="127.0.0.1", port=0, limits=Limits(channel_timeout=1, cleanup_interval=1))
    server.start()
    yield server, calls
    server.stop()


def _exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes and read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _refusals(caplog: pytest.LogCaptureFixture) -> list[tuple[str, Any]]:
    return [(r.getMessage(), getattr(r, "status", None)) for r in caplog.records if r.name.startswith("kukey.")]


def test_a_request_with_a_length_reaches_the_app_whole(served: tuple[Server, Calls]) -> None:
    """A POST with a plain Content-Length reaches the app with its whole body."""
    server, calls = served
    answer = httpx.post(f"http://127.0.0.1:{server.port}/x", content=b"a=1&b=2")
    assert (answer.status_code, answer.text) == (200, "got 7")
    assert calls == [b"a=1&b=2"]


@pytest.mark.parametrize(("headers", "status"), [
    ("Transfer-Encoding: chunked", 411),
    ("Content-Length: \u00b2", 411),
    ("Content-Length: 1e3", 411),
    (f"Content-Length: {MAX_BODY + 1}", 413),
])
def test_a_body_without_a_plain_length_or_too_large_is_refused_at_the_headers(
        served: tuple[Server, Calls], caplog: pytest.LogCaptureFixture, headers: str, status: int) -> None:
    """A chunked body, a length that is not ASCII digits, or one over the limit is refused as soon as the
    headers are in (no body is waited for), the app never sees it, and one log line says so."""
    server, calls = served
    caplog.set_level(logging.INFO, logger="kukey")
    started = time.monotonic()
    answer = _exchange(server.port, f"POST /x HTTP/1.1\r\nHost: x\r\n{headers}\r\n\r\n".encode())
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
    assert time.monotonic() - started < 1.0
    assert calls == []
    assert _refusals(caplog) == [("request refused", status)]


def test_a_body_of_exactly_the_limit_is_taken(served: tuple[Server, Calls]) -> None:
    """The size limit is inclusive: a body of MAX_BODY bytes reaches the app."""
    server, calls = served
    answer = httpx.post(f"http://127.0.0.1:{server.port}/x", content=b"x" * MAX_BODY)
    assert answer.status_code == 200 and len(calls[0]) == MAX_BODY


def test_a_stalled_client_is_dropped_while_others_are_served(served: tuple[Server, Calls]) -> None:
    """A client that stops sending mid-body holds no worker: another request is answered meanwhile, and the
    stalled connection is closed once it has been idle for the channel timeout."""
    server, calls = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stalled:
        stalled.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        assert httpx.post(f"http://127.0.0.1:{server.port}/x", content=b"ok").status_code == 200
        started = time.monotonic()
        assert stalled.recv(1024) == b""  # closed by the server, without an answer
        assert time.monotonic() - started < 5
    assert calls == [b"ok"]


def test_stop_closes_open_connections_and_the_port() -> None:
    """stop() returns promptly even with a keep-alive connection open, closes it, and stops listening."""
    server = Server(_echo([]), host="127.0.0.1", port=0).start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        response = http.client.HTTPResponse(conn)  # reads the whole answer, however many segments it took
        response.begin()
        assert response.status == 200
        response.read()
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 3
        assert conn.recv(1024) == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


def test_waitress_queue_warnings_come_at_most_one_per_interval_with_the_deepest_queue(
        caplog: pytest.LogCaptureFixture) -> None:
    """Under a burst waitress warns "Task queue depth is N" per queued request; kukey lets one line through
    per interval, saying the deepest queue and how many warnings it stands for (installed on waitress's
    logger, so that the I/O thread does not format a line per request when the acks need it most)."""
    from bot.ops.server import QueueWarnings

    now = [0.0]
    assert any(isinstance(f, QueueWarnings) for f in logging.getLogger("waitress.queue").filters)
    logger = logging.getLogger("kukey.test.queue")
    folding = QueueWarnings(every=10.0, clock=lambda: now[0])
    logger.addFilter(folding)
    try:
        with caplog.at_level(logging.WARNING, logger="kukey.test.queue"):
            for depth in [1, 2, 3, 40, 5]:
                logger.warning("Task queue depth is %d", depth)
                now[0] += 1.0
            now[0] = 10.0
            logger.warning("Task queue depth is %d", 7)
    finally:
        logger.removeFilter(folding)
    assert [r.getMessage() for r in caplog.records] == [
        "Task queue depth reached 1 (1 warnings in one line, at most one per 10 s)",
        "Task queue depth reached 40 (5 warnings in one line, at most one per 10 s)"]
