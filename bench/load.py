"""The load generator: N concurrent senders POST signed Slack requests, each on a new connection, and time
every ack (from before connect to the last byte of the answer).

It runs in its own process (`python -m bench.load`, spec as JSON on stdin, result as JSON on stdout),
so that the sender's CPU time does not share a GIL with the app it measures. The body is fixed before
the clock starts; the v0 signature (wall-clock timestamp, as Slack does) is computed per request, also
before the clock starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, in completion order
    acked_at: dict[int, float] = field(default_factory=dict)  # body index -> wall clock (time.time()) of its ack
    statuses: dict[str, int] = field(default_factory=dict)
    non_empty: int = 0  # answers with a body (kukey acks an accepted create with an empty body)
    samples: list[str] = field(default_factory=list)  # a few unexpected answers, for the report
    wall: float = 0.0


def _request(host: str, port: int, path: str, body: bytes, secret: bytes) -> bytes:
    stamp = str(int(time.time()))
    signature = "v0=" + hmac.new(secret, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "User-Agent: Slackbot 1.0 (+https://api.slack.com/robots)\r\n"
            f"X-Slack-Request-Timestamp: {stamp}\r\nX-Slack-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


async def _send(host: str, port: int, data: bytes) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = await reader.readexactly(length) if length else b""
        elapsed = time.perf_counter() - started
        status = int(head.split(b" ", 2)[1])
    finally:
        writer.close()
    return elapsed, status, body


async def run(url: str, secret: str, bodies: list[str], concurrency: int, rate: float = 0.0) -> LoadResult:
    """Send every body once, `concurrency` at a time (closed loop: a sender waits for its ack); with `rate`,
    body i leaves no earlier than i / rate seconds after the start (an open loop at that pace, as long as
    `concurrency` senders are enough for it)."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    key = secret.encode()
    result = LoadResult()
    queue = iter(enumerate(bodies))
    started = time.perf_counter()

    async def sender() -> None:
        for index, body in queue:
            if rate:
                await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            data = _request(host, port, path, body.encode(), key)
            try:
                elapsed, status, answer = await _send(host, port, data)
            except (OSError, asyncio.IncompleteReadError) as exc:
                result.statuses[type(exc).__name__] = result.statuses.get(type(exc).__name__, 0) + 1
                continue
            result.latencies.append(elapsed)
            result.acked_at[index] = time.time()
            result.statuses[str(status)] = result.statuses.get(str(status), 0) + 1
            if answer.strip() or status != 200:
                result.non_empty += 1
                if len(result.samples) < 5:
                    result.samples.append(f"{status}: {answer[:160].decode('utf-8', 'replace')}")

    await asyncio.gather(*(sender() for _ in range(max(1, concurrency))))
    result.wall = time.perf_counter() - started
    return result


def run_in_process(url: str, secret: str, bodies: list[str], concurrency: int, *, rate: float = 0.0,
                   timeout: float = 600.0) -> LoadResult:
    """Run the generator as its own process and return what it measured."""
    spec = json.dumps({"url": url, "secret": secret, "bodies": bodies, "concurrency": concurrency, "rate": rate})
    from bench.procs import python_env

    done = subprocess.run([sys.executable, "-m", "bench.load"], input=spec, capture_output=True, text=True,
                          timeout=timeout, check=False, env=python_env())
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    out = json.loads(done.stdout)
    out["acked_at"] = {int(i): t for i, t in out["acked_at"].items()}  # JSON keys are strings
    return LoadResult(**out)


def main() -> int:
    spec: dict[str, Any] = json.loads(sys.stdin.read())
    result = asyncio.run(run(spec["url"], spec["secret"], spec["bodies"], int(spec["concurrency"]),
                             float(spec.get("rate", 0.0))))
    json.dump(result.__dict__, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
