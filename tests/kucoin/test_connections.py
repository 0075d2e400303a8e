"""The KuCoin client's connections spread over several small pools (bot.kucoin.connections), against the
sandbox: a burst spreads evenly and its connections are kept for the next burst, calls one at a time keep
to one connection, every call's count is given back however it ends, and a proxy in the environment is
still used."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bot.domain.clock import FakeClock
from bot.errors import KucoinUnavailable
from bot.kucoin import KucoinClient
from bot.kucoin.client import AHEAD_KEPT_S, POOL_LIMITS
from bot.kucoin.connections import SHARDS, ConnectionShards, sharded_client
from bot.kucoin.transport import DELETES_PER_WINDOW
from kukey_sandbox.kucoin import KucoinSandbox
from tests.kucoin.helpers import Sleeps, client_for

SUB = "alpha-trading"
LIST = "GET /api/v1/sub/api-key"


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[KucoinSandbox]:
    with KucoinSandbox(clock=clock, management_budget=10**6) as box:
        yield box


def shards_of(client: KucoinClient) -> ConnectionShards:
    transport = client._http._transport
    assert isinstance(transport, ConnectionShards)
    return transport


def test_a_burst_spreads_evenly_over_the_pools_and_the_next_burst_reuses_its_connections(
        sandbox: KucoinSandbox, clock: FakeClock) -> None:
    calls = 6 * SHARDS
    sandbox.set_latency(0.5, path="/api/v1/sub/api-key")  # the whole burst is in flight at once
    with client_for(sandbox, clock) as client, ThreadPoolExecutor(max_workers=calls) as pool:
        shards = shards_of(client)
        client.list_keys(SUB)  # the clock synced and the pool's budget known: the burst then leaves at once

        def burst() -> tuple[list[int], int]:
            opened, listed = sandbox.connections_opened(), sandbox.call_counts().get(LIST, 0)
            results = [pool.submit(client.list_keys, SUB) for _ in range(calls)]
            assert sandbox.wait_calls(LIST, listed + calls, timeout=10)
            spread = shards.in_flight()
            assert all(r.result(timeout=10) == [] for r in results)
            return spread, sandbox.connections_opened() - opened

        assert burst() == ([6] * SHARDS, calls - 1)  # the first pool's connection was kept
        assert burst() == ([6] * SHARDS, 0)
        assert shards.in_flight() == [0] * SHARDS


def test_calls_one_at_a_time_keep_to_one_connection(sandbox: KucoinSandbox, clock: FakeClock) -> None:
    with client_for(sandbox, clock) as client:
        opened = sandbox.connections_opened()
        for _ in range(10):
            client.list_keys(SUB)
        assert sandbox.connections_opened() - opened == 1
        assert shards_of(client).in_flight() == [0] * SHARDS


def test_every_call_gives_its_count_back_however_it_ends(sandbox: KucoinSandbox, clock: FakeClock) -> None:
    with client_for(sandbox, clock, sleep=Sleeps(clock)) as client:
        sandbox.drop_next(1, path="/api/v1/sub/api-key")  # a lost answer: the listing is asked again
        sandbox.fail_next(1, status=503, code="503000", path="/api/v1/sub/api-key")  # retried
        assert client.list_keys(SUB) == []
        assert shards_of(client).in_flight() == [0] * SHARDS
    with KucoinSandbox(clock=clock) as gone:
        url = gone.url
    with client_for(sandbox, clock, sleep=Sleeps(clock), base_url=url) as client:  # nobody listens there
        with pytest.raises(KucoinUnavailable):
            client.list_keys(SUB)
        assert shards_of(client).in_flight() == [0] * SHARDS


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that records what it was asked for and refuses it."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_proxy_in_the_environment_is_used(sandbox: KucoinSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    handler = type("Proxy", (_Proxy,), {"seen": seen})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as proxy:
        thread = threading.Thread(target=proxy.serve_forever, daemon=True)
        thread.start()
        try:
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            with sharded_client(POOL_LIMITS) as http:
                assert not isinstance(http._transport, ConnectionShards)
                assert http.get(f"{sandbox.url}/api/v1/timestamp").status_code == 502
        finally:
            proxy.shutdown()
            thread.join(timeout=5)
    assert seen == [f"{sandbox.url}/api/v1/timestamp"]
    monkeypatch.delenv("HTTP_PROXY")  # and without one, straight to KuCoin
    with sharded_client(POOL_LIMITS) as direct:
        assert isinstance(direct._transport, ConnectionShards)
        assert direct.get(f"{sandbox.url}/api/v1/timestamp").status_code == 200


def test_the_pools_share_the_limits() -> None:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=66, keepalive_expiry=35.0)
    with sharded_client(limits) as http:
        shards = http._transport
        assert isinstance(shards, ConnectionShards)
        pools = [p._pool for p in shards.pools]
        assert [(p._max_connections, p._max_keepalive_connections, p._keepalive_expiry) for p in pools] == \
            [(13, 9, 35.0)] * SHARDS


def test_connections_opened_ahead_are_the_ones_a_burst_then_uses(sandbox: KucoinSandbox, clock: FakeClock) -> None:
    calls = 20
    with client_for(sandbox, clock) as client, ThreadPoolExecutor(max_workers=calls) as pool:
        client.list_keys(SUB)  # the clock synced and the pool's budget known, on one kept connection
        sandbox.set_latency(0.3)  # every call, the server-time requests too: they overlap, as against KuCoin
        opened = sandbox.connections_opened()
        assert client.open_connections(calls) == calls
        assert sandbox.connections_opened() - opened == calls - 1  # the listing's connection is one of them
        assert sandbox.call_counts()["GET /api/v1/timestamp"] == 1 + calls  # the clock's sync, then these
        opened = sandbox.connections_opened()
        assert all(r == [] for r in pool.map(lambda _: client.list_keys(SUB), range(calls)))
        assert sandbox.connections_opened() == opened


def test_connections_ahead_are_a_window_of_deletes_at_most(sandbox: KucoinSandbox, clock: FakeClock) -> None:
    with client_for(sandbox, clock) as client:
        assert client.open_connections(0) == 0
        assert client.open_connections(500) == DELETES_PER_WINDOW
        assert sandbox.call_counts()["GET /api/v1/timestamp"] == DELETES_PER_WINDOW


def test_connections_ahead_are_not_opened_again_while_the_last_ones_are_kept(sandbox: KucoinSandbox,
                                                                            clock: FakeClock) -> None:
    """A form opened again soon after (or another one) does not spend the Public pool again on connections
    that are still kept alive; more than last time, or once they may have been closed, it does."""
    def asked() -> int:
        return sandbox.call_counts().get("GET /api/v1/timestamp", 0)

    with client_for(sandbox, clock) as client:
        assert client.open_connections(10) == 10 and asked() == 10
        assert client.open_connections(10) == 0 and client.open_connections(4) == 0 and asked() == 10
        clock.advance(AHEAD_KEPT_S - 1)
        assert client.open_connections(10) == 0 and asked() == 10
        assert client.open_connections(12) == 12 and asked() == 22  # more than last time
        clock.advance(AHEAD_KEPT_S)
        assert client.open_connections(12) == 12 and asked() == 34


def test_connections_ahead_never_raise(sandbox: KucoinSandbox, clock: FakeClock) -> None:
    """KuCoin out of reach: none opened, nothing raised (the deletes then open their own or fail as usual)."""
    with KucoinSandbox(clock=clock) as gone:
        url = gone.url
    with client_for(sandbox, clock, base_url=url) as client:  # nobody listens there
        assert client.open_connections(5) == 0
