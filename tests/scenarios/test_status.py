"""`/kukey status <id>` through Slack, in both transports, for a request under approval and for the kill switch
(which needs no approval)."""

from __future__ import annotations

from kukey_sandbox.world import INCIDENT, REQUESTER, RESPONDER, TRADING, Story
from tests.scenarios.test_kill_switch import pull, seed
from tests.scenarios.test_notify import request_id


def test_status_of_a_kill_switch_shows_who_pulled_it_its_progress_and_outcome(two_transports: Story) -> None:
    """Once the kill switch ran, its status names who pulled it, n of N deleted and the outcome, and
    counts no approvals; a request under approval still shows its approvals."""
    story, world = two_transports, two_transports.w
    world.enroll(RESPONDER)
    story.private(RESPONDER, "enrollment confirmed")
    seed(world, per_sub=1)
    assert not pull(world, "3").errors
    post = world.wait(lambda: next((m for m in world.fake.messages(INCIDENT) if "Kill switch* done" in m.content),
                                   None), timeout=20, what="the kill switch done")
    kill_id = post.content.split("`")[1]
    text = world.driver.slash(RESPONDER, INCIDENT, f"status {kill_id}").message()["text"]
    assert f"commanded by <@{RESPONDER}>: *done* (no approval needed)" in text
    assert f"Pulled in <#{INCIDENT}>" in text and "*3 of 3* keys deleted." in text
    assert "every key deleted; every key's outcome is in its thread" in text and "approvals" not in text
    created = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30")
    text = world.driver.slash(REQUESTER, TRADING, f"status {request_id(created)}").message()["text"]
    assert f"requested by <@{REQUESTER}>: *pending* (0/1 approvals)" in text and "unless approved" in text
