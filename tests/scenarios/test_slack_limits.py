"""What people type never breaks one of Slack's limits after the ack: it is refused (or fits) when parsed."""

from __future__ import annotations

from kukey_sandbox.world import APPROVALS, INCIDENT, RESPONDER, Story

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
