"""Reading Slack payloads into plain values, and what people are told when a failure follows the ack."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackObjectFormationError

from bot.domain import commands as cmds
from bot.domain.keys import KeySpec, Permission
from bot.errors import KucoinRateLimited, Refused, SlackApiError
from bot.slack import ids, messages, payload
from bot.slack.listeners.errors import sentence

CLICK = {"type": "block_actions", "user": {"id": "U0BOB0001"}, "channel": {"id": "C0APPROVALS"},
         "actions": [{"action_id": ids.APPROVE, "value": "KK-ABCDEFGH", "text": {"type": "plain_text",
                                                                                "text": "Approve"}}]}
COMMAND = {"command": "/kukey", "text": "revoke alpha-trading all leaked", "user_id": "U0DAVE001",
           "channel_id": "C0INCIDENT"}
SUBMISSION = {"type": "view_submission", "user": {"id": "U0DAVE001"},
              "view": {"callback_id": ids.REVOKE_VIEW, "private_metadata": '{"c": "C0INCIDENT", "x": 1}'}}


def test_create_form_becomes_the_same_command_as_text() -> None:
    """The create modal's state is parsed by the same parser as `/kukey create ...`."""
    values = {
        ids.SUB_BLOCK: {ids.SUB_INPUT: {"value": "alpha-trading"}},
        ids.PERMS_BLOCK: {ids.PERMS_INPUT: {"selected_options": [{"value": "Spot"}]}},
        ids.IPS_BLOCK: {ids.IPS_INPUT: {"value": "203.0.113.5, 198.51.100.7"}},
        ids.EXPIRE_BLOCK: {ids.EXPIRE_INPUT: {"selected_option": {"value": "90"}}},
        ids.REASON_BLOCK: {ids.REASON_INPUT: {"value": "market making"}},
    }
    cmd = cmds.parse(payload.create_text_from_form(values))
    assert cmd == cmds.Create(KeySpec("alpha-trading", frozenset({Permission.SPOT}),
                                      ("203.0.113.5", "198.51.100.7"), 90), reason="market making")


def test_who_and_where_for_every_kind_of_payload() -> None:
    """The person and the channel come from a click, a command, or a form's metadata; metadata keeps only
    strings; junk reads as empty."""
    assert (payload.user(CLICK), payload.channel(CLICK)) == ("U0BOB0001", "C0APPROVALS")
    assert (payload.user(COMMAND), payload.channel(COMMAND)) == ("U0DAVE001", "C0INCIDENT")
    assert (payload.user(SUBMISSION), payload.channel(SUBMISSION)) == ("U0DAVE001", "C0INCIDENT")
    assert payload.metadata(SUBMISSION["view"]) == {"c": "C0INCIDENT"}
    junk: dict[str, Any] = {"user": "U0X", "channel": ["C0"], "actions": "x", "view": {"private_metadata": "["}}
    assert (payload.user(junk), payload.channel(junk), payload.button(junk), payload.value(junk)) == ("",) * 4


@pytest.mark.parametrize(("error", "body", "told"), [
    (SlackApiError("", method="views.open", error="expired_trigger_id"), CLICK,
     "Slack did not let kukey open the form in time; click *Approve* again."),
    (SlackApiError("", method="views.open", error="exchanged_trigger_id"), COMMAND,
     "Slack did not let kukey open the form for this click (it was used already); run `/kukey revoke` again."),
    (SlackApiError("", method="views.open", error="invalid_arguments"), CLICK, messages.form_refused(
        "click *Approve* again")),
    (SlackObjectFormationError("title too long"), COMMAND, messages.form_refused("run `/kukey revoke` again")),
    (Refused("Request KK-ABCDEFGH is not pending.", reason="not_pending"), CLICK,
     "Request KK-ABCDEFGH is not pending."),
    (KucoinRateLimited("busy", retry_after=2.4), SUBMISSION, "KuCoin is busy (rate limited); try again in 2 s."),
    (RuntimeError("bug"), SUBMISSION, messages.INTERNAL),
])
def test_what_people_are_told_after_the_ack(error: Exception, body: dict[str, Any], told: str) -> None:
    """Each failure after the ack becomes one sentence with what to do next: click the same button again,
    or run the same command again (never echoing what was typed after its first word)."""
    assert sentence(error, body) == told
    assert "leaked" not in told
