"""Block Kit builders: pure functions from plain values to Slack's JSON.

(Plain dicts rather than slack_sdk.models.blocks: the shapes are few and tests compare them directly.)
"""

from __future__ import annotations

import json
from typing import Any

from bot.domain.keys import EXPIRY_CHOICES, PERMISSION_ORDER
from bot.domain.requests import State
from bot.services.ports import RequestView
from bot.slack import ids, messages

Block = dict[str, Any]


def text_section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    b: Block = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id,
                "value": value}
    if style:
        b["style"] = style
    return b


def actions(*buttons: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(buttons)}
    if block_id:
        block["block_id"] = block_id
    return block


def request_message(req: RequestView) -> list[Block]:
    blocks = [text_section(messages.summary(req))]
    if req.state == State.PENDING:
        blocks.append(actions(button("Approve", ids.APPROVE, req.id, "primary"),
                              button("Deny", ids.DENY, req.id, "danger"), block_id=f"decide:{req.id}"))
    return blocks


def reveal_offer(req: RequestView, approver: str | None) -> list[Block]:
    return [text_section(messages.approved_offer(req, approver)),
            actions(button("Reveal key", ids.REVEAL, req.id, "primary"), block_id=f"reveal:{req.id}")]


def secret_message(text: str, request_id: str) -> list[Block]:
    return [text_section(text), actions(button("Stored it - wipe", ids.WIPE, request_id, "danger"))]


def _code_input(label: str) -> Block:
    return {"type": "input", "block_id": ids.CODE_BLOCK, "label": {"type": "plain_text", "text": label},
            "element": {"type": "plain_text_input", "action_id": ids.CODE_INPUT, "min_length": 6,
                        "max_length": 6, "placeholder": {"type": "plain_text", "text": "123456"}}}


def totp_modal(callback_id: str, title: str, intro: str, metadata: dict[str, str],
               submit: str = "Confirm") -> Block:
    return {"type": "modal", "callback_id": callback_id, "private_metadata": json.dumps(metadata),
            "title": {"type": "plain_text", "text": title[:24]},
            "submit": {"type": "plain_text", "text": submit}, "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [text_section(intro), _code_input("Current code from your authenticator")]}


def deny_modal(request_id: str) -> Block:
    return {"type": "modal", "callback_id": ids.DENY_VIEW, "private_metadata": json.dumps({"r": request_id}),
            "title": {"type": "plain_text", "text": "Deny request"},
            "submit": {"type": "plain_text", "text": "Deny"}, "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [text_section(f"Deny request `{request_id}`. The requester sees your reason."),
                       {"type": "input", "block_id": ids.REASON_BLOCK,
                        "label": {"type": "plain_text", "text": "Reason"},
                        "element": {"type": "plain_text_input", "action_id": ids.REASON_INPUT,
                                    "max_length": 300, "multiline": True}}]}


def enroll_message(uri: str, seed: str) -> list[Block]:
    return [text_section("*TOTP enrollment* (only you can see this). Add this to your authenticator app, "
                         "then click *Confirm code* and enter the code it shows. Nothing is active until "
                         f"you confirm.\n*otpauth URI:* `{uri}`\n*Seed (base32):* `{seed}`"),
            actions(button("Confirm code", ids.ENROLL_CONFIRM, "confirm", "primary"))]


def reenroll_offer() -> list[Block]:
    return [text_section("You are already enrolled. Re-enrolling replaces your authenticator seed and needs "
                         "your current code."),
            actions(button("Re-enroll", ids.REENROLL, "reenroll"))]


def reenroll_new_modal(uri: str, seed: str, metadata: dict[str, str]) -> Block:
    view = totp_modal(ids.REENROLL_NEW_VIEW, "New authenticator",
                      "Add this new seed to your authenticator, then enter the code it shows.\n"
                      f"*otpauth URI:* `{uri}`\n*Seed (base32):* `{seed}`", metadata)
    return view


def create_modal(sub_accounts: list[str], metadata: dict[str, str]) -> Block:
    perms = [{"text": {"type": "plain_text", "text": p.value}, "value": p.value} for p in PERMISSION_ORDER]
    expiries = [{"text": {"type": "plain_text", "text": "never" if d is None else f"{d} days"},
                 "value": "never" if d is None else str(d)} for d in EXPIRY_CHOICES]

    def field(block_id: str, label: str, element: Block, optional: bool = False) -> Block:
        return {"type": "input", "block_id": block_id, "optional": optional,
                "label": {"type": "plain_text", "text": label}, "element": element}

    return {"type": "modal", "callback_id": ids.CREATE_VIEW, "private_metadata": json.dumps(metadata),
            "title": {"type": "plain_text", "text": "Request an API key"},
            "submit": {"type": "plain_text", "text": "Request"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [
                field(ids.SUB_BLOCK, "Sub-account", {"type": "plain_text_input", "action_id": ids.SUB_INPUT,
                                                     "placeholder": {"type": "plain_text",
                                                                     "text": ", ".join(sub_accounts)[:150] or
                                                                     "sub-account name"}}),
                field(ids.PERMS_BLOCK, "Permissions", {"type": "checkboxes", "action_id": ids.PERMS_INPUT,
                                                       "options": perms}, optional=True),
                field(ids.IPS_BLOCK, "IP whitelist (comma-separated)",
                      {"type": "plain_text_input", "action_id": ids.IPS_INPUT}, optional=True),
                field(ids.EXPIRE_BLOCK, "Expires after", {"type": "static_select", "action_id": ids.EXPIRE_INPUT,
                                                          "options": expiries}, optional=True),
                field(ids.REASON_BLOCK, "Reason", {"type": "plain_text_input", "action_id": ids.REASON_INPUT,
                                                   "max_length": 300}, optional=True),
            ]}
