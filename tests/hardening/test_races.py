"""Races: the same approval, reveal or command arriving many times at once, on one bot or on two bot
processes sharing one database, is done exactly once (compare-and-set and unique constraints), on SQLite
and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.config import Settings
from kukey_sandbox.slack import payloads
from kukey_sandbox.slack.driver import Ack, SlackDriver
from kukey_sandbox.world import (
    APPROVALS,
    APPROVER_GROUP,
    INCIDENT,
    REQUESTER,
    RESPONDER,
    TRADING,
    KukeyWorld,
    Story,
    default_policy,
)
from tests.hardening.helpers import audit_actions, concurrently, form, posted

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 race"
APPROVERS = [f"U0APPR{i:03d}" for i in range(20)]
COPIES = 20  # concurrent deliveries of one reveal submission or one command
NEEDED = 2
ROUNDS = 3  # requests raced through approval and reveal, per test


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[KukeyWorld]:
    """The scenario world (the bot over HTTP against both sandboxes), on SQLite and on PostgreSQL."""
    with KukeyWorld(home=tmp_path, database_url=database_url) as w:
        yield w


@pytest.fixture
def crowd(tmp_path: Path, database_url: str) -> Iterator[Story]:
    """approvals = 2, twenty enrolled approvers in the approver group, and an enrolled requester."""
    with KukeyWorld(home=tmp_path, policy_text=default_policy(approvals=NEEDED), database_url=database_url) as world:
        for i, uid in enumerate(APPROVERS):
            world.fake.add_user(uid, f"approver{i}")
            world.fake.join(APPROVALS, uid)
            world.fake.join(TRADING, uid)
        world.fake.add_usergroup(APPROVER_GROUP, "approvers", users=APPROVERS)
        for uid in [REQUESTER, *APPROVERS]:
            world.enroll(uid)
        yield Story(world)


def _second_bot(world: KukeyWorld) -> tuple[Any, str]:
    """Another kukey process on the same database: its own app, worker, scheduler and HTTP endpoint."""
    from bot.app import build

    settings = Settings.from_env(world.env(), need=["kucoin", "master_key", "policy", "slack_http"])
    bot = build(settings, clock=world.clock, scheduler_interval=world.scheduler_interval)
    return bot, bot.start_http().url


class _NoModal:
    spec: dict[str, str] = {}


def _drivers(world: KukeyWorld, *urls: str) -> list[SlackDriver]:
    """Drivers with a generous ack deadline: 20 requests at once on 2 cores queue on the database lock."""
    return [SlackDriver(world.fake, url=url, ack_timeout=20) for url in urls]


def _submission(world: KukeyWorld, user: str, values: dict[str, str]) -> bytes:
    """The signed-ready body of `user` submitting their open modal with `values`, without sending it."""
    world.wait(lambda: world.fake.modal(user) is not None, what=f"modal for {user}")
    with world.fake.world.transaction() as w:
        view = w.modal(user)
        assert view is not None
        payloads.fill(view, values)
        payload = payloads.view_submission(w, user=user, view=view, trigger_id=w.issue_trigger(user, view.id),
                                           token=world.fake.verification_token)
    return form(payload)


def _post(driver: SlackDriver, body: bytes) -> Ack:
    """Deliver a body like Slack; the ack's inline modal errors land in `.errors`, as Slack would show them."""
    ack = driver.send_raw(body, driver.signed_headers(body))
    answer = ack.json or {}
    if answer.get("response_action") == "errors":
        ack.errors = dict(answer.get("errors") or {})
    return ack


def _approve_all_at_once(story: Story, post: Any, drivers: list[SlackDriver]) -> list[Ack]:
    """Every approver opens the TOTP modal, then all twenty submit valid codes at the same moment."""
    world = story.w
    world.advance(30)
    bodies = []
    request_id = post.content.split("request `")[1].split("`")[0]
    for uid in APPROVERS:
        world.driver.click(uid, "Approve", channel=APPROVALS, ts=post.ts)
        # the modal opens just after the ack: wait for this request's, not one left open by an earlier round
        world.wait(lambda u=uid: request_id in str((world.fake.modal(u) or _NoModal).spec.get("private_metadata")),
                   what=f"the approve modal of {uid}")
        bodies.append(_submission(world, uid, {"code": world.code(uid, fresh=False)}))
    n = len(drivers)
    calls = [lambda b=b, d=drivers[i % n]: _post(d, b) for i, b in enumerate(bodies)]
    return concurrently(calls, workers=len(calls))


