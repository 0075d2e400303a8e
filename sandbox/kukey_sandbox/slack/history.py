"""Reading a conversation back, as Slack answers it: conversations.history (a channel's top-level messages,
newest first) and conversations.replies (a thread: its parent, then the replies, oldest first), each with
the messages' metadata when asked for (`include_all_metadata`), and `metadata` as chat.postMessage takes it.

Pages: `limit` (Slack's default 100 for history, at most 1000) and `cursor`; `has_more` and
`response_metadata.next_cursor` say whether more follow.
"""

from __future__ import annotations

import json
from typing import Any

from kukey_sandbox.slack import blocks as bk
from kukey_sandbox.slack.model import Channel, Message
from kukey_sandbox.slack.refusal import Answer, Refusal
from kukey_sandbox.slack.world import World

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


def metadata(value: Any) -> dict[str, Any] | None:
    """chat.postMessage's `metadata` (a JSON object, or its text when form-encoded), checked like Slack."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise Refusal("invalid_metadata_format") from None
    if (not isinstance(value, dict) or not isinstance(value.get("event_type"), str)
            or not isinstance(value.get("event_payload"), dict)):
        raise Refusal("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": value["event_payload"]}


def history(world: World, ch: Channel, p: dict[str, Any]) -> Answer:
    messages = sorted(world.top_level(ch.id), key=lambda m: m.ts, reverse=True)
    return _page(world, messages, p)


def replies(world: World, ch: Channel, p: dict[str, Any]) -> Answer:
    parent = world.message(ch.id, str(p.get("ts") or ""))
    if parent is None:
        raise Refusal("thread_not_found")
    root = parent.thread_ts or parent.ts
    head = world.message(ch.id, root)
    thread = ([head] if head is not None else []) + world.thread(ch.id, root)
    return _page(world, thread, p)


def _page(world: World, messages: list[Message], p: dict[str, Any]) -> Answer:
    try:
        limit = min(MAX_LIMIT, int(p.get("limit") or DEFAULT_LIMIT))
        start = int(p.get("cursor") or 0)
    except ValueError:
        raise Refusal("invalid_arguments") from None
    if limit < 1 or start < 0:
        raise Refusal("invalid_arguments")
    shown = messages[start:start + limit]
    more = start + limit < len(messages)
    with_metadata = bk.as_flag(p.get("include_all_metadata"))
    return {"ok": True, "messages": [m.to_api(world.team_id, world.app_id, with_metadata=with_metadata)
                                     for m in shown],
            "has_more": more, "response_metadata": {"next_cursor": str(start + limit) if more else ""}}
