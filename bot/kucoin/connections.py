"""The KuCoin client's connections: several small httpx pools instead of one large one.

Why our own: an incident revoke sends a whole window's deletes at once (66) and a kill switch does so once
per window, each delete on a connection of its own. httpcore 1.0's pool (behind every `httpx.Client`)
walks all of its connections for every queued request, and for each idle one counts the idle ones again,
each time a request starts or a response closes, under the pool's lock: quadratic in the connections in
use. Measured with 50 parallel deletes on kept-alive connections (docs/benchmarks.md, "A burst's
connections in eight pools"): about half of the client's CPU for the burst, and the last request left
50 ms after the first. The fix upstream (encode/httpcore#1035) is not merged; it is released only in the
httpx2 fork. Until kukey moves to it, `ConnectionShards` spreads the calls over `SHARDS` pools of httpx's
own transport (public API only), each with its share of the limits: a pool's pass then walks a few
connections, not 66.

A call goes to the pool with the fewest calls in flight, the first on a tie: one call at a time (most of
kukey's calls) always uses the first pool and its kept-alive connection, as one pool would; a burst
spreads evenly, so each pool keeps its share of the burst's connections alive for the next one.
"""

from __future__ import annotations

import math
import threading
import urllib.request
from collections.abc import Callable, Iterator

import httpx

from bot.tls import http_client, shared_context

SHARDS = 8


class _Released(httpx.SyncByteStream):
    """A response body that tells its pool's count once it is closed (read to the end, or closed early)."""

    def __init__(self, stream: httpx.SyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class ConnectionShards(httpx.BaseTransport):
    """`shards` httpx transports sharing `limits` between them; each call goes to the least busy one."""

    def __init__(self, limits: httpx.Limits, *, shards: int = SHARDS) -> None:
        share = httpx.Limits(
            max_connections=_share(limits.max_connections, shards),
            max_keepalive_connections=_share(limits.max_keepalive_connections, shards),
            keepalive_expiry=limits.keepalive_expiry,
        )
        self.pools = [httpx.HTTPTransport(verify=shared_context(), limits=share) for _ in range(shards)]
        self._in_flight = [0] * shards
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            index = min(range(len(self._in_flight)), key=self._in_flight.__getitem__)
            self._in_flight[index] += 1
        try:
            response = self.pools[index].handle_request(request)
        except BaseException:
            self._release(index)
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(status_code=response.status_code, headers=response.headers,
                              stream=_Released(response.stream, lambda: self._release(index)),
                              extensions=response.extensions)

    def in_flight(self) -> list[int]:
        """Calls in flight per pool (tests, diagnostics)."""
        with self._lock:
            return list(self._in_flight)

    def _release(self, index: int) -> None:
        with self._lock:
            self._in_flight[index] -= 1

    def close(self) -> None:
        for pool in self.pools:
            pool.close()


def _share(limit: int | None, shards: int) -> int | None:
    return None if limit is None else max(1, math.ceil(limit / shards))


def sharded_client(limits: httpx.Limits, *, shards: int = SHARDS) -> httpx.Client:
    """An `httpx.Client` on `ConnectionShards` (its pools verify servers with the shared TLS context). With a
    proxy in the environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY) httpx's own client with the whole `limits`:
    httpx honours the environment's proxies (and NO_PROXY) only for a client without a transport of its own."""
    if {"http", "https", "all"} & urllib.request.getproxies().keys():
        return http_client(limits=limits)
    return httpx.Client(transport=ConnectionShards(limits, shards=shards))
