"""What Slack sends to an app: slash command forms, block_actions, view_submission and view_closed payloads,
Events API callbacks (app_home_opened) and the url_verification challenge, and the v0 request signature.

Builders read the world, so call them inside a world transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from kukey_sandbox.slack import blocks as bk
from kukey_sandbox.slack.failures import SlackDriverError
from kukey_sandbox.slack.model import Channel, Ephemeral, Message, View
from kukey_sandbox.slack.world import World

TEAM_DOMAIN = "kukey-sandbox"
Entered = str | Sequence[str]


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature: "v0=" + hex HMAC-SHA256(secret, "v0:{timestamp}:{raw body}")."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def slash_command(world: World, *, user: str, channel: Channel, command: str, text: str, response_url: str,
                  trigger_id: str, token: str) -> dict[str, str]:
    """The fields of a slash command, in Slack's order."""
    return {
        "token": token, "team_id": world.team_id, "team_domain": TEAM_DOMAIN, "channel_id": channel.id,
        "channel_name": _channel_name(channel), "user_id": user, "user_name": world.users[user].name,
        "command": command, "text": text, "api_app_id": world.app_id, "is_enterprise_install": "false",
        "response_url": response_url, "trigger_id": trigger_id,
    }


def block_actions(world: World, *, user: str, button: bk.Button, source: Message | Ephemeral | View,
                  trigger_id: str, response_url: str | None, token: str) -> dict[str, Any]:
    """A button click, on a message, an ephemeral message or inside a modal."""
    action: dict[str, Any] = {"action_id": button.action_id, "block_id": button.block_id,
                              "text": {"type": "plain_text", "text": button.label, "emoji": True},
                              "type": "button", "action_ts": world.action_ts()}
    for key in ("value", "style", "url"):
        if getattr(button, key) is not None:
            action[key] = getattr(button, key)
    body = _common(world, user, token, "block_actions")
    body.update(trigger_id=trigger_id, actions=[action])
    if isinstance(source, View):
        body.update(container={"type": "view", "view_id": source.id}, view=_view(world, source),
                    state={"values": state_values(source)})
        return body
    container: dict[str, Any] = {"type": "message", "message_ts": source.ts, "channel_id": source.channel,
                                 "is_ephemeral": isinstance(source, Ephemeral)}
    if source.thread_ts and source.thread_ts != source.ts:
        container["thread_ts"] = source.thread_ts
    body.update(container=container, channel={"id": source.channel, "name": _channel_name(
        world.channels[source.channel])}, state={"values": {}}, response_url=response_url)
    if isinstance(source, Message):
        body["message"] = source.to_api(world.team_id, world.app_id)
    return body


def view_submission(world: World, *, user: str, view: View, trigger_id: str, token: str) -> dict[str, Any]:
    body = _common(world, user, token, "view_submission")
    body.update(trigger_id=trigger_id, view=_view(world, view), response_urls=[])
    return body


def view_closed(world: World, *, user: str, view: View, token: str, cleared: bool) -> dict[str, Any]:
    body = _common(world, user, token, "view_closed")
    body.update(view=_view(world, view), is_cleared=cleared)
    return body


def app_home_opened(world: World, *, user: str, token: str) -> dict[str, Any]:
    """The event_callback Slack sends when `user` opens the app's Home tab (with the view they see there)."""
    event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": world.open_dm(user).id,
                             "tab": "home", "event_ts": world.action_ts()}
    home = world.home(user)
    if home is not None:
        event["view"] = _view(world, home)
    return event_callback(world, event, token=token)


