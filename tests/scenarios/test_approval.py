"""Who may approve, with which second factor, and what everyone is told."""

from __future__ import annotations

import pytest

from kukey_sandbox.world import (
    APPROVALS,
    APPROVER,
    APPROVER2,
    OUTSIDER,
    REQUESTER,
    TRADING,
    KukeyWorld,
    Story,
    default_policy,
)

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 market making"


def test_self_approval_refused(story: Story) -> None:
    """The requester clicking Approve on their own request is refused and gets no TOTP modal."""
    post = story.request(CREATE)
    story.w.driver.click(REQUESTER, "Approve", channel=APPROVALS, ts=post.ts)
    story.private(REQUESTER, "cannot approve your own request")
    assert story.w.fake.modal(REQUESTER) is None
    assert story.w.fake.message(APPROVALS, post.ts).button_labels == ["Approve", "Deny"]


def test_non_approver_refused(story: Story) -> None:
    """Someone outside the approver group cannot approve."""
    post = story.request(CREATE)
    story.w.driver.click(OUTSIDER, "Approve", channel=APPROVALS, ts=post.ts)
    story.private(OUTSIDER, "not in the approver group")
    assert story.w.fake.modal(OUTSIDER) is None


def test_not_enrolled_approver_told_to_enroll(world: KukeyWorld) -> None:
    """An approver without TOTP is told to run /kukey enroll."""
    story = Story(world)
    post = story.request(CREATE)
    world.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=post.ts)
    story.private(APPROVER, "/kukey enroll")
    assert world.fake.modal(APPROVER) is None


def test_wrong_code_inline_then_right_code(story: Story) -> None:
    """A wrong code shows as an inline modal error; the right one then approves."""
    post = story.request(CREATE)
    story.w.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=post.ts)
    bad = story.w.submit(APPROVER, {"code": "000000" if story.w.code(APPROVER) != "000000" else "111111"})
    assert "not valid" in bad.errors["code"]
    good = story.w.driver.submit(APPROVER, {"code": story.w.code(APPROVER)})
    assert not good.errors
    story.private(REQUESTER, "Reveal key")


def test_replayed_code_refused(story: Story) -> None:
    """A code already used for one approval is refused for the next within the same step."""
    first = story.request(CREATE)
    code = story.w.code(APPROVER)
    assert not story.approve(first, APPROVER, code).errors
    second = story.request("create beta-spot perms=Spot ips=203.0.113.5 expire=30")
    story.w.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=second.ts)
    replay = story.w.submit(APPROVER, {"code": code})
    assert "already used" in replay.errors["code"]


def test_lockout_after_five_failures(story: Story) -> None:
    """Five wrong codes lock the approver out, the thread says so, and even a right code is refused."""
    post = story.request(CREATE)
    story.w.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=post.ts)
    story.w.submit(APPROVER, {"code": "000000"})
    for _ in range(4):
        result = story.w.driver.submit(APPROVER, {"code": "000000"})
    assert "locked out" in result.errors["code"]
    story.in_thread(post, "locked out")
    locked = story.w.driver.submit(APPROVER, {"code": story.w.code(APPROVER)})
    assert "locked out" in locked.errors["code"]


def test_deny_with_reason(story: Story) -> None:
    """Deny asks for a reason; the parent loses its buttons; the requester learns who and why."""
    post = story.request(CREATE)
    story.w.driver.click(APPROVER, "Deny", channel=APPROVALS, ts=post.ts)
    assert not story.w.submit(APPROVER, {"reason": "no IP review yet"}).errors
    story.private(REQUESTER, "no IP review yet")
    story.in_thread(post, "Denied by")
    story.w.wait(lambda: story.w.fake.message(APPROVALS, post.ts).button_labels == [], what="buttons gone")
    assert "Denied" in story.w.fake.message(APPROVALS, post.ts).content


def test_expiry_removes_buttons_and_tells_requester(story: Story) -> None:
    """A request not approved within its TTL expires: buttons go, the thread and the requester are told."""
    post = story.request(CREATE)
    story.w.advance(31 * 60)
    story.in_thread(post, "Expired")
    story.private(REQUESTER, "expired")
    assert story.w.fake.message(APPROVALS, post.ts).button_labels == []


def test_cancel_by_requester(story: Story) -> None:
    """`/kukey cancel <id>` withdraws a pending request and its buttons."""
    post = story.request(CREATE)
    request_id = post.content.split("request `")[1].split("`")[0]
    story.w.driver.slash(REQUESTER, TRADING, f"cancel {request_id}")
    story.in_thread(post, "Cancelled by")
    story.w.wait(lambda: story.w.fake.message(APPROVALS, post.ts).button_labels == [], what="buttons gone")


@pytest.fixture
def two_approvals(tmp_path):  # type: ignore[no-untyped-def]
    with KukeyWorld(home=tmp_path, policy_text=default_policy(approvals=2)) as w:
        for user in (REQUESTER, APPROVER, APPROVER2):
            w.enroll(user)
        yield Story(w)


def test_two_approvals_required(two_approvals: Story) -> None:
    """With approvals = 2 the first approval keeps the request pending; the second approves it."""
    story = two_approvals
    post = story.request(CREATE)
    assert not story.approve(post, APPROVER).errors
    story.in_thread(post, "(1 of 2)")
    assert story.w.fake.message(APPROVALS, post.ts).button_labels == ["Approve", "Deny"]
    story.w.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=post.ts)
    story.private(APPROVER, "already approved")
    assert not story.approve(post, APPROVER2).errors
    story.private(REQUESTER, "Reveal key")


def test_bad_input_gets_a_clear_private_answer_and_changes_nothing(story: Story) -> None:
    """A mistyped command is answered privately with what is wrong and the right form; nothing is posted."""
    ack = story.w.driver.slash(REQUESTER, TRADING, "create alpha-trading perms=Spot,Transfer")
    text = ack.message()["text"]
    assert "Transfer" in text and "Usage: `/kukey create <sub-account>" in text and "/kukey /kukey" not in text
    assert story.w.fake.messages(APPROVALS) == []


def test_the_requester_is_offered_the_reveal_before_the_channel_is_updated(story: Story) -> None:
    """The last approval's messages go out requester first: the Reveal offer reaches the requester while
    the approvals post's update (no buttons any more) is still held at Slack's door, and the post follows."""
    world = story.w
    post = story.request(CREATE)
    with world.fake.hold("chat.update") as held:
        assert not story.approve(post, APPROVER).errors
        story.private(REQUESTER, "Reveal key")
        held.wait()
        assert world.fake.message(APPROVALS, post.ts).button_labels == ["Approve", "Deny"]
    world.wait(lambda: world.fake.message(APPROVALS, post.ts).button_labels == [], what="the post updated")
