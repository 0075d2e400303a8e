"""The sandbox's /_sandbox/ control endpoints: state for other processes, and fault injection over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.domain.clock import FakeClock
from bot.domain.keys import KeySpec, Permission
from bot.kucoin import KucoinClient, generate_passphrase
from kukey_sandbox.kucoin import KucoinSandbox
from tests.kucoin.helpers import Sleeps, client_for


@pytest.fixture
def kucoin_env() -> Iterator[tuple[KucoinSandbox, KucoinClient, httpx.Client, Sleeps]]:
    clock = FakeClock()
    sleeps = Sleeps(clock)
    with KucoinSandbox(clock=clock) as sandbox, client_for(sandbox, clock, sleep=sleeps) as client, \
            httpx.Client(base_url=sandbox.url) as control:
        yield sandbox, client, control, sleeps


Env = tuple[KucoinSandbox, KucoinClient, httpx.Client, Sleeps]


def test_state_lists_keys_and_call_counts(kucoin_env: Env) -> None:
    """GET /_sandbox/state shows each sub-account's keys (no secrets) and the calls per endpoint."""
    _, client, control, _ = kucoin_env
    key = client.create_key(KeySpec("alpha-trading", frozenset({Permission.SPOT}), ("10.0.0.1",), 30),
                            passphrase=generate_passphrase(), remark="KK-ST")
    state = control.get("/_sandbox/state").json()
    [row] = state["sub_accounts"]["alpha-trading"]["keys"]
    assert row == {"api_key": key.api_key, "permissions": ["General", "Spot"], "ips": ["10.0.0.1"],
                   "expire": "30", "remark": "KK-ST", "created_at": row["created_at"]}
    assert state["sub_accounts"]["gamma-frozen"]["status"] == 3
    assert state["calls"]["POST /api/v1/sub/api-key"] == 1 and state["answers"]["200000"] >= 2
    assert key.api_secret is not None and key.api_secret.reveal() not in str(state)


def test_http_faults_errors_and_rate_limits(kucoin_env: Env) -> None:
    """fail_next and rate_limit_next posted over HTTP shape the next answers, then clear."""
    sandbox, client, control, sleeps = kucoin_env
    client.whoami()
    assert control.post("/_sandbox/faults", json={
        "fail_next": {"count": 1, "status": 503, "code": "503000"},
        "rate_limit_next": {"count": 1, "headers": False},
    }).status_code == 200
    assert client.list_keys("alpha-trading") == []
    assert sandbox.answer_counts()["503000"] == 1 and sandbox.answer_counts()["429000"] == 1
    assert len(sleeps.waits) == 2
    control.post("/_sandbox/faults", json={"fail_next": {"count": 5}})
    assert control.post("/_sandbox/faults/clear").json()["pending"] == []
    assert client.list_keys("alpha-trading") == []


def test_http_drop_after_commit(kucoin_env: Env) -> None:
    """drop_next over HTTP makes a create commit without answering; the client recovers it by remark."""
    sandbox, client, control, _ = kucoin_env
    control.post("/_sandbox/faults", json={"drop_next": {"path": "/api/v1/sub/api-key", "method": "POST"}})
    key = client.create_key(KeySpec("alpha-trading"), passphrase=generate_passphrase(), remark="KK-HD")
    assert key.secret_lost and len(sandbox.keys("alpha-trading")) == 1
    assert sandbox.answer_counts()["dropped"] == 1


def test_http_clock_skew_and_latency(kucoin_env: Env) -> None:
    """clock_skew_ms shifts the sandbox's time; latency delays answers by at least that long."""
    sandbox, _, control, _ = kucoin_env
    before = control.get("/api/v1/timestamp").json()["data"]
    control.post("/_sandbox/faults", json={"clock_skew_ms": 120_000, "latency": {"seconds": 0.2}})
    started = time.monotonic()
    after = control.get("/api/v1/timestamp").json()["data"]
    assert after - before == 120_000
    assert time.monotonic() - started >= 0.2
    assert sandbox.state()["faults"]["latency"] == {"*": 0.2}


def test_bad_control_requests_are_refused(kucoin_env: Env) -> None:
    """Unknown faults and unknown control paths are answered 400 and 404."""
    _, _, control, _ = kucoin_env
    assert control.post("/_sandbox/faults", json={"explode": {}}).status_code == 400
    assert control.post("/_sandbox/faults", json={"fail_next": {"bogus": 1}}).status_code == 400
    assert control.get("/_sandbox/nothing").status_code == 404


def test_latency_can_target_one_endpoint(kucoin_env: Env) -> None:
    """Latency set for one path delays only that path."""
    sandbox, client, _, _ = kucoin_env
    client.whoami()
    sandbox.set_latency(0.25, "/api/v1/sub/api-key")
    started = time.monotonic()
    client.whoami()
    fast = time.monotonic() - started
    client.list_keys("alpha-trading")
    assert fast < 0.2 <= time.monotonic() - started - fast


def test_waiting_for_keys_to_go_wakes_on_the_last_removal(kucoin_env: Env) -> None:
    """wait_keys_gone returns True once the last of the keys is deleted (through the API or out of band)
    from another thread, and False after its timeout while one is left."""
    sandbox, client, _, _ = kucoin_env
    made = {client.create_key(KeySpec("alpha-trading"), passphrase=(p := generate_passphrase()),
                              remark=f"KK-W{i}").api_key: p for i in range(2)}
    first, second = made
    assert sandbox.wait_keys_gone("alpha-trading", made, timeout=0.05) is False
    deleter = threading.Thread(target=lambda: (client.delete_key("alpha-trading", first, made[first]),
                                               sandbox.remove_key_out_of_band("alpha-trading", second)))
    deleter.start()
    assert sandbox.wait_keys_gone("alpha-trading", made, timeout=10) is True
    deleter.join()
    assert sandbox.keys("alpha-trading") == []


def test_waiting_for_calls_wakes_on_the_request_that_makes_the_count(kucoin_env: Env) -> None:
    """wait_calls returns True once the sandbox has received a call the given number of times in all (the
    last one sent from another thread), and False after its timeout while fewer have come."""
    sandbox, client, _, _ = kucoin_env
    client.list_keys("alpha-trading")
    assert sandbox.wait_calls("GET /api/v1/sub/api-key", 2, timeout=0.05) is False
    lister = threading.Thread(target=lambda: client.list_keys("alpha-trading"))
    lister.start()
    assert sandbox.wait_calls("GET /api/v1/sub/api-key", 2, timeout=10) is True
    lister.join()
    assert sandbox.call_counts()["GET /api/v1/sub/api-key"] == 2