def _reveal_all_at_once(story: Story, drivers: list[SlackDriver]) -> list[Ack]:
    """The requester opens the Reveal modal once; its submission, with each of the three codes the drift
    window accepts, is delivered COPIES times at once."""
    world = story.w
    offer = story.private(REQUESTER, "Reveal key")
    request_id = offer.content.split("request `")[1].split("`")[0]
    world.driver.click(REQUESTER, "Reveal key")
    world.wait(lambda: request_id in str((world.fake.modal(REQUESTER) or _NoModal).spec.get("private_metadata")),
               what="the reveal modal of this request")
    world.advance(90)
    bodies = [_submission(world, REQUESTER, {"code": world.code(REQUESTER, offset_steps=i % 3 - 1,
                                                                 fresh=False)}) for i in range(3)]
    n = len(drivers)
    calls = [lambda b=bodies[i % 3], d=drivers[i % n]: _post(d, b) for i in range(COPIES)]
    return concurrently(calls, workers=COPIES)


def _secrets_shown(world: KukeyWorld) -> list[str]:
    return [e.content for e in world.fake.ephemerals(REQUESTER) if "Secret" in e.content]


def _one_key_one_delivery(story: Story, acks: list[Ack], audit_from: int, keys_before: int) -> None:
    """Exactly one delivery was accepted; once it is done (refused ones queue nothing), KuCoin holds one
    more key, the requester saw one more secret, and the audit log has one create and one reveal."""
    world = story.w
    assert [a.status for a in acks] == [200] * len(acks)
    assert sum(not a.errors for a in acks) == 1, [a.errors for a in acks]
    world.wait(lambda: "key.revealed" in audit_actions(world, since=audit_from), timeout=30, what="the reveal done")
    assert len(_secrets_shown(world)) == keys_before + 1
    keys = world.sandbox.keys("alpha-trading")
    assert len(keys) == keys_before + 1
    actions = audit_actions(world, since=audit_from)
    assert [actions.count(a) for a in ("reveal.started", "key.created", "key.revealed")] == [1, 1, 1]


def _round(story: Story, drivers: list[SlackDriver], keys_before: int) -> None:
    """One request raced through approval and reveal."""
    world = story.w
    post = story.request(CREATE)
    start = len(audit_actions(world))
    acks = _approve_all_at_once(story, post, drivers)
    assert [a.status for a in acks] == [200] * len(APPROVERS)
    assert sum(not a.errors for a in acks) == NEEDED, [a.errors for a in acks]
    refused = [a.errors["code"] for a in acks if a.errors]
    assert all(re.search(r"not pending|no longer pending|resolved", m) for m in refused), refused
    actions = audit_actions(world, since=start)
    assert (actions.count("request.approval"), actions.count("request.approved")) == (NEEDED, 1)
    start = len(audit_actions(world))
    _one_key_one_delivery(story, _reveal_all_at_once(story, drivers), start, keys_before)


def test_concurrent_approvals_and_reveals_do_everything_once(crowd: Story) -> None:
    """Per round, twenty approvers submit valid codes at once (exactly two approvals count, eighteen are told
    the request is no longer pending), then one Reveal submission is delivered twenty times at once (with
    all three codes the drift window accepts): one key at KuCoin, its secret shown once."""
    for keys_before in range(ROUNDS):
        _round(crowd, _drivers(crowd.w, crowd.w.driver.url), keys_before)


