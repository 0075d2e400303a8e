"""When Slack will not take kukey's answer after the ack, the person is told, in both transports.

A form that cannot be opened (the trigger_id expired while kukey was slow, or was used already) is told
with what to do next; a reply whose response_url Slack refuses (expired after 30 minutes, used 5 times)
arrives as an ephemeral message instead. A secret never takes that other way.
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.webhook import WebhookClient

from kukey_sandbox.world import APPROVALS, APPROVER, REQUESTER, TRADING, Story

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 market making"
LATE = "Slack did not let kukey open the form in time; click *Approve* again."
USED = "Slack did not let kukey open the form for this click (it was used already); click *Approve* again."


@pytest.fixture
def story(two_transports: Story) -> Story:
    """The bot over HTTP, then over Socket Mode, with the requester and an approver enrolled."""
    return two_transports


def _told(story: Story, user: str, text: str, *, via: str) -> Any:
    """The ephemeral message `user` was given with exactly `text`, and how it came (ack, response_url, api)."""
    found = story.w.wait(lambda: next((e for e in story.w.fake.ephemerals(user) if e.text == text), None),
                         what=f"{user} is told {text!r}")
    assert found.via == via, found
    return found


def test_a_form_opened_too_late_is_told_with_what_to_do(story: Story) -> None:
    """kukey's views.open reaches Slack after the click's trigger_id expired: the approver is told to click
    Approve again, and doing so works."""
    post = story.request(CREATE)
    with story.w.fake.hold("views.open") as held:
        assert story.w.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=post.ts).ok
        held.wait()
        story.w.fake.advance(4)
    _told(story, APPROVER, LATE, via="response_url")
    assert story.w.fake.modal(APPROVER) is None
    assert not story.approve(post, APPROVER).errors
    story.private(REQUESTER, "Reveal key")


def test_a_click_delivered_twice_is_told_its_form_cannot_open_again(story: Story) -> None:
    """The same click delivered again (a retry or a replay) carries a used trigger_id: the form stays
    open once, and the second delivery is told to click again instead of failing silently."""
    post = story.request(CREATE)
    click = story.w.driver.click(APPROVER, "Approve", channel=APPROVALS, ts=post.ts)
    story.w.wait(lambda: story.w.fake.modal(APPROVER), what="the approval form")
    assert story.w.driver.replay(click).ok
    _told(story, APPROVER, USED, via="response_url")
    assert not story.w.submit(APPROVER, {"code": story.w.code(APPROVER)}).errors


def test_a_reply_after_its_response_url_expired_comes_another_way(story: Story) -> None:
    """kukey's answer reaches the command's response_url after 30 minutes: Slack refuses it, and the
    person gets it as an ephemeral message in the channel instead."""
    with story.w.fake.hold("response_url") as held:
        assert story.w.driver.slash(REQUESTER, TRADING, "cancel KK-7F3Q9C2M").ok
        held.wait()
        story.w.fake.advance(31 * 60)
    _told(story, REQUESTER, "Request KK-7F3Q9C2M does not exist.", via="api")


def test_a_reply_after_its_response_url_was_used_up_comes_another_way(story: Story) -> None:
    """The command's response_url was used five times before kukey's answer got there: the answer comes
    as an ephemeral message in the channel instead."""
    with story.w.fake.hold("response_url") as held:
        ack = story.w.driver.slash(REQUESTER, TRADING, "cancel KK-7F3Q9C2M")
        held.wait()
        hook = WebhookClient(ack.request["response_url"])
        assert [hook.send(text=f"other {i}").status_code for i in range(5)] == [200] * 5
    _told(story, REQUESTER, "Request KK-7F3Q9C2M does not exist.", via="api")


def test_a_secret_is_never_sent_another_way(story: Story) -> None:
    """The Reveal click's response_url expired before the secret got there: the key is deleted at KuCoin,
    the requester is told it could not be shown, and no message or Web API call ever carried the secret."""
    post = story.request(CREATE)
    assert not story.approve(post, APPROVER).errors
    story.private(REQUESTER, "Reveal key")
    story.w.driver.click(REQUESTER, "Reveal key")
    with story.w.fake.hold("response_url") as held:
        assert not story.w.submit(REQUESTER, {"code": story.w.code(REQUESTER)}).errors
        held.wait()
        story.w.fake.advance(31 * 60)
    story.private(REQUESTER, "could not be shown")
    story.w.wait(lambda: story.w.sandbox.keys("alpha-trading") == [], what="the key deleted at KuCoin")
    seen = story.w.fake.visible_to(REQUESTER).content + repr([c.params for c in story.w.fake.calls()])
    assert "Secret:" not in seen and "Passphrase:" not in seen
