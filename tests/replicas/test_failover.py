"""kill -9 of the replica doing the work, mid-way, with DEFAULT settings (10 s lease): one of the two others
finishes or undoes it within 15 s. An incident revoke of many keys (KuCoin slowed, some deletes hanging),
a reveal (KuCoin created the key, its answer not back yet) and a rotation's old-key delete (in flight):
no orphan key at KuCoin, the people told, the audit chain intact."""

from __future__ import annotations

import re
import time
from typing import Any

from bot.domain.actions import AuditAction
from bot.domain.requests import State
from kukey_sandbox.seeding import seed_keys
from kukey_sandbox.world import APPROVALS, APPROVER, APPROVER2, INCIDENT, REQUESTER, RESPONDER, KukeyWorld, Story
from tests.replicas.conftest import (
    FAILOVER_S,
    KEYS,
    REPLICAS,
    SUB,
    audit_actions,
    keys_at_kucoin,
    request_state,
    verify_chain,
)

REVOKED = 12


def _sent(world: KukeyWorld, method: str) -> int:
    return sum(r.method == method and r.path == KEYS for r in list(world.sandbox.requests))


def _kill_and_time(world: KukeyWorld, method: str, until: Any, what: str) -> float:
    """kill -9 the replica whose `method` call to KuCoin is in flight (any replica may run a job, not only
    the one that answered the Slack request); seconds until `until()` holds (at most 15)."""
    owner = world.replica_calling(method, KEYS)
    owner.kill()
    killed = time.monotonic()
    world.wait(until, timeout=FAILOVER_S, what=what)
    return time.monotonic() - killed


def _request_id(post: Any) -> str:
    match = re.search(r"KK-[A-Z0-9]{8}", post.content)
    assert match, post.content
    return match.group(0)


def _approved(story: Story, text: str) -> Any:
    post = story.request(text)
    for approver in (APPROVER, APPROVER2):
        assert not story.approve(post, approver).errors
    story.private(REQUESTER, "Reveal key")
    return post


def test_an_incident_revoke_survives_its_replica(world: KukeyWorld) -> None:
    """kill -9 of the replica revoking 12 keys, with deletes in flight and some hanging at KuCoin: the
    others delete every key within 15 s and announce the revoke; the chain verifies."""
    keys = set(seed_keys(world, SUB, REVOKED))
    world.start_replicas(REPLICAS)
    world.enroll(RESPONDER)
    world.sandbox.set_latency(1.0, path=KEYS)
    world.sandbox.drop_next(4, path=KEYS, method="DELETE", commit=False, hang=30)
    world.driver.slash(RESPONDER, INCIDENT, f"revoke {SUB} all leaked in a screenshot")
    assert not world.submit(RESPONDER, {"code": world.code(RESPONDER)}).errors
    world.wait(lambda: _sent(world, "DELETE") >= REVOKED, what="every delete sent")
    took = _kill_and_time(world, "DELETE", lambda: not keys & keys_at_kucoin(world),
                          "every key deleted by a survivor")
    assert took <= FAILOVER_S
    for channel in (INCIDENT, APPROVALS):
        world.wait(lambda c=channel: any("Incident revoke" in m.content for m in world.fake.messages(c)),
                   timeout=40, what=f"announced in {channel}")  # after the deletes: may wait for KuCoin's window
    assert AuditAction.REVOKE_FINISHED in audit_actions(world)
    verify_chain(world)


def test_a_reveal_is_undone_when_its_replica_dies(world: KukeyWorld) -> None:
    """kill -9 of the replica revealing a key after KuCoin created it but before the secret was shown: a
    survivor deletes the key within 15 s and tells the requester; a new reveal shows one key, once."""
    story = Story(world)
    world.start_replicas(REPLICAS)
    for user in (REQUESTER, APPROVER, APPROVER2):
        world.enroll(user)
    post = _approved(story, f"create {SUB} perms=Spot ips=203.0.113.5 expire=30 failover")
    world.sandbox.drop_next(path=KEYS, method="POST", commit=True, hang=30)
    world.driver.click(REQUESTER, "Reveal key")
    world.wait(lambda: len(keys_at_kucoin(world)) == 1, what="KuCoin created the key")
    took = _kill_and_time(world, "POST", lambda: not keys_at_kucoin(world), "the undelivered key deleted")
    assert took <= FAILOVER_S
    story.private(REQUESTER, "interrupted")
    request_id = _request_id(post)
    world.wait(lambda: request_state(world, request_id) == State.APPROVED, what="approved again")
    world.driver.click(REQUESTER, "Reveal key")
    world.wait(lambda: request_state(world, request_id) == State.REVEALED, what="revealed")
    (key,) = keys_at_kucoin(world)
    shown = [e.content for e in world.fake.ephemerals(REQUESTER) if "Secret" in e.content]
    assert len(shown) == 1 and key in shown[0]
    verify_chain(world)


def test_a_rotation_finishes_when_its_replica_dies_deleting_the_old_key(world: KukeyWorld) -> None:
    """kill -9 of the replica deleting a rotation's old key (the delete in flight at KuCoin): a survivor
    deletes it within 15 s and the thread says the rotation is done."""
    story = Story(world)
    world.start_replicas(REPLICAS)
    for user in (REQUESTER, APPROVER, APPROVER2):
        world.enroll(user)
    first = _request_id(_approved(story, f"create {SUB} perms=Spot ips=203.0.113.5 expire=30 to be rotated"))
    world.driver.click(REQUESTER, "Reveal key")
    world.wait(lambda: request_state(world, first) == State.REVEALED, what="the first key revealed")
    (old,) = keys_at_kucoin(world)
    post = _approved(story, f"rotate {SUB} {old}")
    world.sandbox.drop_next(path=KEYS, method="DELETE", commit=False, hang=30)
    world.driver.click(REQUESTER, "Reveal key")
    world.wait(lambda: _sent(world, "DELETE") == 1, what="the old key's delete sent")
    took = _kill_and_time(world, "DELETE", lambda: old not in keys_at_kucoin(world), "the old key deleted")
    assert took <= FAILOVER_S
    story.in_thread(post, "Rotation done")
    assert len(keys_at_kucoin(world)) == 1
    assert request_state(world, _request_id(post)) == State.DONE
    verify_chain(world)


def test_a_slow_reveal_on_a_live_replica_is_never_taken_over(world: KukeyWorld) -> None:
    """With a 2 s lease and KuCoin taking 4.5 s to answer each call (just inside its 5 s timestamp window),
    the live replica's heartbeat keeps the reveal its own for several leases: no other replica undoes it,
    and the one key is shown once."""
    story = Story(world)
    world.start_replicas(REPLICAS, KUKEY_LEASE_SECONDS="2")
    for user in (REQUESTER, APPROVER, APPROVER2):
        world.enroll(user)
    post = _approved(story, f"create {SUB} perms=Spot ips=203.0.113.5 expire=30 slow exchange")
    world.sandbox.set_latency(4.5, path=KEYS)
    world.driver.click(REQUESTER, "Reveal key")
    request_id = _request_id(post)
    world.wait(lambda: request_state(world, request_id) == State.REVEALED, timeout=30, what="revealed")
    (key,) = keys_at_kucoin(world)
    shown = [e.content for e in world.fake.ephemerals(REQUESTER) if "Secret" in e.content]
    assert len(shown) == 1 and key in shown[0]
    actions = audit_actions(world, request_id)
    assert AuditAction.REVEAL_RECOVERED not in actions and AuditAction.KEY_DELETED not in actions
    assert _sent(world, "POST") == 1
