"""The Slack endpoint's gate, before Bolt: what Slack would never send is refused here with a 4xx.

`slack_precheck(secret)` verifies the signature (the only verification: Bolt's own is off) and the
timestamp, then the body's shape: Slack posts slash commands and interactions as forms, with fields of
known types, and Events API callbacks as JSON (`event_callback` of an event kukey subscribes to, and the
one-time `url_verification` challenge). Pure functions of the request; bot.slack.http calls them and
logs each refusal once.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import Clock as SdkClock
from slack_sdk.signature import SignatureVerifier

from bot.slack import ids

Refusal = tuple[int, str]  # HTTP status, reason (logged, and the answer's body)
# (raw body, headers by lower-case name) -> a refusal, or None to let the request through
Precheck = Callable[[bytes, Mapping[str, str]], "Refusal | None"]


def slack_precheck(signing_secret: str, *, now: Callable[[], float] = time.time) -> Precheck:
    """Refuse, before Bolt sees it, what Slack would never send: a missing or wrong signature, a timestamp
    more than 5 minutes off, a body changed after signing, JSON instead of a form, an interaction payload
    that is not JSON or lacks what every Slack interaction carries (see `payload_problem`), a command
    without user or channel. One log line per refusal (by bot.slack.http), no audit event: forged traffic
    must not flood the log."""
    verifier = SignatureVerifier(signing_secret, clock=_Clock(now))

    def check(raw: bytes, headers: Mapping[str, str]) -> Refusal | None:
        timestamp = headers.get("x-slack-request-timestamp") or ""
        signature = headers.get("x-slack-signature") or ""
        if not timestamp or not signature:
            return 401, "missing signature headers"
        if not _DIGITS.fullmatch(timestamp) or abs(now() - int(timestamp)) > 300:
            return 401, "stale or invalid timestamp"
        try:
            text = raw.decode("utf-8")  # the SDK's verifier decodes too, and raises on anything else
        except UnicodeDecodeError:
            return 400, "body is not UTF-8"
        if not signature.isascii() or not verifier.is_valid(text, timestamp, signature):
            return 401, "invalid signature"
        return body_problem(text, headers.get("content-type") or "")

    return check


def body_problem(text: str, content_type: str) -> Refusal | None:
    """What is wrong with a signed body, or None: Slack posts commands and interactions as forms, events as
    JSON."""
    if "json" in content_type.lower() or text.lstrip().startswith("{"):
        return events_problem(text, content_type)
    form = dict(parse_qsl(text, keep_blank_values=True))  # last value wins, as in Bolt
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
            json.dumps(payload, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be stored
        except (ValueError, RecursionError):
            return 400, "payload is not JSON"
        problem = payload_problem(payload)
    elif "command" in form:
        problem = command_problem(form)
    else:
        problem = "neither a command nor an interaction"
    return None if problem is None else (400, problem)


def events_problem(text: str, content_type: str) -> Refusal | None:
    """A JSON body is an Events API callback, shaped as Slack sends it (Content-Type application/json, the
    object first), or refused: 415 when it is not one of Slack's event bodies at all, 400 when it is one
    kukey does not take (an event it does not subscribe to, or fields of the wrong type)."""
    if content_type.split(";")[0].strip().lower() != "application/json" or not text.startswith("{"):
        return 415, "JSON body that is not an Events API callback"
    try:
        body = json.loads(text)
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be stored
    except (ValueError, RecursionError):
        return 400, "body is not JSON"
    kind = body.get("type") if isinstance(body, dict) else None
    if kind == "url_verification":
        challenge = body.get("challenge")
        ok = isinstance(challenge, str) and 0 < len(challenge) <= _CHALLENGE_MAX
        return None if ok else (400, "url_verification without a challenge")
    if kind != "event_callback":
        return 415, "JSON body that is not an Events API callback"
    problem = _callback_problem(body)
    return None if problem is None else (400, problem)


def _callback_problem(body: dict[str, Any]) -> str | None:
    """An event_callback of an event kukey subscribes to, with Slack's envelope fields and types."""
    if any(key in body for key in _NOT_IN_EVENTS):
        return "event with interaction fields"
    if not all(isinstance(body.get(key), str) for key in ("event_id", "team_id", "api_app_id")) \
            or not isinstance(body.get("event_time"), int):
        return "event_callback without Slack's envelope fields"
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") not in ids.ALL_EVENTS:
        return "an event kukey does not subscribe to"
    if not _SLACK_ID.fullmatch(_str(event.get("user"))):
        return "event without a valid user id"
    if any(not isinstance(event.get(f), str | None) for f in _EVENT_STRINGS):
        return "an event field of the wrong type"
    auths = body.get("authorizations", [])
    if not isinstance(auths, list) or not all(isinstance(a, dict) for a in auths):
        return "authorizations of the wrong shape"
    return None


