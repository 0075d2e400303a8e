"""app_manifest.yml against the code: the slash command and the subscribed events match, and the bot scopes
are exactly the ones the Web API methods kukey calls and the events it subscribes to need (nothing
missing, nothing extra)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.slack import ids

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "app_manifest.yml"
# The code that talks to the Slack Web API with the bot token.
SOURCES = [*sorted((ROOT / "bot" / "slack").rglob("*.py")), *sorted((ROOT / "bot" / "preflight").glob("*.py"))]

# Every Web API method kukey calls (or may call), and the bot scope it needs (None: no scope).
METHOD_SCOPES: dict[str, str | tuple[str, ...] | None] = {
    "auth.test": None,
    "conversations.info": ("channels:read", "groups:read"),  # the preflight: public and private channels
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.getPermalink": None,
    "views.open": None,
    "views.update": None,
    "views.publish": None,  # the Home tab
    "conversations.open": "im:write",
    # the outbox looks for a post whose answer was lost (its metadata names the outbox item) before
    # posting it again: in the approvals, incident and audit channels, public or private, and in the
    # bot's DMs (an approver's DM, a reminder)
    "conversations.history": ("channels:history", "groups:history", "im:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    "usergroups.users.list": "usergroups:read",
}
# Every Events API event kukey may subscribe to, and the bot scope it needs (None: no scope).
EVENT_SCOPES: dict[str, str | None] = {"app_home_opened": None}
# Called outside the scanned forms: Bolt's App() checks its token with auth.test at startup (the
# preflight, bot/preflight, calls its methods through its own `api_call`, which the scanner reads).
CALLED_BY_BOLT = {"auth.test"}
# `apps.connections.open` (Socket Mode) uses the app-level token, which carries connections:write.
APP_TOKEN_METHODS = {"apps.connections.open"}
SLASH_COMMAND_SCOPE = "commands"

_CALL_PATTERNS = (
    re.compile(r"client\.(?!api_call\b)([a-z]+(?:_[a-zA-Z]+)+)\("),  # client.views_open(), self._client.x_y(
    re.compile(r"""\b_(?:call|safe)\(\s*["']([a-z]+(?:_[a-zA-Z]+)+)["']"""),  # self._call("chat_update", ...)
    re.compile(r"""api_call\(\s*["']([a-z]+(?:[._][a-zA-Z]+)+)["']"""),   # client.api_call("users.info")
)


def load_manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def web_api_method(python_name: str) -> str:
    """slack_sdk's method name to the Web API's: chat_postMessage -> chat.postMessage."""
    return python_name.replace("_", ".")


def methods_called(text: str) -> set[str]:
    """Web API methods a piece of source code calls through a WebClient."""
    return {web_api_method(m) for pattern in _CALL_PATTERNS for m in pattern.findall(text)}


def methods_in_code() -> dict[str, list[str]]:
    """Each Web API method called in SOURCES, with the files that call it."""
    found: dict[str, list[str]] = {}
    for path in SOURCES:
        if path.is_file():
            for method in methods_called(path.read_text(encoding="utf-8")):
                found.setdefault(method, []).append(str(path.relative_to(ROOT)))
    return found


def declared_scopes() -> set[str]:
    return set(load_manifest()["oauth_config"]["scopes"]["bot"])


def subscribed_events() -> list[str]:
    return list(load_manifest()["settings"].get("event_subscriptions", {}).get("bot_events", []))


def test_subscribed_events_are_the_ones_kukey_listens_to() -> None:
    """The manifest subscribes to exactly the events the listeners take (ids.ALL_EVENTS, which the HTTP gate
    also lets through), each with a known scope; the Home tab the app_home_opened listener publishes is on."""
    manifest = load_manifest()
    assert subscribed_events() == list(ids.ALL_EVENTS)
    assert set(subscribed_events()) <= set(EVENT_SCOPES)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is (ids.HOME_OPENED in ids.ALL_EVENTS)


def test_scanner_finds_calls_in_every_form() -> None:
    """The source scanner recognizes direct client calls, the notifier's _call/_safe, and api_call."""
    code = ('client.views_open(trigger_id=t)\nself._client.usergroups_users_list(usergroup=g)\n'
            'self._call("chat_postMessage", channel=c)\nself._safe( "chat_update", ts=ts)\n'
            'client.api_call("users.info", params={})\nclient.close()\nself._call(method, **kw)\n')
    assert methods_called(code) == {"views.open", "usergroups.users.list", "chat.postMessage", "chat.update",
                                    "users.info"}


def test_scanner_sees_the_methods_kukey_is_known_to_call() -> None:
    """Scanning bot/slack finds at least the calls the notifier, directory and listeners are known to make."""
    assert {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.getPermalink", "views.open",
            "conversations.open", "usergroups.users.list"} <= set(methods_in_code())


def test_every_called_method_is_in_the_scope_table() -> None:
    """A Web API method new to the code must be added to METHOD_SCOPES with the scope it needs."""
    unknown = {m: files for m, files in methods_in_code().items()
               if m not in METHOD_SCOPES and m not in APP_TOKEN_METHODS}
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES: {unknown}"


def test_every_method_in_the_scope_table_is_called() -> None:
    """METHOD_SCOPES names only methods kukey calls (in the scanned code, or through Bolt): a method the code
    stopped calling leaves the table, so the table never vouches for a scope nothing needs."""
    stale = set(METHOD_SCOPES) - set(methods_in_code()) - CALLED_BY_BOLT
    assert not stale, f"no code calls these methods; remove them from METHOD_SCOPES: {stale}"


def test_declared_scopes_are_exactly_the_needed_ones() -> None:
    """Every called method's scope is declared, and no declared scope goes unused (least privilege)."""
    called = set(methods_in_code()) | CALLED_BY_BOLT
    scopes = [METHOD_SCOPES.get(m) for m in called]
    needed = {s for found in scopes for s in ((found,) if isinstance(found, str) else found or ())}
    needed |= {SLASH_COMMAND_SCOPE} | {s for e in subscribed_events() if (s := EVENT_SCOPES[e]) is not None}
    declared = declared_scopes()
    assert needed - declared == set(), f"scopes the code needs but the manifest lacks: {needed - declared}"
    assert declared - needed == set(), f"scopes the manifest asks for but no call needs: {declared - needed}"



def test_the_slack_fake_grants_exactly_the_manifests_bot_scopes() -> None:
    """The Slack fake's installed app holds the bot scopes an install from app_manifest.yml would grant,
    no more: a call the manifest does not cover answers missing_scope in the tests, as it would at Slack."""
    from kukey_sandbox.slack.webapi import GRANTED_SCOPES

    assert declared_scopes() == GRANTED_SCOPES

def test_slash_command_matches_the_code() -> None:
    """The manifest declares exactly one slash command, the one the listeners answer, with help for users."""
    commands = load_manifest()["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [ids.COMMAND]
    assert commands[0]["description"].strip()
    assert commands[0]["usage_hint"].strip()
    assert len(commands[0]["usage_hint"]) <= 1000


def test_manifest_turns_on_what_kukey_needs() -> None:
    """A bot user, interactivity for buttons and modals, and Socket Mode (no public endpoint) are on."""
    manifest = load_manifest()
    assert manifest["display_information"]["name"] == "kukey"
    assert len(manifest["display_information"]["description"]) <= 140
    assert manifest["features"]["bot_user"]["display_name"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "user" not in manifest["oauth_config"]["scopes"], "kukey needs no user-token scopes"
    assert not APP_TOKEN_METHODS & set(METHOD_SCOPES), "app-token methods need no bot scope"


HTTP_MANIFEST = ROOT / "app_manifest.http.yml"
EVENTS_PATH = "/slack/events"


def _without_http_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with what only HTTP mode has removed and Socket Mode's switch blanked."""
    import copy

    out = copy.deepcopy(manifest)
    for command in out["features"]["slash_commands"]:
        command.pop("url", None)
    out["settings"]["interactivity"].pop("request_url", None)
    out["settings"].get("event_subscriptions", {}).pop("request_url", None)
    out["settings"]["socket_mode_enabled"] = None
    return out


def test_http_manifest_differs_only_where_http_mode_needs_it() -> None:
    """app_manifest.http.yml is app_manifest.yml with Socket Mode off and a request URL on the slash command,
    interactivity (and events, when there are any), all pointing at kukey's /slack/events over HTTPS."""
    socket = load_manifest()
    http = yaml.safe_load(HTTP_MANIFEST.read_text(encoding="utf-8"))
    assert http["settings"]["socket_mode_enabled"] is False
    urls = [c["url"] for c in http["features"]["slash_commands"]]
    urls.append(http["settings"]["interactivity"]["request_url"])
    if "event_subscriptions" in http["settings"]:
        urls.append(http["settings"]["event_subscriptions"]["request_url"])
    assert all(u.startswith("https://") and u.endswith(EVENTS_PATH) for u in urls), urls
    assert len(set(urls)) == 1
    assert _without_http_fields(http) == _without_http_fields(socket)
