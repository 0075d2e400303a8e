"""Block Kit for messages: pure builders, validated by slack_sdk's models before anything is sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from slack_sdk.errors import SlackObjectFormationError

from bot.domain.keys import Permission
from bot.services.ports import RequestView
from bot.slack import blocks, ids
from kukey_sandbox.slack.blocks import MESSAGE_BLOCKS_LIMIT, problems

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _view(state: str, reason: str = "x" * 300) -> RequestView:
    return RequestView(id="KK-ABCDEFGH", kind="create", state=state, requester="U0ALICE01",
                       sub_account="alpha-trading", permissions=frozenset({Permission.GENERAL, Permission.SPOT}),
                       ips=("203.0.113.5",), expire_days=30, reason=reason, approvals_needed=1, approvers=(),
                       created_at=NOW, expires_at=NOW)


def _buttons(block_list: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [e["text"]["text"] for b in block_list if b["type"] == "actions" for e in b["elements"]]


def test_buttons_only_while_pending() -> None:
    """The request message offers Approve/Deny only while pending; every other state renders without them."""
    assert _buttons(blocks.request_message(_view("pending"))) == ["Approve", "Deny"]
    for state in ("approved", "revealed", "denied", "expired", "cancelled", "lapsed", "failed", "done"):
        assert _buttons(blocks.request_message(_view(state))) == [], state


def test_every_message_is_one_slack_accepts() -> None:
    """Every message builder's blocks pass the Slack fake's checks (Slack's limits), buttons carry kukey's
    action ids, and no message holds more than Slack's 50 blocks."""
    built = [blocks.request_message(_view("pending")), blocks.reveal_offer(_view("approved"), "U0BOB0001"),
             blocks.secret_message("*Secret:* `s`", "KK-ABCDEFGH"), blocks.enroll_message("otpauth://x", "ABC"),
             blocks.reenroll_offer(), blocks.note("hello")]
    for message in built:
        assert problems(message, limit=MESSAGE_BLOCKS_LIMIT) == [], message
    assert {e["action_id"] for m in built for b in m if b["type"] == "actions" for e in b["elements"]} \
        <= set(ids.ALL_ACTIONS)


def test_text_from_records_is_shortened_to_the_section_limit() -> None:
    """A summary longer than a section's 3000 characters (however long the stored reason) is shortened with
    an ellipsis, not refused by Slack."""
    section = blocks.request_message(_view("pending", reason="\u2603" * 5000))[0]
    assert len(section["text"]["text"]) == 3000 and section["text"]["text"].endswith("\u2026")


def test_what_slack_would_refuse_fails_while_building() -> None:
    """slack_sdk's validation runs in the builders: a button value over 2000 characters or a message of 51
    blocks raises SlackObjectFormationError before anything is sent."""
    with pytest.raises(SlackObjectFormationError, match="value"):
        blocks.message(blocks.text_section("x"), blocks.ActionsBlock(elements=[
            blocks.button("Go", ids.APPROVE, "v" * 2001)]))
    with pytest.raises(SlackObjectFormationError, match="50 blocks"):
        blocks.message(*[blocks.text_section("x")] * 51)
    assert len(blocks.message(*[blocks.text_section("x")] * 50)) == 50
