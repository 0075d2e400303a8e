"""Slack misbehaves, in both transports: rate limits and transient errors on the way out are retried
within the budget, and /readyz names "slack" while kukey is cut off from Slack (no live Socket Mode
connection, Slack unreachable, the bot token revoked), then answers 200 again once Slack is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import SLACK_AUTH_EVERY
from kukey_sandbox.world import APPROVALS, REQUESTER, KukeyWorld, Story

OPS = {"KUKEY_METRICS_PORT": "0"}
CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 bot"


@pytest.fixture(params=["http", "socket"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path, socket=request.param == "socket", env_extra=OPS) as w:
        yield w


def readyz(world: KukeyWorld) -> tuple[int, str]:
    answer = httpx.get(f"http://127.0.0.1:{world.bot.ops_port}/readyz")
    return answer.status_code, answer.text


def next_auth_check(world: KukeyWorld) -> None:
    """Let the cached auth.test expire (the bot's clock), so the next probe starts a fresh one."""
    world.advance(SLACK_AUTH_EVERY.total_seconds())
    readyz(world)


@pytest.mark.parametrize(("fault", "errors"), [
    (lambda fake: fake.rate_limit("chat.postMessage", times=3, retry_after=1), ["ratelimited"] * 3),
    (lambda fake: fake.fail("chat.postMessage", "internal_error", status=500, times=2), ["internal_error"] * 2),
], ids=["3 rate limits", "2 internal errors"])
def test_a_request_is_posted_through_rate_limits_and_transient_errors(world: KukeyWorld, fault: object,
                                                                      errors: list[str]) -> None:
    """A request whose post to the approvals channel meets 3 rate limits (Retry-After: 1), or 2 internal
    errors, is still posted, once."""
    world.enroll(REQUESTER)
    fault(world.fake)  # type: ignore[operator]
    Story(world).request(CREATE)
    posts = [c.error for c in world.fake.calls("chat.postMessage") if c.params.get("channel") == APPROVALS]
    assert posts == [*errors, None]
    assert len(world.fake.messages(APPROVALS)) == 1


def test_readyz_names_slack_while_the_token_is_revoked(world: KukeyWorld) -> None:
    """With the bot token revoked, the next auth check makes /readyz answer 503 naming slack (livez stays
    200); restored, the next check makes it 200 again. Probes between checks call no auth.test."""
    assert readyz(world) == (200, "ok\n")
    world.fake.revoke_token("bot")
    next_auth_check(world)
    world.wait(lambda: readyz(world) == (503, "not ready: slack\n"), what="not ready: slack")
    checks = len(world.fake.calls("auth.test"))
    for _ in range(5):
        readyz(world)
    assert len(world.fake.calls("auth.test")) == checks
    assert httpx.get(f"http://127.0.0.1:{world.bot.ops_port}/livez").status_code == 200
    world.fake.restore_token("bot")
    next_auth_check(world)
    world.wait(lambda: readyz(world) == (200, "ok\n"), what="ready again")


def test_readyz_names_slack_while_slack_is_unreachable(world: KukeyWorld) -> None:
    """While every auth.test fails with 503 (after the retries), /readyz answers 503 naming slack; once
    Slack answers again, the next check makes it 200."""
    world.fake.fail("auth.test", "service_unavailable", status=503, times=1000)
    next_auth_check(world)
    world.wait(lambda: readyz(world) == (503, "not ready: slack\n"), timeout=15, what="not ready: slack")
    world.fake.faults.clear()
    next_auth_check(world)
    world.wait(lambda: readyz(world) == (200, "ok\n"), timeout=15, what="ready again")


def test_readyz_names_slack_while_socket_mode_is_down(tmp_path: Path) -> None:
    """Socket Mode: while Slack's socket servers are down (connections reset, new ones refused) /readyz
    answers 503 naming slack; when they come back kukey reconnects and /readyz answers 200."""
    with KukeyWorld(home=tmp_path, socket=True, env_extra=OPS) as world:
        assert readyz(world) == (200, "ok\n")
        world.fake.socket.go_down("reset")
        world.wait(lambda: readyz(world) == (503, "not ready: slack\n"), timeout=10, what="not ready: slack")
        world.fake.socket.come_back()
        world.wait(lambda: readyz(world) == (200, "ok\n"), timeout=15, what="ready again")
        world.wait(lambda: world.fake.socket.connection_count == 2, what="both connections back")
