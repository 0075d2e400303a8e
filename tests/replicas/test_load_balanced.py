"""Three replicas behind a round-robin load balancer (HTTP mode) on one PostgreSQL database: every request
may land on any replica, and concurrent clicks spread over them still give one approval per approver,
one key, one delivery and one intact audit chain."""

from __future__ import annotations

import re

from bot.domain.actions import AuditAction
from bot.domain.requests import State
from kukey_sandbox.replicas import RoundRobin
from kukey_sandbox.world import REQUESTER, KukeyWorld, Story
from tests.replicas.conftest import (
    REPLICAS,
    add_approvers,
    at_once,
    audit_actions,
    keys_at_kucoin,
    request_state,
    verify_chain,
)

CONCURRENT = 20


def test_concurrent_approvals_and_reveals_across_replicas_give_one_key(world: KukeyWorld) -> None:
    """20 approvers approve at once and the requester clicks Reveal 20 times at once, every request sent to
    the next replica: exactly the 2 approvals needed count, one key is created and shown once, and
    `kukey audit verify` passes."""
    world.start_replicas(REPLICAS)
    story, approvers = Story(world), add_approvers(world, CONCURRENT)
    at_once([lambda u=user: world.enroll(u) for user in [REQUESTER, *approvers]])
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30 replicated")
    request_id = re.search(r"KK-[A-Z0-9]{8}", post.content).group(0)  # type: ignore[union-attr]
    for approver in approvers:  # each opens their own form (a click per approver, any replica)
        world.driver.click(approver, "Approve", ts=post.ts)
        world.wait(lambda a=approver: world.fake.modal(a) is not None, what=f"{approver}'s form")
    codes = {approver: world.code(approver) for approver in approvers}
    at_once([lambda a=approver: world.driver.submit(a, {"code": codes[a]}) for approver in approvers])
    story.private(REQUESTER, "Reveal key")
    at_once([lambda: world.driver.click(REQUESTER, "Reveal key") for _ in range(CONCURRENT)])
    world.wait(lambda: request_state(world, request_id) == State.REVEALED, what="the key revealed")
    shown = story.private(REQUESTER, "Secret")
    actions = audit_actions(world, request_id)
    assert actions.count(AuditAction.REQUEST_APPROVAL) == 2 and actions.count(AuditAction.REQUEST_APPROVED) == 1
    assert actions.count(AuditAction.KEY_CREATED) == 1 and actions.count(AuditAction.KEY_REVEALED) == 1
    (key,) = keys_at_kucoin(world)
    assert key in shown.content
    assert sum("Secret" in e.content for e in world.fake.ephemerals(REQUESTER)) == 1
    driver = world.driver
    assert isinstance(driver, RoundRobin) and set(driver.sent) == {r.url for r in world.replicas}
    verify_chain(world)
