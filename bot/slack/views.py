"""Modals: pure functions from plain values to Slack's view JSON, built and validated with slack_sdk's models.

`View.to_dict()` checks Slack's limits for a modal (title, submit and close at most 24 characters,
private_metadata 3000, callback_id 255, at most 100 blocks) and every block in it; `text_input` adds what
slack_sdk leaves unchecked for a plain_text_input. private_metadata carries ids and a channel, never what a
person typed: free text travels in the modal's own inputs.
"""

from __future__ import annotations

import json
from typing import Any, Final

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    InputBlock,
    InputInteractiveElement,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain import commands as cmds
from bot.domain.arguments import MAX_REASON
from bot.domain.keys import EXPIRY_CHOICES, PERMISSION_ORDER
from bot.domain.text import slack_length
from bot.slack import home_messages, ids, messages
from bot.slack import kill_switch_messages as kill_text
from bot.slack.blocks import shorten, text_section

Modal = dict[str, Any]
INPUT_MAX: Final = 3000  # a plain_text_input's max_length
IPS_INPUT_MAX: Final = 1000  # twenty IPv6 networks with separators fit
SUB_INPUT_MAX: Final = 64  # a 32-character name, with room for stray spaces


def _modal(callback_id: str, title: str, blocks: list[Block], metadata: dict[str, str], *,
           submit: str = "Confirm") -> Modal:
    view = View(type="modal", callback_id=callback_id, title=title, submit=submit, close="Cancel",
                private_metadata=json.dumps(metadata, separators=(",", ":")), blocks=blocks)
    return view.to_dict()


def text_input(action_id: str, *, max_length: int, min_length: int | None = None, initial: str | None = None,
                placeholder: str | None = None, multiline: bool | None = None) -> PlainTextInputElement:
    """A plain_text_input, with the limits slack_sdk does not check for it."""
    if not (min_length or 0) <= max_length <= INPUT_MAX:
        raise SlackObjectFormationError(f"plain_text_input lengths must be 0 <= min <= max <= {INPUT_MAX}")
    if initial is not None and slack_length(initial) > max_length:
        raise SlackObjectFormationError("plain_text_input initial_value is longer than its max_length")
    return PlainTextInputElement(action_id=action_id, max_length=max_length, min_length=min_length,
                                 initial_value=initial or None, placeholder=placeholder, multiline=multiline)


def _field(block_id: str, label: str, element: InputInteractiveElement, *, optional: bool = False) -> InputBlock:
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional)


def _code_input() -> InputBlock:
    return _field(ids.CODE_BLOCK, "Current code from your authenticator",
                  text_input(ids.CODE_INPUT, min_length=6, max_length=6, placeholder="123456"))


def totp_modal(callback_id: str, title: str, intro: str, metadata: dict[str, str], *,
               submit: str = "Confirm") -> Modal:
    return _modal(callback_id, title, [text_section(intro), _code_input()], metadata, submit=submit)


def approve_modal(request_id: str) -> Modal:
    return totp_modal(ids.APPROVE_VIEW, "Approve request", messages.approve_intro(request_id), {"r": request_id},
                      submit="Approve")


def reveal_modal(request_id: str, response_url: str) -> Modal:
    return totp_modal(ids.REVEAL_VIEW, "Reveal key", messages.reveal_intro(request_id),
                      {"r": request_id, "u": response_url}, submit="Reveal")


def enroll_modal(response_url: str) -> Modal:
    return totp_modal(ids.ENROLL_VIEW, "Confirm enrollment", messages.ENROLL_CODE, {"u": response_url})


def enroll_wait_modal() -> Modal:
    """Enrollment from the Home tab, as it opens: the seed is made once the form is open (enroll_seed_modal)."""
    return View(type="modal", callback_id=ids.ENROLL_VIEW, title="TOTP enrollment", close="Cancel",
                blocks=[text_section(home_messages.ENROLL_WAIT)]).to_dict()


