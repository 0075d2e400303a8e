"""The story kukey exists for: request, approve with TOTP in the thread, reveal once, wipe."""

from __future__ import annotations

import re

from kukey_sandbox.world import APPROVALS, APPROVER, REQUESTER, TRADING, KukeyWorld


def test_create_approve_reveal_wipe(world: KukeyWorld) -> None:
    """A Spot key is requested, approved by a second person with TOTP, revealed once and wiped."""
    world.enroll(APPROVER)
    world.enroll(REQUESTER)
    ack = world.driver.slash(REQUESTER, TRADING, "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 bot")
    assert ack.ok
    post = world.wait(lambda: next(iter(world.fake.messages(APPROVALS)), None), what="request posted")
    assert "alpha-trading" in post.content and post.button_labels == ["Approve", "Deny"]
    world.driver.click(APPROVER, "Approve", channel=APPROVALS)
    result = world.submit(APPROVER, {"code": world.code(APPROVER)})
    assert not result.errors
    world.wait(lambda: any("Reveal key" in e.button_labels for e in world.fake.ephemerals(REQUESTER)),
               what="reveal offered")
    # the requester is offered the reveal first; the post loses its buttons right after
    world.wait(lambda: world.fake.message(APPROVALS, post.ts).button_labels == [], what="the post without buttons")
    world.driver.click(REQUESTER, "Reveal key")
    result = world.submit(REQUESTER, {"code": world.code(REQUESTER)})
    assert not result.errors
    secret_msg = world.wait(lambda: next((e for e in world.fake.ephemerals(REQUESTER) if "Secret" in e.content), None),
                            what="secret shown")
    api_key = re.search(r"API key:\*? `([0-9a-f]{24})`", secret_msg.content).group(1)
    assert [k["api_key"] for k in world.sandbox.keys("alpha-trading")] == [api_key]
    world.driver.click(REQUESTER, "Stored it - wipe")
    world.wait(lambda: not any("Secret" in e.content for e in world.fake.ephemerals(REQUESTER)), what="wiped")