def event_callback(world: World, event: dict[str, Any], *, token: str) -> dict[str, Any]:
    """The Events API envelope around one event: its id and time, the team, the app, who it is for."""
    return {
        "token": token, "team_id": world.team_id, "api_app_id": world.app_id, "event": event,
        "type": "event_callback", "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(world.clock.now().timestamp()),
        "authorizations": [{"enterprise_id": None, "team_id": world.team_id, "user_id": world.bot_user_id,
                            "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False, "event_context": f"4-{secrets.token_urlsafe(24)}",
    }


def url_verification(*, token: str, challenge: str) -> dict[str, str]:
    """The challenge Slack posts to a new Events API request URL; the app answers with the challenge."""
    return {"token": token, "challenge": challenge, "type": "url_verification"}


def fill(view: View, values: Mapping[str, Entered]) -> None:
    """Type `values` (keyed by an input's block_id or action_id) into the modal, like a person would."""
    inputs = bk.input_blocks(view.blocks)
    for key, entered in values.items():
        block = next((b for b in inputs if key in (b.get("block_id"), b["element"].get("action_id"))), None)
        if block is None:
            known = [f"{b.get('block_id')}/{b['element'].get('action_id')}" for b in inputs]
            raise SlackDriverError(f"the modal has no input {key!r}; its inputs are {known}")
        element = block["element"]
        _typeable(element, entered)
        typed = view.state.setdefault(str(block["block_id"]), {})
        typed[str(element["action_id"])] = _state(element, entered)


def _typeable(element: dict[str, Any], entered: Entered) -> None:
    """Slack's client stops typing at an input's max_length, counted as JavaScript counts (UTF-16 code
    units: an emoji outside the basic plane is two)."""
    most = element.get("max_length")
    if element.get("type") == "plain_text_input" and isinstance(entered, str) and isinstance(most, int) \
            and len(entered.encode("utf-16-le")) // 2 > most:
        raise SlackDriverError(f"Slack lets a person type at most {most} characters into this input")


def state_values(view: View) -> dict[str, dict[str, Any]]:
    """state.values as Slack sends it: every input block, typed values or initial ones."""
    values: dict[str, dict[str, Any]] = {}
    for block in bk.input_blocks(view.blocks):
        element, block_id = block["element"], str(block["block_id"])
        action_id = str(element.get("action_id"))
        typed = (view.state.get(block_id) or {}).get(action_id)
        values[block_id] = {action_id: typed or _state(element, None)}
    return values


def missing_required(view: View) -> list[str]:
    """Labels of required inputs that are still empty: Slack's client refuses to submit then."""
    values = state_values(view)
    missing = []
    for block in bk.input_blocks(view.blocks):
        state = values[str(block["block_id"])][str(block["element"].get("action_id"))]
        filled = [v for k, v in state.items() if k != "type" and v not in (None, "", [])]
        if not block.get("optional") and not filled:
            missing.append(str((block.get("label") or {}).get("text") or block["block_id"]))
    return missing


def _state(element: dict[str, Any], entered: Entered | None) -> dict[str, Any]:
    kind = str(element.get("type"))
    many: list[str] | None = None
    if entered is not None:
        many = [entered] if isinstance(entered, str) else [str(v) for v in entered]
    one = many[0] if many else None
    if kind in {"static_select", "external_select", "radio_buttons"}:
        initial = element.get("initial_option")
        return {"type": kind, "selected_option": _option(element, one) if one is not None else initial}
    if kind in {"multi_static_select", "multi_external_select", "checkboxes"}:
        if many is None:
            return {"type": kind, "selected_options": element.get("initial_options", [])}
        return {"type": kind, "selected_options": [_option(element, v) for v in many]}
    pickers = {"users_select": "user", "conversations_select": "conversation", "channels_select": "channel",
               "datepicker": "date", "timepicker": "time"}
    if kind in pickers:
        name = pickers[kind]
        return {"type": kind, f"selected_{name}": one if one is not None else element.get(f"initial_{name}")}
    if kind.startswith("multi_") and kind.endswith("_select"):
        name = kind[len("multi_"):-len("_select")] + "s"
        initial = element.get(f"initial_{name}", [])
        return {"type": kind, f"selected_{name}": many if many is not None else initial}
    return {"type": kind, "value": one if one is not None else element.get("initial_value")}


def _option(element: dict[str, Any], wanted: str) -> dict[str, Any]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    for option in options:
        if wanted in (option.get("value"), (option.get("text") or {}).get("text")):
            return dict(option)
    raise SlackDriverError(f"no option {wanted!r}; the options are {[o.get('value') for o in options]}")


def _common(world: World, user: str, token: str, kind: str) -> dict[str, Any]:
    name = world.users[user].name
    return {
        "type": kind, "team": {"id": world.team_id, "domain": TEAM_DOMAIN},
        "user": {"id": user, "username": name, "name": name, "team_id": world.team_id},
        "api_app_id": world.app_id, "token": token, "is_enterprise_install": False, "enterprise": None,
    }


def _view(world: World, view: View) -> dict[str, Any]:
    out = view.to_api(team_id=world.team_id, app_id=world.app_id, bot_id=world.bot_id)
    out["state"] = {"values": state_values(view)}
    return out


def _channel_name(channel: Channel) -> str:
    if channel.is_im:
        return "directmessage"
    return "privategroup" if channel.is_private else channel.name