def enroll_seed_modal(uri: str, seed: str) -> Modal:
    """Enrollment from the Home tab: the new seed and its first code in one form (the tab has no message to
    show the seed in; the form is seen by its owner only and gone once closed)."""
    return totp_modal(ids.ENROLL_VIEW, "TOTP enrollment", home_messages.enroll_form(uri, seed), {})


def reenroll_modal(response_url: str) -> Modal:
    return totp_modal(ids.REENROLL_VIEW, "Re-enroll", messages.REENROLL_CODE, {"u": response_url})


def reenroll_new_modal(uri: str, seed: str, metadata: dict[str, str]) -> Modal:
    return totp_modal(ids.REENROLL_NEW_VIEW, "New authenticator", messages.new_seed(uri, seed), metadata)


def deny_modal(request_id: str) -> Modal:
    reason = text_input(ids.REASON_INPUT, max_length=MAX_REASON, multiline=True)
    return _modal(ids.DENY_VIEW, "Deny request", [text_section(messages.deny_intro(request_id)),
                                                  _field(ids.REASON_BLOCK, "Reason", reason)],
                  {"r": request_id}, submit="Deny")


def revoke_modal(cmd: cmds.Revoke, channel: str, dedupe_key: str) -> Modal:
    """The break-glass form: the key (or `all`) and the channel in the metadata; the reason, as typed with
    the command, in an input the responder can still edit."""
    target = "all" if cmd.all else str(cmd.api_key)
    reason = text_input(ids.REASON_INPUT, max_length=MAX_REASON, initial=cmd.reason, multiline=True)
    return _modal(ids.REVOKE_VIEW, "Incident revoke",
                  [text_section(messages.revoke_intro(cmd.sub_account, cmd.api_key)),
                   _field(ids.REASON_BLOCK, "Reason (shown in the incident channels)", reason, optional=True),
                   _code_input()],
                  {"s": cmd.sub_account, "k": target, "c": channel, "d": dedupe_key}, submit="Revoke")


def kill_switch_modal(count: int, reason: str, channel: str, dedupe_key: str) -> Modal:
    """`revoke everything`: the number of keys kukey holds, typed to confirm, the reason and a TOTP code."""
    typed = text_input(ids.COUNT_INPUT, max_length=10, placeholder=str(count))
    why = text_input(ids.REASON_INPUT, max_length=MAX_REASON, initial=reason, multiline=True)
    return _modal(ids.KILL_SWITCH_VIEW, "Kill switch",
                  [text_section(kill_text.intro(count)),
                   _field(ids.COUNT_BLOCK, "Number of keys to delete", typed),
                   _field(ids.REASON_BLOCK, "Reason (shown in the incident channels)", why, optional=True),
                   _code_input()],
                  {"c": channel, "d": dedupe_key}, submit="Delete all")


def create_modal(sub_accounts: list[str], metadata: dict[str, str]) -> Modal:
    perms = [Option(value=p.value, text=p.value) for p in PERMISSION_ORDER]
    expiries = [Option(value="never" if d is None else str(d), text="never" if d is None else f"{d} days")
                for d in EXPIRY_CHOICES]
    hint = ", ".join(sub_accounts) or "sub-account name"
    blocks: list[Block] = [
        _field(ids.SUB_BLOCK, "Sub-account", text_input(ids.SUB_INPUT, max_length=SUB_INPUT_MAX,
                                                         placeholder=shorten(hint, 150))),
        _field(ids.PERMS_BLOCK, "Permissions", CheckboxesElement(action_id=ids.PERMS_INPUT, options=perms),
               optional=True),
        _field(ids.IPS_BLOCK, "IP whitelist (comma-separated)",
               text_input(ids.IPS_INPUT, max_length=IPS_INPUT_MAX), optional=True),
        _field(ids.EXPIRE_BLOCK, "Expires after", StaticSelectElement(action_id=ids.EXPIRE_INPUT, options=expiries),
               optional=True),
        _field(ids.REASON_BLOCK, "Reason", text_input(ids.REASON_INPUT, max_length=MAX_REASON), optional=True),
    ]
    return _modal(ids.CREATE_VIEW, "Request an API key", blocks, metadata, submit="Request")
