"""/healthz and /metrics, in HTTP mode on the bot's port and in Socket Mode on KUKEY_METRICS_PORT."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from kukey_sandbox.world import APPROVALS, APPROVER, REQUESTER, KukeyWorld, Story


def test_metrics_after_a_lifecycle(story: Story) -> None:
    """After a request, a wrong code and an approval, /metrics shows them and KuCoin/Slack latencies."""
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30")
    story.w.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=post.ts)
    story.w.submit(APPROVER, {"code": "000000" if story.w.code(APPROVER) != "000000" else "111111"})
    assert not story.w.driver.submit(APPROVER, {"code": story.w.code(APPROVER)}).errors
    story.private(REQUESTER, "Reveal key")
    base = story.w.driver.url.rsplit("/slack/events", 1)[0]
    assert httpx.get(f"{base}/healthz").status_code == 200
    text = httpx.get(f"{base}/metrics").text
    assert 'kukey_requests{state="approved"} 1' in text
    assert "kukey_approvals_total 1" in text
    assert "kukey_totp_failures_total 1" in text
    assert 'kukey_kucoin_call_seconds_count{endpoint="GET /api/v1/sub/api-key"}' in text
    assert "kukey_slack_ack_seconds_count" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_port_in_socket_mode(tmp_path: Path) -> None:
    """In Socket Mode (no inbound HTTP for Slack) /healthz and /metrics are on KUKEY_METRICS_PORT."""
    world = KukeyWorld(home=tmp_path, run_bot=False)
    try:
        port = _free_port()
        world.env_extra = {"KUKEY_METRICS_PORT": str(port)}
        world.socket = True
        world.start_bot()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        assert "kukey_requests" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        world.stop()