def command_problem(form: dict[str, str]) -> str | None:
    """A slash command form: who, where and what, and no field that makes Bolt read it as something else."""
    if not all(_SLACK_ID.fullmatch(form.get(key, "")) for key in ("user_id", "channel_id")):
        return "command without a valid user or channel id"
    if "text" not in form or not form.get("trigger_id"):
        return "command without text or trigger_id"
    if any(key in form for key in _NOT_IN_COMMANDS):
        return "command with interaction fields"
    return None


def payload_problem(payload: Any) -> str | None:
    """An interaction payload kukey handles, shaped as Slack sends it (every field Bolt or kukey reads has
    Slack's type), or why not. Junk deeper inside (modal input values) is the listeners' to ignore."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return "payload has no type"
    kind = payload["type"]
    if kind not in _INTERACTIONS:
        return "unsupported interaction type"
    if any(key in payload for key in _NOT_IN_INTERACTIONS):
        return "interaction with event fields"
    user = payload.get("user")
    if not isinstance(user, dict) or not _SLACK_ID.fullmatch(_str(user.get("id"))):
        return "interaction without a valid user id"
    for key, fields in _OBJECTS.items():
        value = payload.get(key)
        if value is not None and not isinstance(value, dict):
            return f"{key} is not an object"
        if value and any(not isinstance(value.get(f), str | None) for f in fields):
            return f"{key} has a field of the wrong type"
    if any(not isinstance(payload.get(f), str | None) for f in _TOP_STRINGS):
        return "a top-level field of the wrong type"
    urls = payload.get("response_urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, dict) and isinstance(u.get("response_url"), str)
                                             for u in urls):
        return "response_urls of the wrong shape"
    if kind == "block_actions":
        return _actions_problem(payload)
    return _view_problem(payload)


def _actions_problem(payload: dict[str, Any]) -> str | None:
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(payload.get("trigger_id"), str):
        return "block_actions without actions or trigger_id"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "an action without action_id"
        if any(not isinstance(action.get(f), str | None) for f in _ACTION_STRINGS):
            return "an action field of the wrong type"
    return None


def _view_problem(payload: dict[str, Any]) -> str | None:
    view = payload.get("view")
    if not isinstance(view, dict) or view.get("type") != "modal":  # kukey opens modals only
        return "a view payload without a modal view"
    if not isinstance(view.get("callback_id"), str):
        return "a view without callback_id"
    if payload["type"] == "view_submission" and not isinstance(payload.get("trigger_id"), str):
        return "view_submission without trigger_id"
    state = view.get("state")
    if state is not None and not (isinstance(state, dict) and isinstance(state.get("values", {}), dict)):
        return "view state of the wrong shape"
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


_DIGITS = re.compile(r"[0-9]{1,12}")
_SLACK_ID = re.compile(r"[A-Z0-9][A-Z0-9_-]{1,39}")  # U0ALICE01, C0APPROVALS, T0..., W...
_INTERACTIONS = frozenset({"block_actions", "view_submission", "view_closed"})
# Events API fields: Bolt follows them into other code paths; Slack never puts them in an interaction.
_NOT_IN_INTERACTIONS = ("authorizations", "event", "item", "assistant_thread", "function_data",
                        "previous_message", "workflow_step")
# Interaction and command fields: Slack never puts them in an event callback.
_NOT_IN_EVENTS = ("payload", "command", "actions", "view", "trigger_id", "response_url", "user")
_EVENT_STRINGS = ("type", "channel", "tab", "event_ts")
_CHALLENGE_MAX = 200  # Slack's challenges are ~50 characters
_NOT_IN_COMMANDS = ("type", "payload", "authorizations", "response_urls", "event")
# objects Bolt and the listeners read, and their fields that must be strings when present
_OBJECTS = {
    "user": ("id", "username", "name", "team_id"),
    "team": ("id", "domain", "enterprise_id"),
    "enterprise": ("id", "name"),
    "channel": ("id", "name"),
    "container": ("type", "message_ts", "channel_id", "thread_ts", "view_id"),
    "message": ("ts", "thread_ts", "user", "text"),
    "view": ("id", "type", "callback_id", "private_metadata", "team_id", "app_installed_team_id", "hash"),
}
_TOP_STRINGS = ("type", "trigger_id", "response_url", "api_app_id", "token", "enterprise_id", "team_id",
                "user_id", "channel_id", "thread_ts", "function_execution_id", "bot_access_token")
_ACTION_STRINGS = ("action_id", "block_id", "value", "type", "action_ts")


class _Clock(SdkClock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()
