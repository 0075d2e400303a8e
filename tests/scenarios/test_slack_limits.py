"""What people type never breaks one of Slack's limits after the ack: it is refused (or fits) when parsed."""

from __future__ import annotations

from bot.slack import ids
from kukey_sandbox.slack import payloads
from kukey_sandbox.world import APPROVALS, APPROVER, INCIDENT, REQUESTER, RESPONDER, TRADING, KukeyWorld, Story
from tests.hardening.helpers import form, send_signed

FIRE = "\U0001f525"  # outside Unicode's basic plane: one character, two UTF-16 code units, 12 chars in JSON


def test_an_incident_revoke_with_a_long_astral_reason_is_refused_at_once(story: Story) -> None:
    """A break-glass revoke whose reason is 300 characters outside the basic plane is refused in the ack with
    one clear line (it used to pass, and Slack then refused the form silently after the ack)."""
    ack = story.w.driver.slash(RESPONDER, INCIDENT, "revoke alpha-trading all " + FIRE * 300)
    assert ack.ok
    text = ack.message()["text"]
    assert text.startswith("Reason is too long: at most 300 characters"), text
    assert story.w.fake.modal(RESPONDER) is None


def test_an_incident_revoke_with_the_longest_astral_reason_opens_its_form(story: Story) -> None:
    """The longest astral reason the parser accepts opens the TOTP form, and the revoke is announced with
    the reason intact."""
    key = story.create_key()
    reason = FIRE * 150
    assert story.w.driver.slash(RESPONDER, INCIDENT, f"revoke alpha-trading {key} {reason}").ok
    assert not story.w.submit(RESPONDER, {"code": story.w.code(RESPONDER)}).errors
    story.w.wait(lambda: story.w.sandbox.keys("alpha-trading") == [], what="the key revoked")
    for channel in (INCIDENT, APPROVALS):
        story.w.wait(lambda c=channel: any(f"Reason: {reason}" in m.content for m in story.w.fake.messages(c)),
                     what=f"the reason announced in {channel}")


def test_the_incident_form_sends_the_reason_as_the_responder_leaves_it(story: Story) -> None:
    """The reason typed with the command is in the form, where the responder may still change it; the
    announcement carries what was submitted."""
    key = story.create_key()
    assert story.w.driver.slash(RESPONDER, INCIDENT, f"revoke alpha-trading {key} typo in reasn").ok
    form = story.w.wait(lambda: story.w.fake.modal(RESPONDER), what="the incident form")
    assert "typo in reasn" in str(form.blocks)
    assert not story.w.submit(RESPONDER, {"reason": "leaked in CI logs", "code": story.w.code(RESPONDER)}).errors
    story.w.wait(lambda: any("Reason: leaked in CI logs" in m.content for m in story.w.fake.messages(INCIDENT)),
                 what="the edited reason announced")


def test_a_forged_deny_reason_over_the_limit_is_refused_under_its_input(story: Story) -> None:
    """Slack's input stops at 300 characters; a submission that carries more anyway (forged, or from a
    client that does not stop) is refused under the reason input, and the request stays pending."""
    post = story.request("create alpha-trading perms=Spot ips=203.0.113.5 expire=30 bot")
    story.w.driver.click(APPROVER, "Deny", channel=APPROVALS, ts=post.ts)
    view = story.w.wait(lambda: story.w.fake.modal(APPROVER), what="the deny form")
    with story.w.fake.world.transaction() as w:
        w.views[view.id].state = {ids.REASON_BLOCK: {ids.REASON_INPUT: {"type": "plain_text_input",
                                                                         "value": "x" * 301}}}
        submission = payloads.view_submission(w, user=APPROVER, view=w.views[view.id],
                                              trigger_id=w.issue_trigger(APPROVER), token="t")
    ack = send_signed(story.w.driver, form(submission))
    assert ack.status == 200 and ack.json == {"response_action": "errors", "errors": {
        ids.REASON_BLOCK: "Reason is too long: at most 300 characters."}}
    assert "Approve" in story.w.fake.message(APPROVALS, post.ts).button_labels  # type: ignore[union-attr]


def test_a_create_form_with_an_unknown_sub_account_is_refused_under_it(world: KukeyWorld) -> None:
    """The create form runs through the same parser as `/kukey create`: an unknown sub-account is refused
    in one short line under the sub-account input, and nothing is requested."""
    assert world.driver.slash(REQUESTER, TRADING, "create").ok
    world.wait(lambda: world.fake.modal(REQUESTER), what="the create form")
    ack = world.driver.submit(REQUESTER, {ids.SUB_BLOCK: "alpha-tradng", ids.IPS_BLOCK: "203.0.113.5"})
    assert ack.errors == {ids.SUB_BLOCK: "Unknown sub-account `alpha-tradng`. Did you mean `alpha-trading`?"}
    assert world.fake.messages(APPROVALS) == []