def test_two_bot_processes_on_one_database_still_do_everything_once(crowd: Story) -> None:
    """With a second bot process on the same database, the same races split across both endpoints still
    give two approvals, one key at KuCoin and one delivery per round."""
    world = crowd.w
    other, url = _second_bot(world)
    try:
        drivers = _drivers(world, world.driver.url, url)
        for keys_before in range(ROUNDS):
            _round(crowd, drivers, keys_before)
    finally:
        other.stop()


def test_the_same_commands_delivered_many_times_make_one_request_each(story: Story) -> None:
    """Three signed /kukey create commands, each delivered twenty times at once (same trigger_id, as Slack
    retries), make exactly three requests and three posts."""
    world = story.w
    bodies = [_command(world, f"{CREATE} {i}") for i in range(3)]
    acks = concurrently([lambda b=b: _post(world.driver, b) for b in bodies * COPIES], workers=COPIES)
    assert [a.status for a in acks] == [200] * len(acks)
    world.wait(lambda: len(world.fake.messages(APPROVALS)) >= len(bodies), what="the requests posted")
    world.wait(lambda: posted(world), what="the posts recorded")
    world.stop_bot()  # drains every worker: whatever a duplicate could still do has happened now
    assert len(world.fake.messages(APPROVALS)) == len(bodies)
    assert audit_actions(world).count("request.created") == len(bodies)


def _command(world: KukeyWorld, text: str) -> bytes:
    """The body Slack posts when the requester types `/kukey <text>` in the trading channel."""
    with world.fake.world.transaction() as w:
        url = w.issue_response_url(world.fake.base_url, REQUESTER, TRADING, None).url
        fields = payloads.slash_command(w, user=REQUESTER, channel=w.channels[TRADING], command="/kukey",
                                        text=text, response_url=url, trigger_id=w.issue_trigger(REQUESTER),
                                        token=world.fake.verification_token)
    return urlencode(fields).encode()


def test_an_incident_revoke_delivered_many_times_revokes_once(story: Story) -> None:
    """A responder's incident-revoke submission delivered twenty times at once (with the three codes the
    drift window accepts) makes one revoke request, never a 500, and the key is deleted once."""
    world = story.w
    api_key = story.create_key()
    world.driver.slash(RESPONDER, INCIDENT, f"revoke alpha-trading {api_key} leaked")
    world.advance(90)
    bodies = [_submission(world, RESPONDER, {"code": world.code(RESPONDER, offset_steps=i % 3 - 1, fresh=False)})
              for i in range(3)]
    acks = concurrently([lambda b=bodies[i % 3]: _post(world.driver, b) for i in range(COPIES)], workers=COPIES)
    assert [a.status for a in acks] == [200] * COPIES, [a.body[:80] for a in acks]
    world.wait(lambda: world.sandbox.keys("alpha-trading") == [], what="the key deleted")
    world.stop_bot()
    actions = audit_actions(world)
    assert actions.count("revoke.incident") == 1 and actions.count("key.deleted") == 1


def test_a_kill_switch_delivered_many_times_runs_once(story: Story) -> None:
    """A responder's kill-switch submission delivered twenty times at once (with the three codes the drift
    window accepts) starts one kill switch, never a 500, and deletes each key once."""
    world = story.w
    keys = [story.create_key(), story.create_key()]
    world.driver.slash(RESPONDER, INCIDENT, "revoke everything leaked")
    world.advance(90)
    bodies = [_submission(world, RESPONDER, {"count": "2", "code": world.code(RESPONDER, offset_steps=i % 3 - 1,
                                                                               fresh=False)}) for i in range(3)]
    acks = concurrently([lambda b=bodies[i % 3]: _post(world.driver, b) for i in range(COPIES)], workers=COPIES)
    assert [a.status for a in acks] == [200] * COPIES, [a.body[:80] for a in acks]
    world.wait(lambda: not {k["api_key"] for k in world.sandbox.keys("alpha-trading")} & set(keys),
               what="the keys deleted")
    world.wait(lambda: "kill_switch.finished" in audit_actions(world), what="the kill switch finished")
    world.stop_bot()
    actions = audit_actions(world)
    assert actions.count("kill_switch.started") == 1 and actions.count("key.deleted") == 2
