"""The workspace state: users, channels, messages, ephemerals, modals, Home tabs, triggers and response URLs.

Not thread-safe by itself: every entry point (HTTP handler, socket server, driver, test query) runs
inside `with world.transaction():`, which holds one re-entrant lock and wakes `wait_for` callers.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from bot.domain.clock import Clock
from kukey_sandbox.slack.model import (
    Call,
    Channel,
    Envelope,
    Ephemeral,
    EventPost,
    Message,
    Ref,
    ResponseUrl,
    Trigger,
    User,
    Usergroup,
    View,
)

TRIGGER_LIFETIME = timedelta(seconds=3)
RESPONSE_URL_LIFETIME = timedelta(minutes=30)
RESPONSE_URL_USES = 5
VIEW_STACK_LIMIT = 3


class World:
    def __init__(self, clock: Clock, *, team_id: str, bot_user_id: str, bot_id: str, app_id: str) -> None:
        self.clock = clock
        self.team_id, self.bot_user_id, self.bot_id, self.app_id = team_id, bot_user_id, bot_id, app_id
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, Usergroup] = {}
        self.posts: dict[tuple[str, str], Message] = {}  # (channel, ts) -> message, replies included
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, View] = {}
        self.stacks: dict[str, list[str]] = {}  # user -> view ids, top last
        self.homes: dict[str, str] = {}  # user -> the view id of their Home tab (views.publish)
        self.home_tab_enabled = True  # the app's manifest turns the Home tab on
        self.events: list[EventPost] = []  # Events API deliveries over HTTP, retries included
        self.triggers: dict[str, Trigger] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.calls: list[Call] = []
        self.envelopes: list[Envelope] = []
        self._counter = itertools.count(1)
        self._last_us = 0

    @contextmanager
    def transaction(self) -> Iterator[World]:
        with self.changed:
            try:
                yield self
            finally:
                self.changed.notify_all()

    # ids and timestamps -------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter):08X}"

    def next_ts(self) -> str:
        """Monotonic message timestamps from the injected clock, like "1767225600.000100"."""
        us = int(self.clock.now().timestamp() * 1_000_000)
        self._last_us = max(us, self._last_us + 100)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def action_ts(self) -> str:
        return f"{self.clock.now().timestamp():.6f}"

    # people and conversations -------------------------------------------------------------------
    def channel(self, ref: str) -> Channel | None:
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        return next((c for c in self.channels.values() if c.name == name and not c.is_im), None)

    def open_dm(self, user: str) -> Channel:
        for ch in self.channels.values():
            if ch.is_im and ch.im_user == user:
                return ch
        ch = Channel(id=self.new_id("D"), name=user, members={user, self.bot_user_id}, is_im=True,
                     im_user=user, created=int(self.clock.now().timestamp()))
        self.channels[ch.id] = ch
        return ch

    def member_channels(self, user: str) -> list[Channel]:
        return [c for c in self.channels.values() if user in c.members]

    # messages -----------------------------------------------------------------------------------
    def post(self, channel: str, *, user: str, text: str, blocks: list[dict[str, Any]],
             thread_ts: str | None = None, broadcast: bool = False) -> Message:
        parent = self.posts.get((channel, thread_ts)) if thread_ts else None
        if parent is not None and parent.thread_ts and parent.thread_ts != parent.ts:
            thread_ts = parent.thread_ts  # a reply's ts: Slack files it under the parent's thread
            parent = self.posts.get((channel, thread_ts))
        msg = Message(text=text, blocks=blocks, channel=channel, ts=self.next_ts(), user=user,
                      bot_id=self.bot_id if user == self.bot_user_id else None, thread_ts=thread_ts,
                      reply_broadcast=broadcast and thread_ts is not None)
        self.posts[(channel, msg.ts)] = msg
        if parent is not None:
            parent.thread_ts = parent.ts
            parent.replies.append(msg.ts)
        return msg

    def message(self, channel: str, ts: str) -> Message | None:
        msg = self.posts.get((channel, ts))
        return msg if msg is not None and not msg.deleted else None

    def top_level(self, channel: str) -> list[Message]:
        return sorted((m for (c, _), m in self.posts.items() if c == channel and not m.deleted
                       and (m.thread_ts in (None, m.ts) or m.reply_broadcast)), key=lambda m: m.ts)

    def thread(self, channel: str, ts: str) -> list[Message]:
        return sorted((m for (c, _), m in self.posts.items() if c == channel and not m.deleted
                       and m.thread_ts == ts and m.ts != ts), key=lambda m: m.ts)

    def post_ephemeral(self, channel: str, user: str, *, text: str, blocks: list[dict[str, Any]],
                       thread_ts: str | None = None, via: str = "api") -> Ephemeral:
        eph = Ephemeral(text=text, blocks=blocks, channel=channel, ts=self.next_ts(), user=user,
                        thread_ts=thread_ts, via=via)
        self.ephemerals.append(eph)
        return eph

    def ephemeral(self, channel: str, ts: str) -> Ephemeral | None:
        found = (e for e in self.ephemerals if e.channel == channel and e.ts == ts and not e.deleted)
        return next(found, None)

    def ephemerals_of(self, user: str) -> list[Ephemeral]:
        return [e for e in self.ephemerals if e.user == user and not e.deleted]

    def source(self, ref: Ref) -> Message | Ephemeral | None:
        if ref.ts is None:
            return None
        return self.ephemeral(ref.channel, ref.ts) if ref.ephemeral else self.message(ref.channel, ref.ts)

    # modals -------------------------------------------------------------------------------------
    def new_hash(self) -> str:
        return f"{int(self.clock.now().timestamp())}.{secrets.token_hex(4)}"

    def modal(self, user: str) -> View | None:
        stack = self.stacks.get(user) or []
        return self.views[stack[-1]] if stack else None

    def open_view(self, user: str, spec: dict[str, Any], *, push: bool) -> View:
        stack = self.stacks.setdefault(user, [])
        if not push:
            self.close_views(user)
        view_id = self.new_id("V")
        previous = stack[-1] if stack else None
        root = self.views[stack[0]].id if stack else view_id
        view = View(id=view_id, user=user, spec=spec, hash=self.new_hash(), root_view_id=root,
                    previous_view_id=previous)
        self.views[view_id] = view
        stack.append(view_id)
        return view

    def update_view(self, view: View, spec: dict[str, Any]) -> View:
        blocks = spec.get("blocks") or []
        kept = {(b.get("block_id"), (b.get("element") or {}).get("action_id")) for b in blocks}
        view.state = {bid: v for bid, v in view.state.items() if any((bid, aid) in kept for aid in v)}
        view.spec, view.hash, view.errors = spec, self.new_hash(), {}
        return view

    def home(self, user: str) -> View | None:
        view_id = self.homes.get(user)
        return self.views[view_id] if view_id else None

    def publish_home(self, user: str, spec: dict[str, Any]) -> View:
        """Set what `user` sees on the app's Home tab; the view keeps its id, its hash changes."""
        home = self.home(user)
        if home is None:
            view_id = self.new_id("V")
            home = View(id=view_id, user=user, spec=spec, hash=self.new_hash(), root_view_id=view_id)
            self.views[view_id] = home
            self.homes[user] = view_id
            return home
        home.spec, home.hash, home.state, home.errors = spec, self.new_hash(), {}, {}
        home.publications += 1
        return home

    def close_top(self, user: str) -> View | None:
        stack = self.stacks.get(user) or []
        if not stack:
            return None
        view = self.views[stack.pop()]
        view.closed = True
        return view

    def close_views(self, user: str) -> None:
        while self.close_top(user) is not None:
            pass

    # triggers and response URLs -----------------------------------------------------------------
    def issue_trigger(self, user: str, view_id: str | None = None) -> str:
        trigger_id = f"{next(self._counter)}.{int(self.clock.now().timestamp())}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = Trigger(trigger_id, user, self.clock.now(), view_id=view_id)
        return trigger_id

    def exchange_trigger(self, trigger_id: str) -> Trigger | str:
        """The trigger, now used; or Slack's error (invalid_, exchanged_ or expired_trigger_id)."""
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            return "invalid_trigger_id"
        if trigger.used:
            return "exchanged_trigger_id"
        if self.clock.now() - trigger.issued_at > TRIGGER_LIFETIME:
            return "expired_trigger_id"
        trigger.used = True
        return trigger

    def issue_response_url(self, base: str, user: str, channel: str, source: Ref | None,
                           thread_ts: str | None = None) -> ResponseUrl:
        """A response_url shaped like Slack's: {base}commands|actions/<team>/<id>/<secret>."""
        kind = "commands" if source is None else "actions"
        rid = str(next(self._counter) + 100_000_000)
        key = f"{self.team_id}/{rid}/{secrets.token_urlsafe(18)}"
        url = ResponseUrl(rid, f"{base}{kind}/{key}", user, channel, self.clock.now(), source, thread_ts)
        self.response_urls[key] = url
        return url

    def response_url(self, path: str) -> ResponseUrl | str:
        """The response URL for a request path, counted as one use; or a Slack error with its HTTP status."""
        key = "/".join(path.strip("/").split("/")[-3:])
        found = self.response_urls.get(key)
        if found is None:
            return "no_service"
        if self.clock.now() - found.issued_at > RESPONSE_URL_LIFETIME:
            return "expired_url"
        if found.uses >= RESPONSE_URL_USES:
            return "used_url"
        found.uses += 1
        return found
