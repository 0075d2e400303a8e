"""What Slack does with the app's answers: response_url posts, slash command acks, view_submission acks.

Every function here runs inside a world transaction.
"""

from __future__ import annotations

import copy
from typing import Any

from kukey_sandbox.slack import blocks as bk
from kukey_sandbox.slack.failures import SlackRejected
from kukey_sandbox.slack.model import Ephemeral, Message, Ref, ResponseUrl, View
from kukey_sandbox.slack.world import VIEW_STACK_LIMIT, World


def respond(world: World, url: ResponseUrl, body: dict[str, Any]) -> tuple[int, str]:
    """Apply one POST to a response_url; returns (HTTP status, body) as Slack's hooks endpoint would.

    Errors: 404 used_url (6th use), 404 expired_url (after 30 min), 404 no_service (unknown URL)
    are decided before this; here: 400 no_text / msg_too_long / invalid_blocks, 404 message_not_found.
    """
    original = world.source(url.source) if url.source is not None else None
    if bk.as_flag(body.get("delete_original")):
        if original is None:
            return 404, "message_not_found"
        original.deleted = True
        return 200, "ok"
    text, blocks = str(body.get("text") or ""), bk.as_blocks(body.get("blocks"))
    problem = bk.message_error(text, blocks)
    if problem is not None:
        return 400, problem[0]
    blocks = bk.fill_ids(blocks, lambda: world.new_id("b"))
    if bk.as_flag(body.get("replace_original")) and url.source is not None:
        if original is None:
            return 404, "message_not_found"
        _replace(original, text, blocks)
        return 200, "ok"
    thread_ts = body.get("thread_ts") or url.thread_ts
    posted = _post(world, url, text, blocks, thread_ts, in_channel=_in_channel(body), via="response_url")
    if url.source is None:  # a command's later replace_original targets its first response
        url.source = posted
    return 200, "ok"


def command_ack(world: World, url: ResponseUrl, body: dict[str, Any]) -> str | None:
    """Show a slash command's ack body the way Slack does; returns Slack's complaint, if any."""
    text, blocks = str(body.get("text") or ""), bk.as_blocks(body.get("blocks"))
    if not text and not blocks:
        return None
    problem = bk.message_error(text, blocks)
    if problem is not None:
        return problem[0]
    blocks = bk.fill_ids(blocks, lambda: world.new_id("b"))
    url.source = _post(world, url, text, blocks, None, in_channel=_in_channel(body), via="ack")
    return None


def submission_ack(world: World, view: View, body: dict[str, Any]) -> dict[str, str]:
    """Apply a view_submission ack (response_action); returns the inline errors shown, if any."""
    action = body.get("response_action")
    if action is None:
        if view.id == (world.modal(view.user) or view).id:
            world.close_top(view.user)
        return {}
    if action == "errors":
        errors = body.get("errors")
        inputs = {b.get("block_id") for b in bk.input_blocks(view.blocks)}
        if not isinstance(errors, dict) or not errors or not set(errors) <= inputs:
            got = sorted(errors) if isinstance(errors, dict) else errors
            want = sorted(map(str, inputs))
            raise SlackRejected(f"response_action=errors needs input block_ids as keys {want}, got {got!r}")
        view.errors = {str(k): str(v) for k, v in errors.items()}
        return dict(view.errors)
    if action == "clear":
        world.close_views(view.user)
        return {}
    if action not in {"update", "push"}:
        raise SlackRejected(f"unknown response_action {action!r}")
    spec = body.get("view")
    found = bk.view_problems(spec)
    if found or not isinstance(spec, dict):
        raise SlackRejected(f"response_action={action} with an invalid view: {found}")
    spec = copy.deepcopy(spec)
    bk.fill_ids(spec["blocks"], lambda: world.new_id("b"))
    if action == "update":
        world.update_view(view, spec)
    elif len(world.stacks.get(view.user) or []) >= VIEW_STACK_LIMIT:
        raise SlackRejected("response_action=push: push_limit_reached (at most 3 views in a stack)")
    else:
        world.open_view(view.user, spec, push=True)
    return {}


def _post(world: World, url: ResponseUrl, text: str, blocks: list[dict[str, Any]],
          thread_ts: str | None, *, in_channel: bool, via: str) -> Ref:
    channel = url.channel
    if in_channel:
        msg = world.post(channel, user=world.bot_user_id, text=text, blocks=blocks, thread_ts=thread_ts)
        return Ref(channel, msg.ts)
    eph = world.post_ephemeral(channel, url.user, text=text, blocks=blocks, thread_ts=thread_ts, via=via)
    return Ref(channel, eph.ts, ephemeral=True)


def _replace(original: Message | Ephemeral, text: str, blocks: list[dict[str, Any]]) -> None:
    original.text, original.blocks = text, blocks
    if isinstance(original, Message):
        original.edits += 1


def _in_channel(body: dict[str, Any]) -> bool:
    return body.get("response_type") == "in_channel"

