"""The ops port (KUKEY_METRICS_PORT): /livez, /readyz, /healthz and /metrics, in HTTP mode and in Socket
Mode, never on the Slack endpoint; the ack latency histogram filled in both transports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.health import SCHEDULER_MAX_AGE
from kukey_sandbox.world import APPROVALS, APPROVER, REQUESTER, TRADING, KukeyWorld, Story

OPS = {"KUKEY_METRICS_PORT": "0"}  # the OS picks the ops port; the bot tells which


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path, env_extra=OPS) as w:
        yield w


def ops_url(world: KukeyWorld, path: str) -> str:
    return f"http://127.0.0.1:{world.bot.ops_port}{path}"


def samples(world: KukeyWorld) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The ops port's /metrics, parsed by prometheus_client: {(name, sorted labels): value}."""
    answer = httpx.get(ops_url(world, "/metrics"))
    assert answer.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def test_metrics_after_a_lifecycle(story: Story) -> None:
    """After a request, a wrong code and an approval, the ops port's /metrics shows them, KuCoin latencies,
    an ack observation for every Slack request, the process metrics and the build info."""
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30")
    story.w.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=post.ts)
    story.w.submit(APPROVER, {"code": "000000" if story.w.code(APPROVER) != "000000" else "111111"})
    assert not story.w.driver.submit(APPROVER, {"code": story.w.code(APPROVER)}).errors
    story.private(REQUESTER, "Reveal key")
    found = samples(story.w)
    assert found[("kukey_requests", (("state", "approved"),))] == 1
    assert found[("kukey_approvals_total", ())] == 1
    assert found[("kukey_totp_failures_total", ())] == 1
    assert found[("kukey_kucoin_call_seconds_count", (("endpoint", "GET /api/v1/sub/api-key"),))] >= 1
    assert found[("kukey_slack_ack_seconds_count", ())] >= 8  # 4 enrollments, request, click, 2 submits
    assert found[("process_resident_memory_bytes", ())] > 0
    assert any(name == "kukey_build_info" for name, _ in found)


def test_slack_port_serves_only_slack_events(world: KukeyWorld) -> None:
    """The Slack port answers 404 for /metrics, /healthz, /livez and /readyz; the ops port serves them."""
    slack = world.driver.url.rsplit("/slack/events", 1)[0]
    for path in ("/metrics", "/healthz", "/livez", "/readyz"):
        assert httpx.get(slack + path).status_code == 404, path
        assert httpx.get(ops_url(world, path)).status_code == 200, path
    assert httpx.post(slack + "/metrics", content=b"x").status_code == 404


def test_socket_mode_fills_the_ack_histogram(tmp_path: Path) -> None:
    """In Socket Mode the ops port serves /readyz and /metrics, and each acked envelope is observed in the
    ack latency histogram."""
    with KukeyWorld(home=tmp_path, socket=True, env_extra=OPS) as world:
        assert httpx.get(ops_url(world, "/readyz")).status_code == 200
        assert samples(world)[("kukey_slack_ack_seconds_count", ())] == 0
        for _ in range(3):
            assert "/kukey create" in world.driver.slash(REQUESTER, TRADING, "help").message()["text"]
        world.wait(lambda: samples(world)[("kukey_slack_ack_seconds_count", ())] == 3, what="3 acks observed")


def test_readyz_fails_when_the_scheduler_stops_ticking(world: KukeyWorld) -> None:
    """/readyz (and /healthz) answer 503 naming the scheduler once its last tick is older than the limit,
    while /livez still answers 200."""
    assert httpx.get(ops_url(world, "/readyz")).status_code == 200
    world.bot.services.scheduler.stop()
    world.advance((SCHEDULER_MAX_AGE + timedelta(seconds=1)).total_seconds())
    for path in ("/readyz", "/healthz"):
        answer = httpx.get(ops_url(world, path))
        assert (answer.status_code, answer.text) == (503, "not ready: scheduler\n"), path
    assert httpx.get(ops_url(world, "/livez")).status_code == 200


def test_readyz_fails_when_the_database_is_gone(world: KukeyWorld) -> None:
    """/readyz answers 503 naming the database once its file is gone (new connections find no table)."""
    assert httpx.get(ops_url(world, "/readyz")).status_code == 200
    for path in world.home.glob("kukey.db*"):
        path.unlink()
    world.bot.services.deps.engine.dispose()
    answer = httpx.get(ops_url(world, "/readyz"))
    assert (answer.status_code, answer.text) == (503, "not ready: database\n")


def test_not_ready_until_the_slack_transport_serves(tmp_path: Path) -> None:
    """Before a transport starts, readiness names "transport" (and "scheduler", not ticked yet); once HTTP
    mode serves, every check passes: whoever waits for /readyz finds /slack/events listening."""
    from bot.app import build
    from bot.config import Settings

    with KukeyWorld(home=tmp_path, run_bot=False, env_extra=OPS) as world:
        world.bot = build(Settings.from_env(world.env(), need=["kucoin", "master_key", "policy", "slack_http"]),
                          clock=world.clock)
        assert world.bot.readiness.failing() == ["scheduler", "transport"]
        world.bot.start_http()
        world.wait(lambda: world.bot.readiness.failing() == [], what="ready")
        assert httpx.get(ops_url(world, "/readyz")).status_code == 200
