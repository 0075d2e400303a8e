"""The Web API methods the fake answers, with Slack's response shapes and error codes.

`WebApi.call(method, params, token)` authenticates, dispatches, and records the call. Tokens:
missing -> not_authed, unknown -> invalid_auth, xapp on a bot method (or xoxb on
apps.connections.open) -> not_allowed_token_type. The bot scopes of kukey's manifest are granted
(GRANTED_SCOPES, named in each answer's X-OAuth-Scopes header) unless a test withholds one
(`withheld_scopes`): conversations.info, conversations.history, conversations.replies and
usergroups.users.list then answer missing_scope; users.info does unless a test grants users:read, which
the manifest does not ask for (`granted_scopes`). Message
metadata is kept and shown by the history methods when asked for (`include_all_metadata`):
kukey_sandbox.slack.history.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kukey_sandbox.slack import blocks as bk
from kukey_sandbox.slack import history
from kukey_sandbox.slack.model import Call, Channel, View
from kukey_sandbox.slack.refusal import Answer, Refusal
from kukey_sandbox.slack.world import VIEW_STACK_LIMIT, World

WORKSPACE_URL = "https://kukey-sandbox.slack.com/"
# The bot scopes the fake's app is installed with (unless a test withholds one); like Slack, every answer to
# a bot token names them in its X-OAuth-Scopes header.
# What an install from kukey's app_manifest.yml grants (tests/test_manifest.py keeps them equal).
GRANTED_SCOPES = frozenset({"channels:history", "channels:read", "chat:write", "commands", "groups:history",
                            "groups:read", "im:history", "im:write", "usergroups:read"})


class WebApi:
    def __init__(self, world: World, *, bot_token: str, app_token: str,
                 socket_url: Callable[[], str]) -> None:
        self._world = world
        self._bot_token, self._app_token = bot_token, app_token
        self._socket_url = socket_url
        self.withheld_scopes: set[str] = set()
        self.granted_scopes: set[str] = set(GRANTED_SCOPES)
        self._methods: dict[str, Callable[[dict[str, Any]], Answer]] = {
            name: getattr(self, name.replace(".", "_")) for name in (
                "auth.test", "chat.postMessage", "chat.update", "chat.delete", "chat.postEphemeral",
                "chat.getPermalink", "views.open", "views.update", "views.push", "views.publish", "conversations.open",
                "conversations.info", "users.info", "usergroups.users.list", "apps.connections.open",
            )
        }
        self._methods["conversations.history"] = lambda p: history.history(world, self._readable(p), p)
        self._methods["conversations.replies"] = lambda p: history.replies(world, self._readable(p), p)

    def call(self, method: str, params: dict[str, Any], token: str | None) -> Answer:
        """Answer one call (inside a world transaction) and record it without its token. The answer is a copy of
        the world as it stood: its HTTP reply is written after the transaction, and Slack's answer does not show
        what changed since (a modal's input typed meanwhile, say)."""
        params = {k: v for k, v in params.items() if k != "token"}
        try:
            handler = self._methods.get(method)
            if handler is None:
                raise Refusal("unknown_method")
            self._authorize(method, token)
            answer = handler(params)
        except Refusal as refusal:
            answer = refusal.answer()
        answer = copy.deepcopy(answer)
        self._world.calls.append(Call(method, copy.deepcopy(params), answer))
        return answer

    def scope_headers(self, token: str | None) -> dict[str, str]:
        """The headers Slack adds to an answer: the bot token's scopes (the app token's are not modelled)."""
        if token != self._bot_token:
            return {}
        return {"X-OAuth-Scopes": ",".join(sorted(self.granted_scopes - self.withheld_scopes))}

    def _authorize(self, method: str, token: str | None) -> None:
        if not token:
            raise Refusal("not_authed")
        if token not in (self._bot_token, self._app_token):
            raise Refusal("invalid_auth")
        if (method == "apps.connections.open") != (token == self._app_token):
            raise Refusal("not_allowed_token_type")

    # --- auth and Socket Mode -------------------------------------------------------------------
    def auth_test(self, p: dict[str, Any]) -> Answer:
        w = self._world
        return {"ok": True, "url": WORKSPACE_URL, "team": "kukey sandbox", "user": "kukey",
                "team_id": w.team_id, "user_id": w.bot_user_id, "bot_id": w.bot_id,
                "is_enterprise_install": False}

    def apps_connections_open(self, p: dict[str, Any]) -> Answer:
        return {"ok": True, "url": self._socket_url()}

    # --- chat -----------------------------------------------------------------------------------
    def chat_postMessage(self, p: dict[str, Any]) -> Answer:
        w = self._world
        ch = self._postable(p, allow_user=True)
        text, blocks = self._content(p)
        metadata = history.metadata(p.get("metadata"))
        msg = w.post(ch.id, user=w.bot_user_id, text=text, blocks=blocks,
                     thread_ts=p.get("thread_ts") or None, broadcast=bk.as_flag(p.get("reply_broadcast")))
        msg.metadata = metadata
        return {"ok": True, "channel": ch.id, "ts": msg.ts, "message": msg.to_api(w.team_id, w.app_id)}

    def chat_postEphemeral(self, p: dict[str, Any]) -> Answer:
        ch = self._postable(p, allow_user=False)
        if p.get("user") not in ch.members:
            raise Refusal("user_not_in_channel")
        text, blocks = self._content(p)
        eph = self._world.post_ephemeral(ch.id, str(p["user"]), text=text, blocks=blocks,
                                         thread_ts=p.get("thread_ts") or None)
        return {"ok": True, "message_ts": eph.ts}

    def chat_update(self, p: dict[str, Any]) -> Answer:
        w = self._world
        ch, msg = self._own_message(p, "cant_update_message")
        text = str(p["text"]) if "text" in p else msg.text
        blocks = bk.as_blocks(p["blocks"]) if "blocks" in p else msg.blocks
        problem = bk.message_error(text, blocks)
        if problem is not None:
            raise Refusal(*problem)
        msg.text, msg.blocks, msg.edits = text, bk.fill_ids(blocks, lambda: w.new_id("b")), msg.edits + 1
        return {"ok": True, "channel": ch.id, "ts": msg.ts, "text": msg.text,
                "message": msg.to_api(w.team_id, w.app_id)}

    def chat_delete(self, p: dict[str, Any]) -> Answer:
        ch, msg = self._own_message(p, "cant_delete_message")
        msg.deleted = True
        return {"ok": True, "channel": ch.id, "ts": msg.ts}

    def chat_getPermalink(self, p: dict[str, Any]) -> Answer:
        ch = self._channel(p.get("channel"))
        msg = self._world.message(ch.id, str(p.get("message_ts")))
        if msg is None:
            raise Refusal("message_not_found")
        link = f"{WORKSPACE_URL}archives/{ch.id}/p{msg.ts.replace('.', '')}"
        if msg.thread_ts and msg.thread_ts != msg.ts:
            link += f"?thread_ts={msg.thread_ts}&cid={ch.id}"
        return {"ok": True, "channel": ch.id, "permalink": link}

    # --- views ----------------------------------------------------------------------------------
    def views_open(self, p: dict[str, Any]) -> Answer:
        spec = self._view_spec(p)
        trigger = self._world.exchange_trigger(str(p.get("trigger_id") or ""))
        if isinstance(trigger, str):
            raise Refusal(trigger)
        return self._view_answer(self._world.open_view(trigger.user, spec, push=False))

    def views_push(self, p: dict[str, Any]) -> Answer:
        w = self._world
        spec = self._view_spec(p)
        trigger = w.exchange_trigger(str(p.get("trigger_id") or ""))
        if isinstance(trigger, str):
            raise Refusal(trigger)
        if w.modal(trigger.user) is None:
            raise Refusal("not_found", ["[ERROR] no open modal to push onto"])
        if len(w.stacks[trigger.user]) >= VIEW_STACK_LIMIT:
            raise Refusal("push_limit_reached")
        return self._view_answer(w.open_view(trigger.user, spec, push=True))

    def views_update(self, p: dict[str, Any]) -> Answer:
        w = self._world
        spec = self._view_spec(p)
        external = p.get("external_id")
        view = w.views.get(str(p.get("view_id"))) if p.get("view_id") else next(
            (v for v in w.views.values() if external and v.spec.get("external_id") == external), None)
        if view is None or view.closed:
            raise Refusal("not_found")
        if p.get("hash") and p["hash"] != view.hash:
            raise Refusal("hash_conflict")
        return self._view_answer(w.update_view(view, spec))

    def views_publish(self, p: dict[str, Any]) -> Answer:
        """The Home tab of `user_id`: no trigger needed, any active member; the same limits as a modal's
        blocks (100), no submit or close; `hash` guards against a publication in between."""
        w = self._world
        user = w.users.get(str(p.get("user_id") or ""))
        if user is None or user.deleted or user.is_bot:
            raise Refusal("invalid_arguments", ["invalid `user_id`"])
        if not w.home_tab_enabled:
            raise Refusal("not_enabled")
        spec = self._view_spec(p, kind="home")
        home = w.home(user.id)
        if p.get("hash") and (home is None or p["hash"] != home.hash):
            raise Refusal("hash_conflict")
        return self._view_answer(w.publish_home(user.id, spec))

    # --- conversations, users, groups -----------------------------------------------------------
    def conversations_open(self, p: dict[str, Any]) -> Answer:
        w = self._world
        if p.get("channel"):
            ch = w.channels.get(str(p["channel"]))
            if ch is None or not ch.is_im:
                raise Refusal("channel_not_found")
        else:
            users = [u for u in str(p.get("users") or "").split(",") if u]
            if not users:
                raise Refusal("users_list_not_supplied")
            if len(users) > 1:
                raise Refusal("invalid_arguments", ["[ERROR] the Slack fake opens 1:1 DMs only"])
            user = w.users.get(users[0])
            if user is None:
                raise Refusal("user_not_found")
            if user.deleted:
                raise Refusal("user_disabled")
            ch = w.open_dm(user.id)
        full = bk.as_flag(p.get("return_im"))
        return {"ok": True, "channel": ch.to_api(w.bot_user_id) if full else {"id": ch.id}}

    def conversations_info(self, p: dict[str, Any]) -> Answer:
        ch = self._channel(p.get("channel"))
        if ch.is_private and self._world.bot_user_id not in ch.members:
            raise Refusal("channel_not_found")  # a bot sees a private channel only once invited into it
        self._need_scope("groups:read" if ch.is_private else "channels:read")
        return {"ok": True, "channel": ch.to_api(self._world.bot_user_id)}

    def users_info(self, p: dict[str, Any]) -> Answer:
        self._need_scope("users:read")
        user = self._world.users.get(str(p.get("user")))
        if user is None:
            raise Refusal("user_not_found")
        return {"ok": True, "user": user.to_api(self._world.team_id)}

    def usergroups_users_list(self, p: dict[str, Any]) -> Answer:
        self._need_scope("usergroups:read")
        w = self._world
        group = w.usergroups.get(str(p.get("usergroup")))
        if group is None:
            raise Refusal("no_such_subteam")
        # Slack drops deactivated people from user groups.
        return {"ok": True, "users": [u for u in group.users if u in w.users and not w.users[u].deleted]}

    # --- helpers --------------------------------------------------------------------------------
    def _readable(self, p: dict[str, Any]) -> Channel:
        """A conversation the bot may read: it is a member, and holds the history scope of its kind."""
        ch = self._channel(p.get("channel"))
        if self._world.bot_user_id not in ch.members:
            raise Refusal("not_in_channel")
        self._need_scope("im:history" if ch.is_im else "groups:history" if ch.is_private else "channels:history")
        return ch

    def _need_scope(self, scope: str) -> None:
        if scope in self.withheld_scopes or scope not in self.granted_scopes:
            raise Refusal("missing_scope", needed=scope)
    def _channel(self, ref: Any) -> Channel:
        ch = self._world.channel(str(ref or ""))
        if ch is None:
            raise Refusal("channel_not_found")
        return ch

    def _postable(self, p: dict[str, Any], *, allow_user: bool) -> Channel:
        w = self._world
        ref = str(p.get("channel") or "")
        if allow_user and ref in w.users:  # channel=<user id> posts in the bot's DM with them
            return w.open_dm(ref)
        ch = self._channel(ref)
        if ch.is_archived:
            raise Refusal("is_archived")
        if (ch.is_private or ch.is_im) and w.bot_user_id not in ch.members:
            raise Refusal("not_in_channel")
        return ch

    def _content(self, p: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        text, blocks = str(p.get("text") or ""), bk.as_blocks(p.get("blocks"))
        problem = bk.message_error(text, blocks)
        if problem is not None:
            raise Refusal(*problem)
        return text, bk.fill_ids(blocks, lambda: self._world.new_id("b"))

    def _own_message(self, p: dict[str, Any], not_own: str) -> tuple[Channel, Any]:
        ch = self._channel(p.get("channel"))
        msg = self._world.message(ch.id, str(p.get("ts")))
        if msg is None:  # ephemeral messages are not addressable by ts: Slack answers the same
            raise Refusal("message_not_found")
        if msg.user != self._world.bot_user_id:
            raise Refusal(not_own)
        return ch, msg

    def _view_spec(self, p: dict[str, Any], kind: str = "modal") -> dict[str, Any]:
        spec = bk.as_view(p.get("view"))
        found = bk.view_problems(spec, kind)
        if found or not isinstance(spec, dict):
            raise Refusal("invalid_arguments", found)
        external = spec.get("external_id")
        if external and any(v.spec.get("external_id") == external and not v.closed
                            and v.id != p.get("view_id") for v in self._world.views.values()):
            raise Refusal("duplicate_external_id")
        bk.fill_ids(spec["blocks"], lambda: self._world.new_id("b"))
        return spec

    def _view_answer(self, view: View) -> Answer:
        w = self._world
        return {"ok": True, "view": view.to_api(team_id=w.team_id, app_id=w.app_id, bot_id=w.bot_id)}

