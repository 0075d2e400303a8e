"""The kill switch: `/kukey revoke everything` in an incident channel deletes every key kukey holds, in every
sub-account, on one responder's TOTP and the number of keys typed to confirm; one message shows its progress
and its thread the report, with the keys out of kukey's reach."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.clock import SystemClock
from bot.slack import ids
from bot.storage import audit_read
from bot.storage.db import make_engine, session_scope
from kukey_sandbox import seeding
from kukey_sandbox.world import APPROVALS, INCIDENT, RESPONDER, TRADING, KukeyWorld, Story

SUBS = ("alpha-trading", "beta-spot", "delta-research")
DELETE_PATH = "/api/v1/sub/api-key"


def audit(world: KukeyWorld) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, outcome, detail) of every audit event, oldest first."""
    engine = make_engine(world.database_url)
    try:
        with session_scope(engine) as s:
            return [(e.action, e.outcome, e.detail) for e in audit_read.events(s)]
    finally:
        engine.dispose()


def seed(world: KukeyWorld, per_sub: int = 2) -> set[str]:
    """`per_sub` keys kukey holds in each of SUBS; their api keys."""
    return {k for sub in SUBS for k in seeding.seed_keys(world, sub, per_sub, clock=world.clock)}


def at_kucoin(world: KukeyWorld) -> set[str]:
    return {k["api_key"] for sub in SUBS for k in world.sandbox.keys(sub)}


def pull(world: KukeyWorld, count: str, reason: str = "master credentials leaked") -> Any:
    """The responder types the command in the incident channel and submits the form."""
    world.driver.slash(RESPONDER, INCIDENT, f"revoke everything {reason}")
    return world.submit(RESPONDER, {ids.COUNT_BLOCK: count, "code": world.code(RESPONDER)},
                        callback_id=ids.KILL_SWITCH_VIEW)


def test_kill_switch_in_both_transports(two_transports: Story) -> None:
    """A wrong count is refused (audited, nothing deleted); the right one deletes every key kukey holds across
    sub-accounts, its post shows the progress and then the outcome, and its thread lists every key and the
    keys out of kukey's reach with what to do in KuCoin's web UI."""
    world = two_transports.w
    world.enroll(RESPONDER)
    two_transports.private(RESPONDER, "enrollment confirmed")
    ours = seed(world)
    foreign = set(seeding.seed_keys(world, "beta-spot", 1, clock=world.clock, record=False))
    world.bot.services.reconciler.run(post=False)  # kukey learns of the key made outside it
    world.sandbox.set_latency(2.5, path=DELETE_PATH)  # long enough for a progress update in between

    refused = pull(world, "5")
    assert refused.errors == {ids.COUNT_BLOCK: "kukey holds 6 keys, not 5: nothing was deleted. Type 6 to delete "
                                               "them all."}
    assert at_kucoin(world) >= ours
    assert [a for a, _, d in audit(world) if a.startswith("kill_switch")] == ["kill_switch.refused"]

    assert not world.driver.submit(RESPONDER, {ids.COUNT_BLOCK: "6", "code": world.code(RESPONDER)}).errors
    post = world.wait(lambda: next((m for m in world.fake.messages(INCIDENT) if "Kill switch" in m.content), None),
                      what="the progress message")
    assert "of 6* keys deleted" in post.content and "Time left" in post.content
    world.wait(lambda: not ours & at_kucoin(world), timeout=20, what="every key gone")
    assert foreign <= at_kucoin(world)
    done = world.wait(lambda: (m := world.fake.message(INCIDENT, post.ts)) is not None
                      and "Kill switch* done" in m.content and m, timeout=20, what="the outcome in the post")
    assert "*6 of 6* keys deleted" in done.content and done.edits >= 2
    replies = world.wait(lambda: (t := world.fake.thread(INCIDENT, post.ts)) and len(t) >= 2 and t,
                         what="the report")
    thread = " ".join(m.content for m in replies)
    assert all(f"`{k}`: :white_check_mark: deleted" in thread for k in ours)
    assert all(k in thread for k in foreign) and "web UI" in thread
    world.wait(lambda: any("Kill switch" in m.content for m in world.fake.messages(APPROVALS)), what="announced")
    actions = [a for a, _, _ in audit(world)]
    assert actions.count("key.deleted") == 6
    assert [a for a in actions if a.startswith("kill_switch")] == ["kill_switch.refused", "kill_switch.started",
                                                                   "kill_switch.finished"]


def test_kill_switch_outside_an_incident_channel_is_refused(story: Story) -> None:
    """`revoke everything` anywhere but an incident channel gets one line, an audit event, and no form."""
    world = story.w
    seed(world, per_sub=1)
    ack = world.driver.slash(RESPONDER, TRADING, "revoke everything")
    assert ack.ok
    note = story.private(RESPONDER, "revoke everything")
    assert "only in an incident channel" in note.content
    assert world.fake.modal(RESPONDER) is None
    assert [(a, o) for a, o, _ in audit(world) if a.startswith("kill_switch")] == [("kill_switch.refused", "refused")]


