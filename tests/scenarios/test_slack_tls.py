"""Slack over HTTPS, as the real one is: kukey's Web API calls go through the process's one TLS context
(bot.tls), made once at start. slack_sdk's WebClient left to itself gives urllib no context, and Python 3.11's
http.client then builds a new one for every connection, loading the whole CA bundle into it (~30 ms of CPU
each on the CI machine): about a dozen times per lifecycle, on every Slack call of every ack's work. The plain
HTTP fake never showed it."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kukey_sandbox.world import APPROVALS, APPROVER, REQUESTER, TRADING, KukeyWorld, Story


@pytest.fixture(params=["http", "socket"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path, slack_tls=True, kucoin_tls=True, socket=request.param == "socket") as w:
        yield w


@pytest.fixture
def contexts_made(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """Every ssl.SSLContext made in this process from now on (the stdlib's constructor, counted)."""
    made: list[type] = []
    original = ssl.SSLContext.__new__

    def counted(cls: type, *args: Any, **kwargs: Any) -> Any:
        made.append(cls)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "__new__", staticmethod(counted))
    return made


def test_a_whole_lifecycle_over_https_makes_no_tls_context(world: KukeyWorld, contexts_made: list[type]) -> None:
    """Request, approval, reveal with Slack and KuCoin on HTTPS: every Web API call, response_url post and
    KuCoin call verifies its server's certificate through the context made at start; none makes its own. And
    the calls to Slack go over connections kept alive from before (measured: 11 calls, 1 new connection),
    not a new connection and TLS handshake for each."""
    assert world.fake.api_url.startswith("https://") and world.sandbox.url.startswith("https://")
    for user in (REQUESTER, APPROVER):
        world.enroll(user)
    story = Story(world)
    contexts_made.clear()  # enrollment's calls are counted too, but the lifecycle is what this is about
    calls_before, connections_before = len(world.fake.calls()), world.fake.connections
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30 tls", user=REQUESTER,
                         channel=TRADING)
    story.approve(post, APPROVER)
    api_key = story.reveal(REQUESTER)
    story.in_thread(post, f"Key `{api_key}` was created")
    assert [k["api_key"] for k in world.sandbox.keys("alpha-trading")] == [api_key]
    calls = world.fake.calls()[calls_before:]
    assert len(calls) >= 8, [c.method for c in calls]  # posts, thread notes, ephemerals, modals: all over TLS
    handshakes = world.fake.connections - connections_before  # each new connection is a TLS handshake
    assert handshakes <= 3, (handshakes, len(calls))  # kept alive (bot.slack.connections): not one per call
    assert contexts_made == []
    assert re.search(r"Secret", next(e.content for e in world.fake.ephemerals(REQUESTER) if "Secret" in e.content))
    assert world.fake.messages(APPROVALS)


def test_a_new_socket_mode_link_makes_no_tls_context(tmp_path: Path, contexts_made: list[type]) -> None:
    """Slack asks kukey to replace its Socket Mode connections: the new links (their apps.connections.open and
    their WebSocket) take the process's TLS context; slack_sdk's built-in client would otherwise make
    `ssl.create_default_context()` (the system's CAs, not kukey's) for each one."""
    with KukeyWorld(home=tmp_path, slack_tls=True, socket=True) as world:
        world.wait(lambda: world.fake.socket.connection_count >= 1, what="connected")
        first = max(number for number, _ in world.fake.socket.connections())
        contexts_made.clear()
        world.fake.socket.disconnect("refresh_requested")
        world.wait(lambda: [n for n, told in world.fake.socket.connections() if not told and n > first],
                   timeout=20, what="a new link")
        assert contexts_made == []
