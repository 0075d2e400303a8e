"""Two bot processes on one database, on SQLite and on PostgreSQL, both delivering the outbox: every
message is delivered by exactly one of them (claims with leases), however their polls interleave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import Kukey, build
from bot.config import Settings
from kukey_sandbox.slack.driver import SlackDriver
from kukey_sandbox.world import REQUESTER, TRADING, KukeyWorld
from tests.scenarios.outbox_helpers import RECORDED, landed_per_key, let_time_pass, open_items, outbox, posts_of

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 race"
REQUESTS = 12  # six through each process
RETRY_AFTER = 10  # beyond the per-call budget: every first post goes back to the outbox, due 10 s later


@pytest.fixture
def two(tmp_path: Path, database_url: str) -> Iterator[tuple[KukeyWorld, Kukey]]:
    """The world's bot and a second one on the same database (its own dispatcher, scheduler, endpoint)."""
    with KukeyWorld(home=tmp_path, database_url=database_url) as world:
        settings = Settings.from_env(world.env(), need=["kucoin", "master_key", "policy", "slack_http"])
        other = build(settings, clock=world.clock, scheduler_interval=world.scheduler_interval)
        other.start_http()
        try:
            yield world, other
        finally:
            other.stop()


def test_two_processes_deliver_each_message_once(two: tuple[KukeyWorld, Kukey]) -> None:
    """Twelve requests, half through each process, whose first posts are all rate limited (Retry-After 10 s):
    when they fall due at the same moment both processes' dispatchers race for them, and each request is
    posted once, each link told once, every outbox item sent once."""
    world, other = two
    drivers = [world.driver, SlackDriver(world.fake, url=other._transport.url)]  # type: ignore[union-attr]
    world.enroll(REQUESTER)
    world.fake.rate_limit("chat.postMessage", times=REQUESTS, retry_after=RETRY_AFTER)
    for i in range(REQUESTS):
        assert drivers[i % 2].slash(REQUESTER, TRADING, f"{CREATE} {i}").ok
    rids = world.wait(lambda: (found := [RECORDED.search(e.content) for e in world.fake.ephemerals(REQUESTER)
                                         if "Recorded as" in e.content]) and len(found) == REQUESTS and found,
                      what="every request recorded")
    world.wait(lambda: len([r for r in outbox(world) if r[2] == "post" and r[4] >= 1 and r[3] == "pending"])
               == REQUESTS, what="every first post refused and put back")
    let_time_pass(world, lambda: not open_items(world), step=RETRY_AFTER, most=10 * RETRY_AFTER,
                  what="everything delivered")
    for found in rids:
        assert len(posts_of(world, found.group(1))) == 1
        link = f"Request `{found.group(1)}` was posted for approval"
        assert len([e for e in world.fake.ephemerals(REQUESTER) if link in e.content]) == 1
    assert len(landed_per_key(world)) == REQUESTS and set(landed_per_key(world).values()) == {1}
    assert {r[3] for r in outbox(world)} == {"sent"}
    # the links, once each (the "Recorded as" replies went through each command's response_url)
    assert len(world.fake.calls("chat.postEphemeral")) == REQUESTS
