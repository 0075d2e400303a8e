"""Approvers told by direct message, reminded while a request waits (backing off), and the escalation group
told once: through the Slack fake, over HTTP and Socket Mode, with the bot's clock moved forward."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.actions import AuditAction
from kukey_sandbox.world import (
    ADMIN,
    APPROVALS,
    APPROVER,
    APPROVER2,
    REQUESTER,
    TRADING,
    KukeyWorld,
    Story,
    default_policy,
)
from tests.databases import rows
from tests.scenarios.outbox_helpers import open_items
from tests.scenarios.test_approval import CREATE

ASKED, REMINDER, ESCALATED = "asks for your approval", "Reminder ", "you are told as `admins`"
RESOLVED = "needs nothing more from you"  # a DM once its request is resolved


@pytest.fixture(params=["http", "socket"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def world_with(tmp_path: Path, transport: str, policy: str) -> KukeyWorld:
    """A world on `policy` with the requester and the first approver enrolled."""
    world = KukeyWorld(home=tmp_path, socket=transport == "socket", policy_text=policy)
    story = Story(world)
    for user in (REQUESTER, APPROVER):
        world.enroll(user)
        story.private(user, "enrollment confirmed")
    return world


@pytest.fixture
def dm_world(tmp_path: Path, transport: str) -> Iterator[KukeyWorld]:
    """notify = "dm", reminders from 5 minutes, escalation to the admins after 20; the requester is also
    listed among the approvers (and must never be asked to approve their own request)."""
    policy = default_policy(notify="dm", remind_after_minutes=5, escalate_to="admins", escalate_after_minutes=20,
                            request_ttl_minutes=120)
    policy = policy.replace('approvers = ["S0APPROVERS"]', f'approvers = ["S0APPROVERS", "{REQUESTER}"]')
    with world_with(tmp_path, transport, policy) as world:
        yield world


def direct(world: KukeyWorld, user: str, needle: str) -> list[Any]:
    """The direct messages kukey sent `user` that contain `needle`."""
    return [m for m in world.fake.messages(world.fake.dm(user)) if needle in m.content]


def request_id(post: Any) -> str:
    return str(post.content.split("(request `", 1)[1].split("`", 1)[0])


def job(world: KukeyWorld, kind: str, rid: str) -> tuple[datetime, str]:
    """(run_at, state) of the request's job of `kind`."""
    ((run_at, state),) = rows(world.database_url, "SELECT run_at, state FROM job WHERE kind = ? AND ref = ?",
                              (kind, rid))
    return _time(run_at), str(state)


def created(world: KukeyWorld, rid: str) -> datetime:
    ((at,),) = rows(world.database_url, "SELECT created_at FROM request WHERE id = ?", (rid,))
    return _time(at)


