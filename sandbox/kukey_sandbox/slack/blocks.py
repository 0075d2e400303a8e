"""Block Kit as Slack checks it: the limits the fake enforces and the walks the driver needs.

`problems(...)` returns Slack-style messages ("[ERROR] ... [json-pointer:/blocks/0/text/text]");
an empty list means Slack would accept the blocks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MESSAGE_TEXT_LIMIT = 4000
SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
HEADER_TEXT_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
ID_LIMIT = 255
MESSAGE_BLOCKS_LIMIT = 50
VIEW_BLOCKS_LIMIT = 100
PRIVATE_METADATA_LIMIT = 3000
CALLBACK_ID_LIMIT = 255
VIEW_TITLE_LIMIT = 24
SECTION_FIELDS_LIMIT = 10
PLACEHOLDER_LIMIT = 150
INPUT_LENGTH_LIMIT = 3000  # plain_text_input: max_length, min_length and initial_value
OPTION_TEXT_LIMIT, OPTION_VALUE_LIMIT = 75, 150
OPTIONS_LIMITS = {"static_select": 100, "multi_static_select": 100, "overflow": 5, "checkboxes": 10,
                  "radio_buttons": 10}

BLOCK_TYPES = frozenset({
    "section", "actions", "context", "divider", "header", "image", "input", "rich_text",
    "markdown", "file", "video", "context_actions",
})
ELEMENT_TYPES = frozenset({
    "button", "static_select", "external_select", "users_select", "conversations_select",
    "channels_select", "multi_static_select", "multi_users_select", "multi_conversations_select",
    "multi_channels_select", "multi_external_select", "checkboxes", "radio_buttons", "overflow",
    "datepicker", "timepicker", "datetimepicker", "plain_text_input", "number_input", "email_text_input",
    "url_text_input", "image", "rich_text_input", "file_input", "workflow_button",
})

Block = dict[str, Any]
_TEXT_TYPES = frozenset({"plain_text", "mrkdwn", "text", "markdown"})


@dataclass(frozen=True)
class Button:
    """A clickable button found in a surface."""

    label: str
    action_id: str
    block_id: str
    value: str | None
    style: str | None
    url: str | None


def buttons(blocks: list[Block]) -> list[Button]:
    """Every button in `blocks`, in reading order (actions elements and section accessories)."""
    found: list[Button] = []
    for block in blocks:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for el in elements:
            if isinstance(el, dict) and el.get("type") == "button":
                found.append(Button(
                    label=_text_of(el.get("text")), action_id=str(el.get("action_id", "")),
                    block_id=str(block.get("block_id", "")), value=el.get("value"),
                    style=el.get("style"), url=el.get("url"),
                ))
    return found


def texts(node: Any) -> Iterator[str]:
    """Every human-readable string in a block tree (text objects, rich text, alt texts), except a button's
    confirm dialog, which nobody sees before they click."""
    if isinstance(node, dict):
        if node.get("type") in _TEXT_TYPES and isinstance(node.get("text"), str):
            yield node["text"]
        for key, value in node.items():
            if key != "confirm" and (key != "text" or not isinstance(value, str)):
                yield from texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from texts(item)


def as_blocks(value: Any) -> list[Block]:
    """A blocks argument as sent (a JSON string in forms, a list in JSON bodies), as a fresh list."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            return [{"type": "(not JSON)"}]
    if value is None:
        return []
    return copy.deepcopy(value) if isinstance(value, list) else [{"type": "(not a list)"}]