@pytest.fixture
def paced(tmp_path: Path, database_url: str) -> Iterator[KukeyWorld]:
    """`kukey run` in a process of its own (real clock, 3 s lease), on SQLite and on PostgreSQL, with a
    Management pool that pays for three deletes per 2 s window, so that a kill switch of nine keys spans
    several windows."""
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock(), database_url=database_url,
                    sandbox_kwargs={"window_seconds": 2.0, "management_budget": 90}) as world:
        world.start_process()
        world.enroll(RESPONDER)
        yield world


def test_kill_switch_resumes_after_a_crash(paced: KukeyWorld) -> None:
    """Killed while its deletes wait for the rate pool, the kill switch goes on after a restart: every key is
    deleted and the report names every key. The restarted process knows nothing of the pool, so its first
    call probes it alone: that one may find the window the killed process spent (a 429), no other call.
    The seeding's creates spend the same account's pool: the kill switch starts once their window has passed
    (else its own first call may find that window spent, as it did on a loaded machine)."""
    world = paced
    ours = {k for sub in SUBS for k in seeding.seed_keys(world, sub, 3)}
    world.wait(lambda: world.sandbox.management_spent() == 0, what="the seeding's rate-limit window over")
    limited = world.sandbox.answer_counts().get("429000", 0)
    assert not pull(world, "9").errors
    world.wait(lambda: 0 < len(ours - at_kucoin(world)) < 9, timeout=10, what="some keys deleted")
    world.kill_process()
    left = ours & at_kucoin(world)
    assert left
    world.start_process()
    world.wait(lambda: not ours & at_kucoin(world), timeout=30, what="every key deleted after the restart")
    post = world.wait(lambda: next((m for m in world.fake.messages(INCIDENT) if "Kill switch* done" in m.content),
                                   None), timeout=20, what="the outcome")
    assert "*9 of 9* keys deleted" in post.content
    world.wait(lambda: all(f"`{k}`: :white_check_mark: deleted" in " ".join(
        m.content for m in world.fake.thread(INCIDENT, post.ts)) for k in ours), what="the report")
    assert world.sandbox.answer_counts().get("429000", 0) <= limited + 1


def test_progress_is_updated_at_least_every_five_seconds(paced: KukeyWorld) -> None:
    """While the deletes wait for the rate pool's windows, the progress message changes at least every 5 s,
    from its post to its last update."""
    world = paced
    ours = {k for sub in SUBS for k in seeding.seed_keys(world, sub, 3)}
    assert not pull(world, "9").errors
    seen: list[tuple[float, int]] = []  # (when, edits) each time the post changed

    def watch() -> bool:
        post = next((m for m in world.fake.messages(INCIDENT) if "Kill switch" in m.content), None)
        if post is not None and (not seen or seen[-1][1] != post.edits):
            seen.append((time.monotonic(), post.edits))
        return post is not None and "Kill switch* done" in post.content

    world.wait(watch, timeout=30, what="the kill switch done")
    assert not ours & at_kucoin(world)
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(seen)]
    assert len(seen) >= 3 and max(gaps) <= 5.0, gaps


def test_one_key_is_counted_as_one_key(story: Story) -> None:
    """With one key held, the form, its refusal of a wrong count, the progress message and the announcement
    say "1 key", not "1 keys"."""
    world = story.w
    (key,) = seeding.seed_keys(world, "alpha-trading", 1, clock=world.clock)
    world.driver.slash(RESPONDER, INCIDENT, "revoke everything one key leaked")
    form = world.wait(lambda: world.fake.modal(RESPONDER), what="the kill switch's form")
    assert "in every sub-account: *1* key. Keys kukey did not create stay" in form.content
    refused = world.driver.submit(RESPONDER, {ids.COUNT_BLOCK: "2", "code": world.code(RESPONDER)})
    assert refused.errors == {ids.COUNT_BLOCK: "kukey holds 1 key, not 2: nothing was deleted. Type 1 to delete it."}
    assert not world.driver.submit(RESPONDER, {ids.COUNT_BLOCK: "1", "code": world.code(RESPONDER)}).errors
    done = world.wait(lambda: next((m for m in world.fake.messages(INCIDENT) if "Kill switch* done" in m.content),
                                   None), what="the kill switch done")
    assert "*1 of 1* key deleted" in done.content and key not in at_kucoin(world)
    told = world.wait(lambda: next((m for m in world.fake.messages(APPROVALS) if "Kill switch" in m.content), None),
                      what="announced")
    assert told.content.endswith("1 of 1 key deleted.")
