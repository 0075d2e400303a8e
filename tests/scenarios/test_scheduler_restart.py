"""The scheduler keeps its jobs in the database: expiry, reveal windows and grace deletions survive a
restart of the bot."""

from __future__ import annotations

from kukey_sandbox.world import APPROVALS, APPROVER, APPROVER2, REQUESTER, Story


def test_jobs_survive_a_restart(story: Story) -> None:
    """Jobs scheduled before a restart (request expiry, reveal lapse, grace deletion of an old key) all run
    after it, on time."""
    world = story.w
    old = story.create_key()
    rotation = story.request(f"rotate alpha-trading {old} grace=90")
    assert not story.approve(rotation, APPROVER2).errors
    new = story.reveal()
    pending = story.request("create beta-spot perms=Spot ips=203.0.113.5 expire=30")
    lapsing = story.request("create delta-research")
    assert not story.approve(lapsing, APPROVER).errors
    story.private(REQUESTER, "Reveal key")

    world.stop_bot()
    world.advance(95 * 60)
    world.start_bot()

    story.in_thread(pending, "Expired")
    story.in_thread(lapsing, "lapsed")
    world.wait(lambda: [k["api_key"] for k in world.sandbox.keys("alpha-trading")] == [new],
               what="old key deleted after the grace period, across the restart")
    story.in_thread(rotation, "Rotation done")
    assert world.fake.message(APPROVALS, pending.ts).button_labels == []
