"""Slack misbehaving the way the real Slack does, in both transports: what kukey owes people is owed from
the transaction of the change (the outbox), and delivered once, in order, however Slack answers.

Rate limits on the request's post, Slack down for minutes then back, an answer lost after Slack posted,
a post Slack refuses until kukey gives up, a reply whose response_url expired: nothing lost, nothing
shown twice, nobody left waiting for a request nobody can see. Each story prints a `[figure]` line
(`pytest -s`) for docs/reliability.md.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from bot.domain.actions import AuditAction
from kukey_sandbox.world import ADMIN, APPROVALS, APPROVER, REQUESTER, TRADING, KukeyWorld, Story
from tests.databases import rows
from tests.scenarios.outbox_helpers import (
    RECORDED,
    heads,
    landed_per_key,
    let_time_pass,
    open_items,
    outbox,
    posts_of,
    private_notes,
    top_level_posts,
)

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 market making"
OUTAGE = ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.getPermalink", "conversations.open",
          "conversations.history", "conversations.replies")


@pytest.fixture
def story(two_transports: Story) -> Story:
    """The bot over HTTP, then over Socket Mode, with the requester and an approver enrolled."""
    return two_transports


def submit(story: Story, text: str = CREATE) -> str:
    """The requester types the command; the id of the request they are told is recorded."""
    assert story.w.driver.slash(REQUESTER, TRADING, text).ok
    note = story.private(REQUESTER, "Recorded as")
    found = RECORDED.search(note.content)
    assert found, note.content
    return found.group(1)


def thread_texts(world: KukeyWorld, post: Any) -> list[str]:
    return [m.text for m in world.fake.thread(APPROVALS, post.ts)]


@pytest.mark.parametrize("limits", [1, 3, 10])
def test_a_request_post_meets_rate_limits_and_is_posted_once(story: Story, limits: int) -> None:
    """The request's post meets `limits` rate limits in a row (Retry-After: 1), and the requester cancels
    it meanwhile: it is posted once, the requester is told twice (recorded at once, then the link), and the
    cancellation comes after the post, in its thread (it waited for the post, whatever Slack said)."""
    world = story.w
    started = time.monotonic()
    world.fake.rate_limit("chat.postMessage", times=limits, retry_after=1)
    rid = submit(story)
    assert world.driver.slash(REQUESTER, TRADING, f"cancel {rid}").ok
    story.private(REQUESTER, f"Request {rid} cancelled.")
    post = let_time_pass(world, lambda: next(iter(posts_of(world, rid)), None), step=2, most=60,
                         what="the request posted")
    let_time_pass(world, lambda: thread_texts(world, post), step=2, most=60, what="the cancellation noted")
    assert [c.error for c in top_level_posts(world)] == ["ratelimited"] * limits + [None]
    assert len(posts_of(world, rid)) == 1
    assert [t.split(" at ")[0] for t in thread_texts(world, post)] == [f"Cancelled by <@{REQUESTER}>"]
    assert world.fake.message(APPROVALS, post.ts).button_labels == []  # type: ignore[union-attr]
    link = story.private(REQUESTER, "was posted for approval")
    assert "https://kukey-sandbox.slack.com/archives/" in link.content
    assert [len(private_notes(world, REQUESTER, n)) for n in ("Recorded as", "was posted for approval")] == [1, 1]
    world.wait(lambda: not open_items(world), what="everything delivered")
    assert set(landed_per_key(world).values()) == {1}
    print(f"[figure] post after {limits} rate limits: posted once in {time.monotonic() - started:.1f} s, "
          f"0 lost, 0 duplicated")


def test_slack_down_for_minutes_then_back_delivers_everything_once_in_order(story: Story) -> None:
    """Slack answers 503 to every message call for five minutes (of the bot's time), during which an approval
    and a new request happen: each message is tried again and again, and once Slack is back everything is
    delivered, once, in its order (the update before the thread note, the post before its link)."""
    world = story.w
    first = story.request(CREATE)
    for method in OUTAGE:
        world.fake.fail(method, "service_unavailable", status=503, times=100_000)
    assert not story.approve(first, APPROVER).errors
    second = submit(story, CREATE.replace("market making", "second bot"))
    let_time_pass(world, lambda: all(r[4] >= 2 for r in heads(world)), step=30, most=300,
                  what="every stream's next message tried twice during the outage")
    assert world.fake.message(APPROVALS, first.ts).button_labels == ["Approve", "Deny"]  # type: ignore[union-attr]
    owed = len(open_items(world))
    world.fake.faults.clear()
    let_time_pass(world, lambda: not open_items(world), step=30, most=300, what="everything delivered")
    assert [t.split(" (until")[0] for t in thread_texts(world, first)] == [
        f"<@{APPROVER}> approved. Waiting for <@{REQUESTER}> to reveal the key"]
    assert world.fake.message(APPROVALS, first.ts).button_labels == []  # type: ignore[union-attr]
    assert len(posts_of(world, second)) == 1
    assert len(private_notes(world, REQUESTER, "Reveal key")) == 1
    assert len(private_notes(world, REQUESTER, f"Request `{second}` was posted for approval")) == 1
    assert set(landed_per_key(world).values()) == {1}
    assert {r[3] for r in outbox(world)} == {"sent"}
    print(f"[figure] Slack down 5 min: {owed} messages owed, all delivered once after it came back")


def test_an_answer_lost_after_slack_posted_is_not_posted_again(story: Story) -> None:
    """Slack posts the request (and later a thread note) but the answer never reaches kukey (the connection
    closes): kukey finds the message by its metadata before trying again, and nothing appears twice."""
    world = story.w
    world.fake.lose_answers("chat.postMessage", times=1)
    rid = submit(story)
    story.private(REQUESTER, f"Request `{rid}` was posted for approval")
    post = posts_of(world, rid)[0]
    world.fake.lose_answers("chat.postMessage", times=1)
    assert not story.approve(post, APPROVER).errors
    story.in_thread(post, "approved. Waiting for")
    world.wait(lambda: not open_items(world), what="everything delivered")
    assert len(posts_of(world, rid)) == 1 and len(thread_texts(world, post)) == 1
    assert [c.method for c in world.fake.calls() if c.method.startswith("conversations.")
            and c.method != "conversations.open"] == ["conversations.history", "conversations.replies"]
    assert set(landed_per_key(world).values()) == {1}
    print("[figure] answers lost after Slack posted: 2 (a post and a thread note), 0 duplicated")


def test_a_post_slack_refuses_until_kukey_gives_up_cancels_the_request(story: Story) -> None:
    """The approvals channel was archived: the request's post is refused until kukey gives up (halfway to
    the request's expiry), which is audited; the request is cancelled instead of waiting unseen, the
    requester is told what to do, and the admins get a direct message."""
    world = story.w
    world.fake.archive(APPROVALS)
    rid = submit(story)
    told = let_time_pass(world, lambda: private_notes(world, REQUESTER, "could not be posted"), step=60,
                         most=20 * 60, what="the requester told")
    assert f"Your request `{rid}` could not be posted to <#{APPROVALS}>" in told[0] and "is_archived" in told[0]
    admin = world.wait(lambda: private_notes(world, ADMIN, "gave up"), what="the admins told")
    assert f"about request `{rid}`" in admin[0] and "was cancelled" in admin[0]
    assert rows(world.database_url, "SELECT state, resolved_by FROM request WHERE id = ?", (rid,)) == [
        ("cancelled", "kukey")]
    events = rows(world.database_url, "SELECT action, actor FROM audit_event WHERE request_id = ? ORDER BY seq",
                  (rid,))
    assert events[-2:] == [(AuditAction.MESSAGE_GIVEN_UP.value, "kukey"),
                           (AuditAction.REQUEST_CANCELLED.value, "kukey")]
    world.wait(lambda: not open_items(world), what="nothing more owed")
    # the post, the link to it (which never was), the note to the requester
    assert [(r[2], r[3]) for r in outbox(world) if r[1] == rid] == [
        ("post", "given_up"), ("private", "dropped"), ("private", "sent")]
    assert rid not in world.driver.slash(REQUESTER, TRADING, "pending").message()["text"]
    print("[figure] post refused until given up: request cancelled, requester and admins told, audited")


def test_a_reply_whose_response_url_expired_comes_as_a_direct_message(story: Story) -> None:
    """A command typed in a private channel kukey is not in: its answer reaches the response_url after 30
    minutes, Slack refuses it, an ephemeral there is impossible too, so it comes as a direct message."""
    world = story.w
    world.fake.add_channel("C0PRIVATE", "private-ops", members=[REQUESTER], is_private=True)
    with world.fake.hold("response_url") as held:
        assert world.driver.slash(REQUESTER, "C0PRIVATE", "cancel KK-7F3Q9C2M").ok
        held.wait()
        world.fake.advance(31 * 60)
    dm = world.fake.dm(REQUESTER)
    world.wait(lambda: any(m.text == "Request KK-7F3Q9C2M does not exist." for m in world.fake.messages(dm)),
               what="the answer as a direct message")
    assert not any("KK-7F3Q9C2M" in e.content for e in world.fake.ephemerals(REQUESTER))


def test_no_secret_ever_enters_the_outbox(story: Story) -> None:
    """After a whole lifecycle (request, approval, reveal, wipe), no outbox row holds the secret or the
    passphrase that were shown, nor the words that introduce them."""
    world = story.w
    post = story.request(CREATE)
    assert not story.approve(post, APPROVER).errors
    api_key = story.reveal()
    shown = next(e.content for e in world.fake.ephemerals(REQUESTER) if "Secret" in e.content)
    secret = re.search(r"Secret:\*? `([^`]+)`", shown)
    passphrase = re.search(r"Passphrase:\*? `([^`]+)`", shown)
    assert secret and passphrase
    world.wait(lambda: not open_items(world), what="everything delivered")
    table = repr(outbox(world))
    assert api_key in table  # the thread note names the new key: the scan reads the right rows
    for needle in (secret.group(1), passphrase.group(1), "Secret:", "Passphrase:"):
        assert needle not in table


def test_what_is_owed_behind_a_run_in_flight_follows_it_at_once(tmp_path: Path) -> None:
    """A cancellation owed while the request's post and link are still on their way (the link held at
    Slack's door) goes out as soon as they are recorded, not at the dispatcher's next poll (30 s here)."""
    with KukeyWorld(home=tmp_path, scheduler_interval=30, env_extra={"KUKEY_LEASE_SECONDS": "120"}) as world:
        story = Story(world)
        world.enroll(REQUESTER)
        with world.fake.hold("chat.postEphemeral") as held:
            rid = submit(story)
            held.wait()
            assert world.driver.slash(REQUESTER, TRADING, f"cancel {rid}").ok
            story.private(REQUESTER, f"Request {rid} cancelled.")
        post = posts_of(world, rid)[0]
        world.wait(lambda: thread_texts(world, post), timeout=5, what="the cancellation noted at once")
        story.private(REQUESTER, f"Request `{rid}` was posted for approval")