def as_view(value: Any) -> Any:
    """A view argument as sent (a JSON string or an object), as a fresh object."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return copy.deepcopy(value)


def as_flag(value: Any) -> bool:
    """A boolean argument as sent: true, "true" or "1"."""
    return value is True or str(value).lower() in {"true", "1"}


def input_blocks(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if b.get("type") == "input" and isinstance(b.get("element"), dict)]


def fill_ids(blocks: list[Block], new_id: Callable[[], str]) -> list[Block]:
    """Give every block and interactive element an id, as Slack does when the app left them out."""
    for block in blocks:
        block.setdefault("block_id", new_id())
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                elements.append(block[key])
        for el in elements:
            if isinstance(el, dict) and el.get("type") in ELEMENT_TYPES and el.get("type") != "image":
                el.setdefault("action_id", new_id())
    return blocks


def message_error(text: str | None, blocks: list[Block] | None) -> tuple[str, list[str]] | None:
    """The error chat.postMessage/postEphemeral/update would answer with, or None."""
    if not text and not blocks:
        return "no_text", []
    if text is not None and len(text) > MESSAGE_TEXT_LIMIT:
        return "msg_too_long", []
    found = problems(blocks or [], limit=MESSAGE_BLOCKS_LIMIT)
    return ("invalid_blocks", found) if found else None


def view_problems(view: Any, kind: str = "modal") -> list[str]:
    """Why views.open/update/push (a modal) or views.publish (`kind` "home") would answer invalid_arguments
    (empty when the view is fine). A Home tab has no title, submit or close button."""
    if not isinstance(view, dict):
        return ["[ERROR] view must be a JSON object"]
    found: list[str] = []
    if view.get("type") != kind:
        found.append(f"[ERROR] only {kind} views are supported here [json-pointer:/view/type]")
    for key in ("title", "submit", "close"):
        if kind == "home" and key in ("submit", "close") and key in view:
            found.append(f"[ERROR] a home view cannot have {key} [json-pointer:/view/{key}]")
        elif kind != "home" and (key in view or key == "title"):
            found += _plain(view.get(key), f"/view/{key}", VIEW_TITLE_LIMIT)
    if len(str(view.get("private_metadata") or "")) > PRIVATE_METADATA_LIMIT:
        found.append(f"[ERROR] must be less than {PRIVATE_METADATA_LIMIT + 1} characters "
                     "[json-pointer:/view/private_metadata]")
    for key in ("callback_id", "external_id"):
        if len(str(view.get(key) or "")) > CALLBACK_ID_LIMIT:
            found.append(f"[ERROR] must be less than {CALLBACK_ID_LIMIT + 1} characters [json-pointer:/view/{key}]")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return [*found, "[ERROR] missing required field: blocks [json-pointer:/view/blocks]"]
    if input_blocks(blocks) and "submit" not in view and kind == "modal":
        found.append("[ERROR] a view with input blocks needs a submit button [json-pointer:/view/submit]")
    return found + problems(blocks, limit=VIEW_BLOCKS_LIMIT, pointer="/view/blocks")


def problems(blocks: Any, *, limit: int, pointer: str = "/blocks") -> list[str]:
    """Slack's objections to a blocks array (message or view)."""
    if not isinstance(blocks, list):
        return [f"[ERROR] must be an array [json-pointer:{pointer}]"]
    found: list[str] = []
    if len(blocks) > limit:
        found.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]")
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            found.append(f"[ERROR] unknown block type [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > ID_LIMIT:
                found.append(f"[ERROR] must be less than {ID_LIMIT + 1} characters "
                             f"[json-pointer:{where}/block_id]")
            if block_id in seen:
                found.append(f"[ERROR] duplicate block_id [json-pointer:{where}/block_id]")
            seen.add(str(block_id))
        found += _block(block, where)
    return found


def _block(block: Block, where: str) -> list[str]:
    kind = block["type"]
    found: list[str] = []
    if kind == "section":
        if "text" not in block and "fields" not in block:
            found.append(f"[ERROR] must provide either text or fields [json-pointer:{where}]")
        if "text" in block:
            found += _text(block["text"], f"{where}/text", SECTION_TEXT_LIMIT)
        fields = block.get("fields") or []
        if len(fields) > SECTION_FIELDS_LIMIT:
            found.append(f"[ERROR] no more than {SECTION_FIELDS_LIMIT} items allowed [json-pointer:{where}/fields]")
        for j, field in enumerate(fields):
            found += _text(field, f"{where}/fields/{j}", FIELD_TEXT_LIMIT)
        if isinstance(block.get("accessory"), dict):
            found += _element(block["accessory"], f"{where}/accessory")
    elif kind == "header":
        found += _plain(block.get("text"), f"{where}/text", HEADER_TEXT_LIMIT)
    elif kind in {"actions", "context"}:
        elements = block.get("elements")
        most = 25 if kind == "actions" else 10
        if not isinstance(elements, list) or not 1 <= len(elements) <= most:
            found.append(f"[ERROR] must have between 1 and {most} elements [json-pointer:{where}/elements]")
        elif kind == "actions":
            for j, el in enumerate(elements):
                found += _element(el, f"{where}/elements/{j}")
    elif kind == "input":
        found += _plain(block.get("label"), f"{where}/label", 2000)
        if "hint" in block:
            found += _plain(block["hint"], f"{where}/hint", 2000)
        if not isinstance(block.get("element"), dict):
            found.append(f"[ERROR] missing required field: element [json-pointer:{where}]")
        else:
            found += _element(block["element"], f"{where}/element")
    return found


def _element(el: Any, where: str) -> list[str]:
    if not isinstance(el, dict) or el.get("type") not in ELEMENT_TYPES:
        return [f"[ERROR] unknown element type [json-pointer:{where}]"]
    found: list[str] = []
    if len(str(el.get("action_id") or "")) > ID_LIMIT:
        found.append(f"[ERROR] must be less than {ID_LIMIT + 1} characters [json-pointer:{where}/action_id]")
    if el["type"] == "button":
        found += _plain(el.get("text"), f"{where}/text", BUTTON_TEXT_LIMIT)
        if len(str(el.get("value") or "")) > 2000:
            found.append(f"[ERROR] must be less than 2001 characters [json-pointer:{where}/value]")
        if el.get("style") not in {None, "primary", "danger"}:
            found.append(f"[ERROR] must be one of primary, danger [json-pointer:{where}/style]")
    if "placeholder" in el:
        found += _plain(el["placeholder"], f"{where}/placeholder", PLACEHOLDER_LIMIT)
    if el["type"] == "plain_text_input":
        found += _input_lengths(el, where)
    if el["type"] in OPTIONS_LIMITS:
        found += _options(el, where, OPTIONS_LIMITS[el["type"]])
    return found


def _input_lengths(el: Block, where: str) -> list[str]:
    """A plain_text_input's lengths: 0 <= min_length <= max_length <= 3000, an initial_value that fits."""
    most, least, initial = el.get("max_length", INPUT_LENGTH_LIMIT), el.get("min_length", 0), el.get("initial_value")
    if not all(isinstance(n, int) and 0 <= n <= INPUT_LENGTH_LIMIT for n in (most, least)) or least > most:
        return [f"[ERROR] lengths must be 0 <= min_length <= max_length <= {INPUT_LENGTH_LIMIT} [json-pointer:{where}]"]
    if initial is not None and (not isinstance(initial, str) or len(initial) > most):
        return [f"[ERROR] must be no longer than max_length [json-pointer:{where}/initial_value]"]
    return []


def _options(el: Block, where: str, most: int) -> list[str]:
    options = el.get("options")
    if not isinstance(options, list) or not 1 <= len(options) <= most:
        return [f"[ERROR] must have between 1 and {most} items [json-pointer:{where}/options]"]
    found: list[str] = []
    for j, option in enumerate(options):
        here = f"{where}/options/{j}"
        found += _text(option.get("text") if isinstance(option, dict) else None, f"{here}/text",
                       OPTION_TEXT_LIMIT)
        if not isinstance(option, dict) or not 0 < len(str(option.get("value") or "")) <= OPTION_VALUE_LIMIT:
            found.append(f"[ERROR] must be between 1 and {OPTION_VALUE_LIMIT} characters [json-pointer:{here}/value]")
    return found


def _text(obj: Any, where: str, most: int) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in {"plain_text", "mrkdwn"}:
        return [f"[ERROR] must be a text object [json-pointer:{where}]"]
    return _length(obj.get("text"), f"{where}/text", most)


def _plain(obj: Any, where: str, most: int) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") != "plain_text":
        return [f"[ERROR] must be a plain_text object [json-pointer:{where}]"]
    return _length(obj.get("text"), f"{where}/text", most)


def _length(text: Any, where: str, most: int) -> list[str]:
    if not isinstance(text, str) or not text:
        return [f"[ERROR] must be more than 0 characters [json-pointer:{where}]"]
    if len(text) > most:
        return [f"[ERROR] must be less than {most + 1} characters [json-pointer:{where}]"]
    return []


def _text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""