def _time(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.replace(tzinfo=None)


def audit(world: KukeyWorld, rid: str, action: AuditAction) -> list[str]:
    """The `detail` of each of the request's audit events of `action`."""
    return [str(r[0]) for r in rows(world.database_url, "SELECT detail FROM audit_event WHERE request_id = ? "
                                                        "AND action = ? ORDER BY seq", (rid, action.value))]


def settled(world: KukeyWorld) -> None:
    """Wait until the outbox owes nothing (every message owed so far was delivered)."""
    world.wait(lambda: not open_items(world), what="the outbox delivered everything")


def until(world: KukeyWorld, at: datetime) -> None:
    """Move the bot's clock to `at` (naive UTC, as the database gives it back)."""
    world.advance((at - world.now().replace(tzinfo=None)).total_seconds())


def test_approvers_get_one_dm_each_and_approve_from_it(dm_world: KukeyWorld) -> None:
    """Each eligible approver (never the requester) gets one DM linking to the post; Approve in the DM
    opens the TOTP form, and the approval updates the thread and the post."""
    world, story = dm_world, Story(dm_world)
    post = story.request(CREATE)
    rid = request_id(post)
    dm = world.wait(lambda: next(iter(direct(world, APPROVER, ASKED)), None), what="the approver's DM")
    world.wait(lambda: direct(world, APPROVER2, ASKED), what="the second approver's DM")
    settled(world)
    assert [len(direct(world, u, ASKED)) for u in (APPROVER, APPROVER2, REQUESTER)] == [1, 1, 0]
    assert f"archives/{APPROVALS}/p{post.ts.replace('.', '')}" in dm.content and "\ue000" not in dm.content
    assert dm.button_labels == ["Approve", "Deny"]
    assert f'"to":["{APPROVER}","{APPROVER2}"]' in "".join(audit(world, rid, AuditAction.REQUEST_NOTIFIED))
    world.driver.click(APPROVER, "Approve", channel=dm.channel, ts=dm.ts)
    assert not world.submit(APPROVER, {"code": world.code(APPROVER)}).errors
    story.in_thread(post, f"<@{APPROVER}> approved")
    world.wait(lambda: world.fake.message(APPROVALS, post.ts).button_labels == [], what="the post updated")
    story.private(REQUESTER, "Reveal key")


def test_reminders_back_off_go_to_who_has_not_approved_and_stop_once_resolved(tmp_path: Path,
                                                                              transport: str) -> None:
    """Reminders come after 5, then 10, then 20 more minutes, each once, by DM to the approvers who have not
    approved yet; once the request is approved none comes any more."""
    policy = default_policy(notify="dm", remind_after_minutes=5, approvals=2, request_ttl_minutes=120)
    with world_with(tmp_path, transport, policy) as world:
        story = Story(world)
        post = story.request(CREATE)
        rid = request_id(post)
        start = created(world, rid)
        assert job(world, "remind_approvers", rid) == (start + timedelta(minutes=5), "pending")
        until(world, start + timedelta(minutes=5))
        world.wait(lambda: direct(world, APPROVER2, "Reminder 1:"), what="the first reminder")
        world.wait(lambda: job(world, "remind_approvers", rid)[0] == start + timedelta(minutes=15), what="next")
        assert not story.approve(post, APPROVER).errors  # one of two: APPROVER is reminded no more
        story.in_thread(post, "approved (1 of 2)")
        until(world, start + timedelta(minutes=15))
        world.wait(lambda: direct(world, APPROVER2, "Reminder 2:"), what="the second reminder")
        world.wait(lambda: job(world, "remind_approvers", rid)[0] == start + timedelta(minutes=35), what="next")
        settled(world)
        assert [len(direct(world, APPROVER, REMINDER)), len(direct(world, APPROVER2, REMINDER))] == [1, 2]
        story.w.enroll(APPROVER2)
        assert not story.approve(post, APPROVER2).errors
        world.wait(lambda: job(world, "remind_approvers", rid)[1] == "done", what="reminders cancelled")
        until(world, start + timedelta(minutes=100))  # past every reminder, and the reveal window lapses
        story.in_thread(post, "The approval lapsed")
        settled(world)  # the DM and the two reminders, each since edited to say the request was approved
        assert len(direct(world, APPROVER2, rid)) == 3 and len(direct(world, APPROVER2, RESOLVED)) == 3
        assert len(audit(world, rid, AuditAction.REQUEST_REMINDED)) == 2


def test_channel_reminder_is_a_thread_note_mentioning_the_approver_group(tmp_path: Path, transport: str) -> None:
    """With notify = "channel" nobody gets a DM; the reminder is a note in the thread mentioning the group."""
    with world_with(tmp_path, transport, default_policy(remind_after_minutes=5)) as world:
        story = Story(world)
        post = story.request(CREATE)
        until(world, created(world, request_id(post)) + timedelta(minutes=5))
        note = story.in_thread(post, "Reminder:")
        assert "<!subteam^S0APPROVERS>" in note.text
        settled(world)
        assert [direct(world, u, "approv") for u in (APPROVER, APPROVER2)] == [[], []]


def test_escalation_tells_the_group_once(dm_world: KukeyWorld) -> None:
    """After 20 minutes the escalate_to group (the admins) is told once, without buttons, and the thread
    says so; later reminders do not repeat it."""
    world, story = dm_world, Story(dm_world)
    post = story.request(CREATE)
    rid = request_id(post)
    start = created(world, rid)
    until(world, start + timedelta(minutes=20))
    told = world.wait(lambda: next(iter(direct(world, ADMIN, ESCALATED)), None), what="the escalation")
    assert told.button_labels == []
    story.in_thread(post, "Escalated to `admins` after 20 minutes")
    until(world, start + timedelta(minutes=35))
    world.wait(lambda: direct(world, APPROVER, "Reminder 3:"), what="a later reminder")
    settled(world)
    assert len(direct(world, ADMIN, ESCALATED)) == 1
    assert len(audit(world, rid, AuditAction.REQUEST_ESCALATED)) == 1
    assert direct(world, REQUESTER, ASKED) == direct(world, REQUESTER, REMINDER) == []


def test_restart_between_reminders_repeats_nothing(dm_world: KukeyWorld) -> None:
    """The reminder job survives a restart of the bot: after it, the next reminder comes once, and the
    earlier one is not sent again."""
    world, story = dm_world, Story(dm_world)
    post = story.request(CREATE)
    start = created(world, request_id(post))
    until(world, start + timedelta(minutes=5))
    world.wait(lambda: direct(world, APPROVER, "Reminder 1:"), what="the first reminder")
    settled(world)
    world.stop_bot()
    world.start_bot()
    until(world, start + timedelta(minutes=15))
    world.wait(lambda: direct(world, APPROVER, "Reminder 2:"), what="the second reminder, after the restart")
    settled(world)
    assert [len(direct(world, APPROVER, f"Reminder {n}:")) for n in (1, 2, 3)] == [1, 1, 0]
    assert len(direct(world, APPROVER, ASKED)) == 1


def test_deny_from_the_dm_resolves_the_request_and_stops_reminders(dm_world: KukeyWorld) -> None:
    """Deny in the DM opens the same form; the denial shows in the thread and the post, and no reminder
    follows it."""
    world, story = dm_world, Story(dm_world)
    post = story.request(CREATE)
    rid = request_id(post)
    dm = world.wait(lambda: next(iter(direct(world, APPROVER, ASKED)), None), what="the approver's DM")
    world.driver.click(APPROVER, "Deny", channel=dm.channel, ts=dm.ts)
    assert not world.submit(APPROVER, {"reason": "not this week"}).errors
    story.in_thread(post, "not this week")
    world.wait(lambda: world.fake.message(APPROVALS, post.ts).button_labels == [], what="the post updated")
    assert [job(world, kind, rid)[1] for kind in ("remind_approvers", "escalate_request")] == ["done", "done"]


def test_both_reminds_in_the_thread_and_by_dm(tmp_path: Path, transport: str) -> None:
    """With notify = "both" a reminder is a thread note and a DM to each approver who has not approved."""
    with world_with(tmp_path, transport, default_policy(notify="both", remind_after_minutes=5)) as world:
        story = Story(world)
        post = story.request(CREATE)
        until(world, created(world, request_id(post)) + timedelta(minutes=5))
        story.in_thread(post, "Reminder:")
        world.wait(lambda: direct(world, APPROVER, "Reminder 1:") and direct(world, APPROVER2, "Reminder 1:"),
                   what="the reminder DMs")



def test_every_dm_about_a_request_loses_its_buttons_once_it_is_approved(dm_world: KukeyWorld) -> None:
    """Once approved, the first DMs, the reminders and the escalation are each edited once to say what
    happened, without the Approve button."""
    world, story = dm_world, Story(dm_world)
    post = story.request(CREATE)
    rid = request_id(post)
    until(world, created(world, rid) + timedelta(minutes=20))
    world.wait(lambda: direct(world, ADMIN, ESCALATED) and direct(world, APPROVER2, "Reminder 2:"),
               what="the reminders and the escalation")
    settled(world)
    sent = [m for u in (APPROVER, APPROVER2, ADMIN) for m in world.fake.messages(world.fake.dm(u))
            if rid in m.content]
    assert len(sent) == 7 and any(m.button_labels == ["Approve", "Deny"] for m in sent)
    assert not story.approve(post, APPROVER).errors
    world.wait(lambda: all(RESOLVED in m.content for u in (APPROVER, APPROVER2, ADMIN)
                           for m in world.fake.messages(world.fake.dm(u)) if rid in m.content), what="DMs updated")
    settled(world)
    now = [m for u in (APPROVER, APPROVER2, ADMIN) for m in world.fake.messages(world.fake.dm(u))
           if rid in m.content]
    assert [(m.ts, m.button_labels, m.edits) for m in now] == [(m.ts, [], 1) for m in sent]
    assert all(f"<@{APPROVER}> approved" in m.content for m in now)


def test_a_stale_approve_in_a_dm_is_refused_and_the_dm_then_says_cancelled(dm_world: KukeyWorld) -> None:
    """The requester cancels; an approver who clicks Approve in their DM before it is edited is told the
    request is no longer pending (audited), and the DM then says it was cancelled, without buttons."""
    world, story = dm_world, Story(dm_world)
    post = story.request(CREATE)
    rid = request_id(post)
    dm = world.wait(lambda: next(iter(direct(world, APPROVER, ASKED)), None), what="the approver's DM")
    settled(world)
    with world.fake.hold("chat.update") as held:
        world.driver.slash(REQUESTER, TRADING, f"cancel {rid}")
        held.wait()  # the post's update waits at Slack's door, and the DMs' behind it
        world.driver.click(APPROVER, "Approve", channel=dm.channel, ts=dm.ts)
        story.private(APPROVER, "not pending any more")
        assert world.fake.modal(APPROVER) is None
    world.wait(lambda: RESOLVED in world.fake.message(dm.channel, dm.ts).content, what="the DM updated")
    edited = world.fake.message(dm.channel, dm.ts)
    assert edited.button_labels == [] and f"Cancelled by <@{REQUESTER}>" in edited.content
    assert audit(world, rid, AuditAction.APPROVE_REFUSED)


def test_a_dm_whose_answer_was_lost_is_found_and_not_sent_twice(dm_world: KukeyWorld) -> None:
    """Slack sends an approver's DM but its answer is lost: before trying again kukey finds the DM by its
    metadata (conversations.history of the DM, im:history), so the approver gets it once, and that DM is the
    one edited once the request is approved."""
    world, story = dm_world, Story(dm_world)
    dm = world.fake.dm(APPROVER)
    world.fake.lose_answers("chat.postMessage", channel=dm)
    post = story.request(CREATE)
    world.wait(lambda: direct(world, APPROVER2, ASKED), what="the second approver's DM")
    settled(world)
    assert len(direct(world, APPROVER, ASKED)) == 1
    assert [c.params["channel"] for c in world.fake.calls("conversations.history")] == [dm]
    assert not story.approve(post, APPROVER).errors
    world.wait(lambda: direct(world, APPROVER, RESOLVED), what="the DM edited")
    settled(world)
    assert len(direct(world, APPROVER, request_id(post))) == 1


def test_without_im_history_a_dm_whose_answer_was_lost_is_sent_again(dm_world: KukeyWorld) -> None:
    """An app installed without im:history cannot look in its DMs: after a lost answer the DM is sent again
    (the approver sees it twice) rather than possibly never, and kukey still delivers everything."""
    world, story = dm_world, Story(dm_world)
    world.fake.withhold_scope("im:history")
    world.fake.lose_answers("chat.postMessage", channel=world.fake.dm(APPROVER))
    story.request(CREATE)
    world.wait(lambda: len(direct(world, APPROVER, ASKED)) == 2, what="the DM sent again")
    settled(world)
    assert [c.error for c in world.fake.calls("conversations.history")] == ["missing_scope"]
