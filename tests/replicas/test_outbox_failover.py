"""kill -9 of the replica delivering a message, with DEFAULT settings (10 s lease): a survivor takes the
message over within 15 s and delivers it once, even when Slack had posted it and only the answer was lost
with the dead replica."""

from __future__ import annotations

import re
import time

from kukey_sandbox.world import APPROVALS, REQUESTER, TRADING, KukeyWorld
from tests.replicas.conftest import FAILOVER_S, REPLICAS, SUB
from tests.scenarios.outbox_helpers import landed_per_key, open_items, posts_of

POSTED = re.compile(r"Request `(KK-[0-9A-Z]+)` was posted for approval")


def test_a_post_in_flight_when_its_replica_dies_is_delivered_once(world: KukeyWorld) -> None:
    """The replica that recorded a request dies while its post is held at Slack's door; the post then goes
    through (Slack posts it, nobody reads the answer). A survivor takes the post over within 15 s, finds it
    by its metadata instead of posting it again, and tells the requester where it is."""
    world.start_replicas(REPLICAS)
    world.enroll(REQUESTER)
    with world.fake.hold("chat.postMessage") as held:
        assert world.driver.slash(REQUESTER, TRADING, f"create {SUB} perms=Spot ips=203.0.113.5 expire=30 bot").ok
        held.wait()
        world.driver.last_replica().kill()
        killed = time.monotonic()
    # The dying replica may not have said "Recorded as" yet (it is said after the commit that owes the post,
    # and the post can be at Slack's door first): the survivor's note with the link is what must arrive.
    told = world.wait(lambda: next((e for e in world.fake.ephemerals(REQUESTER) if POSTED.search(e.content)), None),
                      timeout=FAILOVER_S, what="the requester told the link")
    took = time.monotonic() - killed
    request_id = POSTED.search(told.content).group(1)  # type: ignore[union-attr]
    world.wait(lambda: not open_items(world), what="nothing more owed")
    assert took <= FAILOVER_S
    assert len(posts_of(world, request_id)) == 1 and len(world.fake.messages(APPROVALS)) == 1
    assert set(landed_per_key(world).values()) == {1}
    # looked for: the post in the approvals channel; the requester's note (claimed by the dead replica too, so
    # it may have landed) in their DM, before it is sent as an ephemeral
    assert [c.params["channel"] for c in world.fake.calls("conversations.history")] == [
        APPROVALS, world.fake.dm(REQUESTER)]
    print(f"[figure] replica killed with a post in flight: delivered once by a survivor {took:.1f} s later")
