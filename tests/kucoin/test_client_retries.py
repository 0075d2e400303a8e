"""Rate limits, 5xx retries and clock-skew recovery, against the sandbox's real pools and faults."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from bot.domain.clock import FakeClock, SystemClock
from bot.domain.keys import KeySpec
from bot.domain.secret import Secret
from bot.errors import KucoinAuthError, KucoinRateLimited, KucoinUnavailable
from bot.kucoin import KucoinClient, generate_passphrase
from kukey_sandbox.kucoin import KucoinSandbox
from kukey_sandbox.kucoin.state import default_seed
from tests.kucoin.conftest import MakeClient
from tests.kucoin.helpers import FAST, Sleeps, client_for

LIST = "GET /api/v1/sub/api-key"


def test_waits_for_the_window_when_the_budget_is_too_low(clock: FakeClock, sleeps: Sleeps) -> None:
    """With 60 weight per window, the 4th list (weight 20) waits for the reset instead of hitting 429."""
    with KucoinSandbox(clock=clock, management_budget=60) as sandbox, \
            client_for(sandbox, clock, sleep=sleeps) as client:
        for _ in range(4):
            client.list_keys("alpha-trading")
        assert sandbox.call_counts()[LIST] == 4
        assert "429000" not in sandbox.answer_counts()
        assert sleeps.waits == [pytest.approx(30.0)]


def test_real_short_window_is_honoured_from_the_reset_header() -> None:
    """With a real 0.3 s window of 40 weight, five lists take about two resets and never see a 429."""
    with KucoinSandbox(window_seconds=0.3, management_budget=40) as sandbox, \
            client_for(sandbox, SystemClock()) as client:
        started = time.monotonic()
        for _ in range(5):
            client.list_keys("alpha-trading")
        elapsed = time.monotonic() - started
        assert "429000" not in sandbox.answer_counts()
        assert 0.5 <= elapsed < 3.0


def test_429_with_headers_waits_the_reset_then_succeeds(client: KucoinClient, sandbox: KucoinSandbox,
                                                        sleeps: Sleeps) -> None:
    """A 429000 carrying gw-ratelimit headers makes the client wait `reset` ms once, then succeed."""
    client.whoami()
    sandbox.rate_limit_next(1, headers=True)
    assert client.list_keys("alpha-trading") == []
    assert sandbox.answer_counts()["429000"] == 1
    assert sleeps.waits == [pytest.approx(30.0)]


def test_429_without_headers_backs_off_exponentially(client: KucoinClient, sandbox: KucoinSandbox,
                                                     sleeps: Sleeps) -> None:
    """An overload 429000 without headers is retried after jittered, growing backoffs."""
    client.whoami()
    sandbox.rate_limit_next(3, headers=False)
    client.list_keys("alpha-trading")
    assert sandbox.call_counts()[LIST] == 4
    first, second, third = sleeps.waits
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0 and 1.0 <= third <= 2.0


def test_endless_429_raises_rate_limited_after_bounded_attempts(client: KucoinClient,
                                                                sandbox: KucoinSandbox) -> None:
    """When every answer is a header-less 429000, the call gives up after max_attempts with retry_after."""
    client.whoami()
    sandbox.rate_limit_next(50, headers=False)
    with pytest.raises(KucoinRateLimited) as info:
        client.list_keys("alpha-trading")
    assert sandbox.call_counts()[LIST] == FAST.max_attempts
    assert info.value.retry_after > 0 and info.value.code == "429000"


def test_a_reset_beyond_the_wait_budget_is_not_waited_for(make_client: MakeClient, sandbox: KucoinSandbox,
                                                          sleeps: Sleeps) -> None:
    """If the reset is further away than the call's wait budget, KucoinRateLimited comes at once."""
    client = make_client(policy=replace(FAST, max_total_wait=5.0))
    client.whoami()
    sandbox.rate_limit_next(1, headers=True)
    with pytest.raises(KucoinRateLimited) as info:
        client.list_keys("alpha-trading")
    assert info.value.retry_after == pytest.approx(30.0)
    assert sleeps.waits == [] and sandbox.call_counts()[LIST] == 1


def test_5xx_on_a_safe_call_is_retried(client: KucoinClient, sandbox: KucoinSandbox, sleeps: Sleeps) -> None:
    """Two 503000 answers to a list are retried with backoff; the third attempt succeeds."""
    sandbox.fail_next(2, status=503, code="503000", path="/api/v1/sub/api-key")
    assert client.list_keys("alpha-trading") == []
    assert sandbox.call_counts()[LIST] == 3 and len(sleeps.waits) == 2


