"""The revoke's floors on this machine, each the same deletes sent all at once from a fresh process, without
kukey's command, TOTP check, database or job. `python -m bench.direct`, spec as JSON on stdin, result as JSON
on stdout.

- `delete_all`: kukey's KuCoin client alone (httpx, a thread per delete), once it has talked to KuCoin
  (clock synced, rate-limit budget known): what the client costs.
- `delete_raw` (spec "raw"): no HTTP client at all. A connection per delete opened (and TLS shaken hands)
  beforehand, then each delete signed as kukey signs it and written from one thread with nothing between
  them, and the answers read as they come: the least this machine's stand-in (the sandbox, a Python
  process on the same CPUs) lets any client reach. KuCoin is not on these CPUs; the gap between this and
  the floor is the harness's, not kukey's.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from bench.procs import python_env
from bot.domain.clock import SystemClock
from bot.domain.secret import Secret
from bot.kucoin.client import KucoinClient
from bot.kucoin.signing import Credentials, auth_headers, wire_query
from bot.kucoin.transport import DELETE_KEY
from bot.tls import shared_context


def delete_all(spec: dict[str, Any]) -> dict[str, float]:
    creds = spec["credentials"]
    with KucoinClient(base_url=spec["url"], api_key=creds[0], api_secret=Secret(creds[1]),
                      api_passphrase=Secret(creds[2]), clock=SystemClock()) as client:
        client.list_keys(spec["sub_account"])  # clock offset and the pool's budget, as a running bot has them
        keys: list[tuple[str, str]] = [(str(k), str(p)) for k, p in spec["keys"]]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(keys)) as pool:
            list(pool.map(lambda k: client.delete_key(spec["sub_account"], k[0], Secret(k[1])), keys))
        return {"started": started, "all_answered": time.perf_counter()}


def delete_raw(spec: dict[str, Any]) -> dict[str, float]:
    creds = Credentials(spec["credentials"][0], Secret(spec["credentials"][1]), Secret(spec["credentials"][2]))
    url = urlsplit(spec["url"])
    host, port = url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)
    with KucoinClient(base_url=spec["url"], api_key=creds.api_key, api_secret=creds.api_secret,
                      api_passphrase=creds.api_passphrase, clock=SystemClock()) as client:
        offset_ms = client.sync_clock().offset_ms  # KuCoin's clock, as kukey's client reads it
    keys: list[tuple[str, str]] = [(str(k), str(p)) for k, p in spec["keys"]]
    conns = [_connect(host, port, url.scheme == "https") for _ in keys]
    try:
        started = time.perf_counter()
        for conn, (api_key, passphrase) in zip(conns, keys, strict=True):
            conn.sendall(_signed_delete(creds, host, port, spec["sub_account"], api_key, passphrase, offset_ms))
        codes = _read_answers(conns)
        answered = time.perf_counter()
    finally:
        for conn in conns:
            conn.close()
    if set(codes) != {"200000"}:
        raise RuntimeError(f"raw deletes answered {sorted(set(codes))}")
    return {"started": started, "all_answered": answered}


def _connect(host: str, port: int, tls: bool) -> socket.socket:
    conn = socket.create_connection((host, port), timeout=30)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return shared_context().wrap_socket(conn, server_hostname=host) if tls else conn


def _signed_delete(creds: Credentials, host: str, port: int, sub: str, api_key: str, passphrase: str,
                   offset_ms: int) -> bytes:
    params = (("apiKey", api_key), ("subName", sub), ("passphrase", passphrase))
    headers = auth_headers(creds, timestamp=str(int(time.time() * 1000) + offset_ms), method=DELETE_KEY.method,
                           path=DELETE_KEY.path, params=params)
    lines = [f"{DELETE_KEY.method} {DELETE_KEY.path}?{wire_query(params)} HTTP/1.1", f"Host: {host}:{port}",
             "Content-Length: 0", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_answers(conns: list[socket.socket]) -> list[str]:
    """Each connection's KuCoin code, read in turn with http.client (every delete was sent first; the bench
    times the sandbox's removals, not these reads)."""
    codes = []
    for conn in conns:
        answer = http.client.HTTPResponse(conn)
        answer.begin()
        codes.append(str(json.loads(answer.read()).get("code")))
    return codes


def run_in_process(spec: dict[str, Any]) -> subprocess.Popen[str]:
    """Start the deletes in their own process; read the result with `result(proc)`."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.direct"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=python_env())
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec) + "\n")  # one line: the child starts once it has read it
    proc.stdin.flush()
    return proc


def result(proc: subprocess.Popen[str], timeout: float = 120.0) -> dict[str, float]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"direct deletes failed ({proc.returncode}): {err[-2000:]}")
    return dict(json.loads(out))


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    json.dump(delete_raw(spec) if spec.get("raw") else delete_all(spec), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
