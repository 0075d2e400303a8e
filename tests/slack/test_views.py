"""Modals: validated by slack_sdk, accepted by the Slack fake, with small metadata that holds no free text."""

from __future__ import annotations

import json

import pytest
from slack_sdk.errors import SlackObjectFormationError

from bot.domain import commands as cmds
from bot.slack import ids, views
from kukey_sandbox.slack.blocks import view_problems

FIRE = "\U0001f525"
URL = "https://hooks.slack.com/actions/T0/1/" + "s" * 24


def _all_modals() -> list[dict[str, object]]:
    revoke = cmds.Revoke("alpha-trading", None, all=True, reason=FIRE * 150)
    return [views.approve_modal("KK-ABCDEFGH"), views.reveal_modal("KK-ABCDEFGH", URL), views.enroll_modal(URL),
            views.reenroll_modal(URL), views.reenroll_new_modal("otpauth://totp/x", "ABCDEF", {"u": URL}),
            views.deny_modal("KK-ABCDEFGH"), views.revoke_modal(revoke, "C0INCIDENT", "1.2." + "f" * 32),
            views.kill_switch_modal(500, FIRE * 150, "C0INCIDENT", "1.2." + "f" * 32),
            views.create_modal(["alpha-trading", "beta-spot"] * 40, {"c": "C0TRADING"})]


def test_every_modal_is_one_slack_accepts() -> None:
    """Every modal passes the Slack fake's checks, has a callback id kukey listens for, and keeps its
    private_metadata a small JSON object far below Slack's 3000 characters."""
    for modal in _all_modals():
        assert view_problems(modal) == [], modal["callback_id"]
        assert modal["callback_id"] in ids.ALL_VIEWS
        metadata = json.loads(str(modal["private_metadata"]))
        assert isinstance(metadata, dict) and len(str(modal["private_metadata"])) < 300


def test_the_incident_form_carries_ids_and_keeps_the_reason_in_an_input() -> None:
    """The break-glass form's metadata holds the sub-account, `all` or the key, the channel and the dedupe
    key; the reason (300 UTF-16 units of emoji) is the initial value of an input, not metadata."""
    cmd = cmds.Revoke("alpha-trading", "5f1e7b3c2d4a6b0008a1b2c3", reason=FIRE * 150)
    modal = views.revoke_modal(cmd, "C0INCIDENT", "1.2.3")
    assert json.loads(str(modal["private_metadata"])) == {"s": "alpha-trading", "k": "5f1e7b3c2d4a6b0008a1b2c3",
                                                          "c": "C0INCIDENT", "d": "1.2.3"}
    reason = next(b for b in modal["blocks"] if b.get("block_id") == ids.REASON_BLOCK)  # type: ignore[union-attr]
    assert reason["element"]["initial_value"] == FIRE * 150 and reason["element"]["max_length"] == 300


def test_an_input_slack_would_refuse_fails_while_building() -> None:
    """Limits slack_sdk does not check for an input are checked while building: an initial value longer
    than max_length (counted as Slack's clients count) and a max_length over 3000 raise."""
    too_long = cmds.Revoke("alpha-trading", None, all=True, reason=FIRE * 151)
    with pytest.raises(SlackObjectFormationError, match="initial_value"):
        views.revoke_modal(too_long, "C0INCIDENT", "1.2.3")
    with pytest.raises(SlackObjectFormationError, match="lengths"):
        views.text_input(ids.REASON_INPUT, max_length=3001)


def test_a_title_over_24_characters_is_refused_by_slack_sdk() -> None:
    """slack_sdk's View validation refuses a modal title over 24 characters while building."""
    with pytest.raises(SlackObjectFormationError, match="title"):
        views.totp_modal(ids.APPROVE_VIEW, "t" * 25, "intro", {})
