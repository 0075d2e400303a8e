"""Reveal exactly once, only to the requester, and never leave a key nobody received."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from kukey_sandbox.slack import payloads
from kukey_sandbox.slack.holds import RESPONSE_URL
from kukey_sandbox.slack.model import Ref
from kukey_sandbox.world import APPROVER, OUTSIDER, REQUESTER, Story
from tests.databases import rows

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 market making"


def _approved(story: Story, text: str = CREATE) -> object:
    post = story.request(text)
    assert not story.approve(post, APPROVER).errors
    story.private(REQUESTER, "Reveal key")
    return post


def test_second_reveal_refused(story: Story) -> None:
    """A second Reveal click (the same click delivered again, or a double click) gets "already revealed";
    KuCoin holds exactly one key and the offer's button is gone after the reveal."""
    _approved(story)
    world = story.w
    click = world.driver.click(REQUESTER, "Reveal key")
    assert not world.submit(REQUESTER, {"code": world.code(REQUESTER)}).errors
    story.private(REQUESTER, "Secret")
    world.wait(lambda: not any("Reveal key" in e.button_labels for e in world.fake.ephemerals(REQUESTER)),
               what="the Reveal button is gone")
    body = urlencode({"payload": json.dumps(click.request)}).encode()
    assert world.driver.send_raw(body, world.driver.signed_headers(body)).status == 200
    story.private(REQUESTER, "already revealed")
    assert len(world.sandbox.keys("alpha-trading")) == 1


def test_reveal_by_another_user_refused(story: Story) -> None:
    """A click on the requester's Reveal button by anyone else (a signed payload as Slack would send it if
    they could see it) is refused, and no key is created."""
    _approved(story)
    offer = story.private(REQUESTER, "Reveal key")
    world = story.w
    with world.fake.world.transaction() as w:
        button = next(b for b in offer.buttons if b.label == "Reveal key")
        url = w.issue_response_url(world.fake.base_url, OUTSIDER, offer.channel,
                                   Ref(offer.channel, offer.ts, ephemeral=True), None).url
        payload = payloads.block_actions(w, user=OUTSIDER, button=button, source=offer,
                                         trigger_id=w.issue_trigger(OUTSIDER), response_url=url,
                                         token=world.fake.verification_token)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert world.driver.send_raw(body, world.driver.signed_headers(body)).status == 200
    story.private(OUTSIDER, "Only the requester")
    assert world.fake.modal(OUTSIDER) is None
    assert world.sandbox.keys("alpha-trading") == []


def test_reveal_window_lapses_with_nothing_at_kucoin(story: Story) -> None:
    """Not revealed within the window: the approval lapses, the thread says so, KuCoin has no key."""
    post = _approved(story)
    story.w.advance(16 * 60)
    story.in_thread(post, "lapsed")
    story.private(REQUESTER, "lapsed")
    story.w.driver.click(REQUESTER, "Reveal key")
    story.private(REQUESTER, "nothing to reveal")
    assert story.w.sandbox.keys("alpha-trading") == []


def test_fewer_permissions_granted_are_reported(story: Story) -> None:
    """KuCoin drops Futures on a spot-only sub-account; the requester and the thread are told."""
    post = _approved(story, "create beta-spot perms=Spot,Futures ips=203.0.113.5 expire=30")
    story.reveal()
    story.private(REQUESTER, "not everything you asked for")
    story.in_thread(post, "with permissions General, Spot")


def test_the_key_is_on_record_as_delivered_before_the_offer_is_replaced(story: Story) -> None:
    """Once the secret has been posted, kukey records the key as active (the request revealed) before it
    replaces the spent offer: a crash while that cosmetic edit is on its way cannot make the recovery
    delete a key whose secret the requester already holds."""
    _approved(story)
    world = story.w
    world.driver.click(REQUESTER, "Reveal key")
    with world.fake.hold(RESPONSE_URL) as secret_post:
        assert not world.submit(REQUESTER, {"code": world.code(REQUESTER)}).errors
        secret_post.wait()
        with world.fake.hold(RESPONSE_URL) as offer_edit:  # the next response_url call: the offer's edit
            secret_post.release()
            offer_edit.wait()
            rid = rows(world.database_url, "SELECT id FROM request WHERE state = 'revealed'")
            keys = rows(world.database_url, "SELECT state FROM api_key")
            assert len(rid) == 1 and keys == [("active",)]
            assert any("Reveal key" in e.button_labels for e in world.fake.ephemerals(REQUESTER))
    world.wait(lambda: not any("Reveal key" in e.button_labels for e in world.fake.ephemerals(REQUESTER)),
               what="the offer replaced")
