"""Block Kit for messages: pure functions from plain values to Slack's JSON, built with slack_sdk's models.

Every builder returns the blocks as `to_dict()` gives them, so slack_sdk's own validation (Slack's limits
on texts, ids, values, elements) has run before anything is sent: a block Slack would refuse raises
SlackObjectFormationError here, not an `invalid_blocks` after the ack. What slack_sdk does not check for
a message (at most 50 blocks) is checked in `message`.
"""

from __future__ import annotations

from typing import Any, Final

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, MarkdownTextObject, SectionBlock

from bot.domain.requests import State
from bot.services.ports import RequestView
from bot.slack import ids, messages

Blocks = list[dict[str, Any]]
MESSAGE_BLOCKS_MAX: Final = 50
SECTION_TEXT_MAX: Final = SectionBlock.text_max_length


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def message(*blocks: Block) -> Blocks:
    """The blocks of one message, validated by slack_sdk, as JSON."""
    if len(blocks) > MESSAGE_BLOCKS_MAX:
        raise SlackObjectFormationError(f"a message holds at most {MESSAGE_BLOCKS_MAX} blocks")
    return [block.to_dict() for block in blocks]


def text_section(text: str, *, block_id: str | None = None, accessory: ButtonElement | None = None) -> SectionBlock:
    """A mrkdwn section (with a button beside it); text from kukey's records is shortened to Slack's 3000
    characters."""
    return SectionBlock(text=MarkdownTextObject(text=shorten(text, SECTION_TEXT_MAX)), block_id=block_id,
                        accessory=accessory)


def note(text: str) -> Blocks:
    """A message that is one section of text."""
    return message(text_section(text))


def button(label: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=label, action_id=action_id, value=value, style=style)


def request_message(req: RequestView) -> Blocks:
    summary = text_section(messages.summary(req))
    if req.state != State.PENDING:
        return message(summary)
    return message(summary, ActionsBlock(block_id=f"decide:{req.id}", elements=[
        button("Approve", ids.APPROVE, req.id, "primary"), button("Deny", ids.DENY, req.id, "danger")]))


def reveal_offer(req: RequestView, approver: str | None) -> Blocks:
    return message(text_section(messages.approved_offer(req, approver)),
                   ActionsBlock(block_id=f"reveal:{req.id}",
                                elements=[button("Reveal key", ids.REVEAL, req.id, "primary")]))


def secret_message(text: str, request_id: str) -> Blocks:
    return message(text_section(text),
                   ActionsBlock(elements=[button("Stored it - wipe", ids.WIPE, request_id, "danger")]))


def enroll_message(uri: str, seed: str) -> Blocks:
    return message(text_section(messages.enroll_intro(uri, seed)),
                   ActionsBlock(elements=[button("Confirm code", ids.ENROLL_CONFIRM, "confirm", "primary")]))


def reenroll_offer() -> Blocks:
    return message(text_section(messages.REENROLL_OFFER),
                   ActionsBlock(elements=[button("Re-enroll", ids.REENROLL, "reenroll")]))
