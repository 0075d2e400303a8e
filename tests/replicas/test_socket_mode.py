"""Three replicas in Socket Mode on one PostgreSQL database: each holds its own two connections, Slack gives
every envelope to one of the six, and the work goes on when a replica dies."""

from __future__ import annotations

import re

from bot.slack.socket_mode import CONNECTIONS
from kukey_sandbox.world import APPROVER, APPROVER2, REQUESTER, KukeyWorld, Story
from tests.replicas.conftest import REPLICAS, SUB, keys_at_kucoin, verify_chain


def _lifecycle(story: Story, note: str) -> None:
    post = story.request(f"create {SUB} perms=Spot ips=203.0.113.5 expire=30 {note}")
    for approver in (APPROVER, APPROVER2):
        assert not story.approve(post, approver).errors
    request_id = re.search(r"KK-[A-Z0-9]{8}", post.content)
    assert request_id, post.content
    story.private(REQUESTER, f"`{request_id.group(0)}` was approved")  # this request's offer, not an older one
    before = len(keys_at_kucoin(story.w))
    story.w.driver.click(REQUESTER, "Reveal key")
    story.w.wait(lambda: len(keys_at_kucoin(story.w)) == before + 1, what="the key created")
    story.in_thread(post, "was created")


def test_each_socket_mode_replica_holds_its_own_connections(world: KukeyWorld) -> None:
    """Every replica opens its own connections (six in all), requests spread over them are all answered,
    and after kill -9 of one replica the other two keep answering on their four."""
    replicas = world.start_replicas(REPLICAS, http=False)
    assert world.fake.socket.wait_connected(20, count=REPLICAS * CONNECTIONS)
    story = Story(world)
    for user in (REQUESTER, APPROVER, APPROVER2):
        world.enroll(user)
    _lifecycle(story, "before")
    replicas[0].kill()
    world.wait(lambda: world.fake.socket.connection_count == (REPLICAS - 1) * CONNECTIONS,
               what="the dead replica's connections closed")
    _lifecycle(story, "after")
    assert len(keys_at_kucoin(world)) == 2
    verify_chain(world)
