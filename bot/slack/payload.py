"""Reading what Slack sends: commands, clicks and modal submissions, into plain values.

Payloads may carry junk (a signed request is from Slack, but its fields are not all checked by the
transport): every reader returns "" or an empty dict where a field is missing or of the wrong type.
Services never see a payload.
"""

from __future__ import annotations

import json
from typing import Any

from bot.domain import commands as cmds
from bot.errors import KukeyError, UsageError
from bot.slack import ids
from bot.slack.blocks import shorten

INLINE_ERROR_MAX = 150  # an inline modal error is one short line under its input


class InvalidInput(KukeyError):
    """Something typed into a modal is refused; the error is shown under the input `block`."""

    def __init__(self, message: str, *, block: str) -> None:
        super().__init__(shorten(message, INLINE_ERROR_MAX))
        self.block = block


def dig(node: Any, *keys: str) -> Any:
    """node[k1][k2]...; None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def text(node: Any, *keys: str) -> str:
    value = dig(node, *keys)
    return value if isinstance(value, str) else ""


def user(body: dict[str, Any]) -> str:
    """Who acted: the user of an interaction, of a slash command, or of an event."""
    return text(body, "user", "id") or text(body, "user_id") or text(body, "event", "user")


def metadata(view: Any) -> dict[str, str]:
    """The modal's private_metadata (a JSON object of strings kukey put there), or {}."""
    try:
        data = json.loads(text(view, "private_metadata") or "{}")
    except (ValueError, RecursionError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def typed(view: Any, block: str, action: str) -> str:
    """What was typed into one plain_text_input of a submitted modal, trimmed."""
    return text(view, "state", "values", block, action, "value").strip()


def code(view: Any) -> str:
    return typed(view, ids.CODE_BLOCK, ids.CODE_INPUT)


def reason(view: Any) -> str:
    """The reason typed into a modal, refused under its input when too long to keep."""
    try:
        return cmds.form_reason(typed(view, ids.REASON_BLOCK, ids.REASON_INPUT))
    except UsageError as exc:
        raise InvalidInput(str(exc), block=ids.REASON_BLOCK) from None


def value(body: dict[str, Any]) -> str:
    """The value of the clicked button."""
    acts = body.get("actions")
    return text(acts[0] if isinstance(acts, list) and acts else None, "value")


def button(body: dict[str, Any]) -> str:
    """The label of the clicked button ("" when not a click)."""
    acts = body.get("actions")
    return text(acts[0] if isinstance(acts, list) and acts else None, "text", "text")


def channel(body: dict[str, Any]) -> str:
    """Where the person acted: the command's channel, the clicked message's, or the one a form was opened
    from (kept in its metadata); "" when unknown."""
    return (text(body, "channel_id") or text(body, "channel", "id") or text(body, "container", "channel_id")
            or metadata(body.get("view")).get("c", ""))


def command_words(body: dict[str, Any], words: int = 1) -> str:
    """`/kukey revoke`: the command and its first words, for "run ... again" (never the free text)."""
    typed_text = text(body, "text").split()[:words]
    return " ".join([text(body, "command"), *typed_text]).strip()


def create_text_from_form(values: Any) -> str:
    """Turn the create modal's state into the equivalent `create ...` text, so one parser checks both.
    Inputs of the wrong shape count as empty (a submission may carry junk)."""

    def get(block: str, action: str) -> dict[str, Any]:
        found = dig(values, block, action)
        return found if isinstance(found, dict) else {}

    def typed_value(block: str, action: str) -> str:
        found = get(block, action).get("value")
        return found.strip() if isinstance(found, str) else ""

    parts = ["create", typed_value(ids.SUB_BLOCK, ids.SUB_INPUT) or "?"]
    options = get(ids.PERMS_BLOCK, ids.PERMS_INPUT).get("selected_options")
    chosen = [o.get("value") for o in options if isinstance(o, dict)] if isinstance(options, list) else []
    if chosen:
        parts.append("perms=" + ",".join(str(c) for c in chosen))
    ips = typed_value(ids.IPS_BLOCK, ids.IPS_INPUT).replace(" ", "")
    if ips:
        parts.append("ips=" + ips)
    expire = get(ids.EXPIRE_BLOCK, ids.EXPIRE_INPUT).get("selected_option")
    if isinstance(expire, dict) and isinstance(expire.get("value"), str):
        parts.append(f"expire={expire['value']}")
    why = typed_value(ids.REASON_BLOCK, ids.REASON_INPUT)
    if why:
        parts.append(why)
    return " ".join(parts)
