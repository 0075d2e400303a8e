"""Block Kit builders and the create form: pure functions, checked directly."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import commands as cmds
from bot.domain.keys import KeySpec, Permission
from bot.services.ports import RequestView
from bot.slack import blocks, ids, views
from bot.slack.payload import create_text_from_form

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _view(state: str) -> RequestView:
    return RequestView(id="KK-ABCDEFGH", kind="create", state=state, requester="U0ALICE01",
                       sub_account="alpha-trading", permissions=frozenset({Permission.GENERAL, Permission.SPOT}),
                       ips=("203.0.113.5",), expire_days=30, reason="x" * 300, approvals_needed=1, approvers=(),
                       created_at=NOW, expires_at=NOW)


def _buttons(block_list: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [e["text"]["text"] for b in block_list if b["type"] == "actions" for e in b["elements"]]


def test_buttons_only_while_pending() -> None:
    """The request message offers Approve/Deny only while pending; every other state renders without them."""
    assert _buttons(blocks.request_message(_view("pending"))) == ["Approve", "Deny"]
    for state in ("approved", "revealed", "denied", "expired", "cancelled", "lapsed", "failed", "done"):
        assert _buttons(blocks.request_message(_view(state))) == [], state


def test_section_text_within_slack_limit() -> None:
    """No section text exceeds Slack's 3000 characters, however long the reason."""
    long = _view("pending")
    for block in blocks.request_message(long):
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


def test_create_form_becomes_the_same_command_as_text() -> None:
    """The create modal's state is parsed by the same parser as `/kukey create ...`."""
    values = {
        ids.SUB_BLOCK: {ids.SUB_INPUT: {"value": "alpha-trading"}},
        ids.PERMS_BLOCK: {ids.PERMS_INPUT: {"selected_options": [{"value": "Spot"}]}},
        ids.IPS_BLOCK: {ids.IPS_INPUT: {"value": "203.0.113.5, 198.51.100.7"}},
        ids.EXPIRE_BLOCK: {ids.EXPIRE_INPUT: {"selected_option": {"value": "90"}}},
        ids.REASON_BLOCK: {ids.REASON_INPUT: {"value": "market making"}},
    }
    cmd = cmds.parse(create_text_from_form(values))
    assert cmd == cmds.Create(KeySpec("alpha-trading", frozenset({Permission.SPOT}),
                                      ("203.0.113.5", "198.51.100.7"), 90), reason="market making")


def test_modals_keep_metadata_small_and_secret_free() -> None:
    """private_metadata stays far below Slack's 3000 characters and carries only ids and URLs."""
    view = views.reveal_modal("KK-ABCDEFGH", "https://hooks.slack.com/x/y/z")
    assert len(view["private_metadata"]) < 200
    assert len(view["title"]["text"]) <= 24