def test_endless_5xx_raises_unavailable(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """A safe call that only ever gets 500000 raises KucoinUnavailable after max_attempts."""
    sandbox.fail_next(50, status=500, code="500000", path="/api/v1/sub/api-key")
    with pytest.raises(KucoinUnavailable) as info:
        client.list_keys("alpha-trading")
    assert (info.value.code, info.value.http_status) == ("500000", 500)
    assert sandbox.call_counts()[LIST] == FAST.max_attempts


def test_timestamp_error_refreshes_the_offset_once(client: KucoinClient, sandbox: KucoinSandbox) -> None:
    """After KuCoin's clock jumps a minute, a 400002 triggers one offset refresh and the call succeeds."""
    client.whoami()
    sandbox.set_clock_skew(60_000)
    assert client.whoami().is_master
    assert sandbox.answer_counts()["400002"] == 1
    assert sandbox.call_counts()["GET /api/v1/timestamp"] == 2


def test_persistent_timestamp_error_is_raised_after_one_refresh(client: KucoinClient,
                                                                sandbox: KucoinSandbox) -> None:
    """A second 400002 after the refresh is raised as KucoinAuthError; no endless retry."""
    client.whoami()
    sandbox.fail_next(5, status=401, code="400002", path="/api/v1/user/api-key")
    with pytest.raises(KucoinAuthError) as info:
        client.whoami()
    assert info.value.code == "400002" and "clock" in str(info.value)
    assert sandbox.call_counts()["GET /api/v1/user/api-key"] == 3


def test_delete_whose_answer_was_lost_is_repeated_and_reported_gone(client: KucoinClient,
                                                                    sandbox: KucoinSandbox) -> None:
    """A DELETE committed but unanswered is sent again; the key is gone, so the result is "already gone"."""
    passphrase = generate_passphrase()
    key = client.create_key(KeySpec("alpha-trading"), passphrase=passphrase, remark="KK-DL")
    sandbox.drop_next(path="/api/v1/sub/api-key", method="DELETE", commit=True)
    assert client.delete_key("alpha-trading", key.api_key, passphrase) is False
    assert sandbox.keys("alpha-trading") == []
    assert sandbox.call_counts()["DELETE /api/v1/sub/api-key"] == 2


def test_parallel_deletes_stay_within_the_pool_budget() -> None:
    """Nine deletes from nine threads share a 90-weight, 0.3 s window: all succeed, none is refused 429."""
    seed = default_seed()
    seed["settings"]["max_keys_per_sub_account"] = 20
    keys = [{"api_key": f"k{i:023d}", "api_secret": f"s{i}", "passphrase": f"passphrase-{i}",
             "remark": f"K{i}"} for i in range(9)]
    seed["masters"][0]["sub_accounts"][0]["keys"] = keys
    with KucoinSandbox(seed, window_seconds=0.3, management_budget=90) as sandbox, \
            client_for(sandbox, SystemClock()) as client, ThreadPoolExecutor(max_workers=9) as pool:
        results = list(pool.map(
            lambda k: client.delete_key("alpha-trading", k["api_key"], Secret(k["passphrase"])), keys))
        assert results == [True] * 9
        assert sandbox.keys("alpha-trading") == []
        assert "429000" not in sandbox.answer_counts()
        assert sandbox.call_counts()["DELETE /api/v1/sub/api-key"] == 9


def test_a_burst_of_deletes_after_a_burst_reuses_its_connections(clock: FakeClock) -> None:
    """The client keeps a whole burst's connections open (more than httpx's 20), so the next burst of
    parallel deletes opens no new connection to KuCoin."""
    seed = default_seed()
    seed["settings"]["max_keys_per_sub_account"] = 60
    with KucoinSandbox(seed, clock=clock, management_budget=10**6) as sandbox, \
            client_for(sandbox, clock) as client, ThreadPoolExecutor(max_workers=30) as pool:
        keys = [(client.create_key(KeySpec("alpha-trading"), passphrase=(p := generate_passphrase()),
                                   remark=f"KK-{i}").api_key, p) for i in range(60)]
        sandbox.set_latency(0.3, path="/api/v1/sub/api-key")  # every delete of a burst is in flight at once

        def burst(part: list[tuple[str, Secret]]) -> int:
            opened = sandbox.connections_opened()
            assert list(pool.map(lambda k: client.delete_key("alpha-trading", *k), part)) == [True] * len(part)
            return sandbox.connections_opened() - opened

        assert burst(keys[:30]) >= 25
        assert burst(keys[30:]) == 0
        assert sandbox.keys("alpha-trading") == []
