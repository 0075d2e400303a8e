"""SlackFake: a Slack workspace on 127.0.0.1 for the demo and the tests.

    with SlackFake(clock=FakeClock()) as fake:
        fake.add_user("U1", "alice")
        fake.add_channel("C1", "approvals", members=["U1", fake.bot_user_id])
        client = WebClient(base_url=fake.api_url, token=fake.bot_token)

Queries return deep copies, taken under the world lock. Tokens never appear in reprs.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import TypeVar

from bot.domain.clock import Clock, FakeClock, SystemClock
from bot.domain.secret import Secret
from kukey_sandbox.slack.faults import Faults
from kukey_sandbox.slack.holds import Hold, Holds
from kukey_sandbox.slack.model import (
    Call,
    Channel,
    Envelope,
    Ephemeral,
    EventPost,
    Message,
    User,
    Usergroup,
    View,
    Visible,
)
from kukey_sandbox.slack.server import HttpServer
from kukey_sandbox.slack.socket_mode import SocketModeServer
from kukey_sandbox.slack.webapi import WebApi
from kukey_sandbox.slack.world import World
from kukey_sandbox.tls import LocalCertificate

T = TypeVar("T")


class SlackTime:
    """Slack's own clock when the test gives none: the wall clock, plus what `SlackFake.advance` added."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._lock = threading.Lock()
        self._ahead = timedelta()

    def now(self) -> datetime:
        with self._lock:
            return self._base.now() + self._ahead

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._ahead += delta


class SlackFake:
    team_id = "T0KUKEY00"
    bot_user_id = "U0KUKEYBOT"
    bot_id = "B0KUKEYBOT"
    app_id = "A0KUKEYAPP"

    def __init__(self, clock: Clock | None = None, *, tls: LocalCertificate | None = None) -> None:
        """`tls`: serve the Web API and the response URLs over HTTPS with that certificate, as Slack does
        (kukey_sandbox.tls); plain HTTP without it."""
        self.clock: Clock = clock or SlackTime()
        self._bot_token = Secret(f"xoxb-{secrets.randbelow(10**12)}-{secrets.token_hex(12)}")
        self._app_token = Secret(f"xapp-1-{self.app_id}-{secrets.randbelow(10**12)}-{secrets.token_hex(16)}")
        self._signing_secret = Secret(secrets.token_hex(16))
        self._verification_token = Secret(secrets.token_urlsafe(18))
        self.world = World(self.clock, team_id=self.team_id, bot_user_id=self.bot_user_id, bot_id=self.bot_id,
                           app_id=self.app_id)
        self.world.users[self.bot_user_id] = User(self.bot_user_id, "kukey", "kukey", is_bot=True)
        self.socket = SocketModeServer(self.world)
        api = WebApi(self.world, bot_token=self.bot_token, app_token=self.app_token,
                     socket_url=self.socket.issue_url)
        self.holds = Holds()
        self._api = api
        self.faults = Faults({"bot": self.bot_token, "app": self.app_token})
        self._http = HttpServer(self.world, api, self.faults, self.holds, tls)
        # Web API failures on demand (kukey_sandbox.slack.faults); Socket Mode ones are on `self.socket`
        f = self.faults
        self.rate_limit, self.steady_limit, self.fail, self.drop_calls, self.lose_answers = (
            f.rate_limit, f.steady_limit, f.fail, f.drop_calls, f.lose_answers)
        self.revoke_token, self.restore_token = f.revoke_token, f.restore_token
        self._started = False

    def __repr__(self) -> str:
        return f"SlackFake(base_url={self.base_url!r}, team_id={self.team_id!r})"

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> SlackFake:
        if not self._started:
            self._http.start()
            self.socket.start()
            self._started = True
        return self

    def stop(self) -> None:
        self.socket.stop()
        self._http.stop()

    def __enter__(self) -> SlackFake:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # credentials and addresses ------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def api_url(self) -> str:
        """Web API base URL for `WebClient(base_url=...)`; ends in "/api/"."""
        return self._http.base_url + "api/"

    @property
    def bot_token(self) -> str:
        return self._bot_token.reveal()

    @property
    def app_token(self) -> str:
        return self._app_token.reveal()

    @property
    def signing_secret(self) -> str:
        return self._signing_secret.reveal()

    @property
    def verification_token(self) -> str:
        """The legacy `token` field Slack puts in payloads (deprecated; apps should ignore it)."""
        return self._verification_token.reveal()

    # time and pace ------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Time passes for Slack (trigger_ids expire after 3 s, response_urls after 30 minutes)."""
        if not isinstance(self.clock, FakeClock | SlackTime):
            raise TypeError("advance() needs the fake's own clock or a FakeClock")
        self.clock.advance(timedelta(seconds=seconds))

    @contextmanager
    def hold(self, name: str, count: int = 1) -> Iterator[Hold]:
        """Stop the next `count` calls of a Web API method (or "response_url") at Slack's door until the
        block ends: see kukey_sandbox.slack.holds."""
        with self.holds.hold(name, count) as held:
            yield held

    def set_clock_skew(self, seconds: float) -> None:
        """Make Slack's clock (its answers' Date header) `seconds` ahead of the fake's; negative: behind."""
        self._http.set_clock_skew(seconds)

    @property
    def connections(self) -> int:
        """HTTP connections made to the fake's Web API and response_url endpoints so far."""
        return self._http.connections

    @property
    def idle_closed(self) -> int:
        """Kept-alive connections the fake closed after they sat idle (`set_idle_timeout`)."""
        return self._http.idle_closed

    def set_idle_timeout(self, seconds: float) -> None:
        """Close a kept-alive connection after `seconds` without a request, as Slack's load balancers do (60 s
        unless set; applies to connections made from now on)."""
        self._http.set_idle_timeout(seconds)

    def disable_home_tab(self) -> None:
        """The app is installed without its Home tab (the manifest's home_tab_enabled false): views.publish
        answers not_enabled."""
        with self.world.transaction() as w:
            w.home_tab_enabled = False

    def withhold_scope(self, scope: str) -> None:
        """Install the app without this bot scope: methods needing it answer missing_scope."""
        self._api.withheld_scopes.add(scope)

    def grant_scope(self, scope: str) -> None:
        """Install the app with one more bot scope than kukey's manifest asks for (e.g. users:read)."""
        self._api.granted_scopes.add(scope)

    # world setup --------------------------------------------------------------------------------
    def add_user(self, id: str, name: str, *, real_name: str = "", deleted: bool = False,
                 email: str | None = None) -> None:
        with self.world.transaction() as w:
            w.users[id] = User(id, name, real_name or name.title(), deleted=deleted, email=email)

    def add_channel(self, id: str, name: str, members: Iterable[str] = (), *,
                    is_private: bool = False) -> None:
        with self.world.transaction() as w:
            w.channels[id] = Channel(id, name, set(members), is_private=is_private,
                                     created=int(self.clock.now().timestamp()))

    def add_usergroup(self, id: str, handle: str, users: Iterable[str] = ()) -> None:
        with self.world.transaction() as w:
            w.usergroups[id] = Usergroup(id, handle, list(users))

    def join(self, channel: str, user: str) -> None:
        with self.world.transaction() as w:
            w.channels[channel].members.add(user)

    def leave(self, channel: str, user: str) -> None:
        with self.world.transaction() as w:
            w.channels[channel].members.discard(user)

    def archive(self, channel: str) -> None:
        with self.world.transaction() as w:
            w.channels[channel].is_archived = True

    def deactivate(self, user: str) -> None:
        """The person left the workspace: users.info says deleted, user groups drop them."""
        with self.world.transaction() as w:
            w.users[user].deleted = True

    def dm(self, user: str) -> str:
        """The id of the bot's DM with `user` (opened if needed)."""
        with self.world.transaction() as w:
            return w.open_dm(user).id

    def post_as(self, user: str, channel: str, text: str, *, thread_ts: str | None = None) -> str:
        """A person writes in a channel; returns the message ts."""
        with self.world.transaction() as w:
            return w.post(channel, user=user, text=text, blocks=[], thread_ts=thread_ts).ts

    # queries ------------------------------------------------------------------------------------
    def messages(self, channel: str) -> list[Message]:
        """Top-level messages (and broadcast replies) of a channel, oldest first."""
        with self.world.transaction() as w:
            return copy.deepcopy(w.top_level(channel))

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies in a thread (without the parent), oldest first; works without a parent too."""
        with self.world.transaction() as w:
            return copy.deepcopy(w.thread(channel, ts))

    def message(self, channel: str, ts: str) -> Message | None:
        with self.world.transaction() as w:
            return copy.deepcopy(w.message(channel, ts))

    def ephemerals(self, user: str) -> list[Ephemeral]:
        """What `user` currently sees privately, oldest first."""
        with self.world.transaction() as w:
            return copy.deepcopy(w.ephemerals_of(user))

    def modal(self, user: str) -> View | None:
        """The top of the user's view stack, or None."""
        with self.world.transaction() as w:
            return copy.deepcopy(w.modal(user))

    # Conditions for wait_for, which runs them at every change of the workspace: they look inside the world's
    # transaction and copy only what they found (the queries above copy everything they return).
    def first_ephemeral(self, user: str, where: Callable[[Ephemeral], object]) -> Ephemeral | None:
        """The oldest of what `user` sees privately for which `where` holds, or None."""
        with self.world.transaction() as w:
            return copy.deepcopy(next((e for e in w.ephemerals_of(user) if where(e)), None))

    def first_message(self, channel: str, where: Callable[[Message], object], *,
                      thread_ts: str | None = None) -> Message | None:
        """The oldest top-level message of `channel` (with `thread_ts`: reply in that thread) for which `where`
        holds, or None."""
        with self.world.transaction() as w:
            found = w.thread(channel, thread_ts) if thread_ts else w.top_level(channel)
            return copy.deepcopy(next((m for m in found if where(m)), None))

    def modal_callback_id(self, user: str) -> str | None:
        """The callback_id of the top of the user's view stack, or None."""
        with self.world.transaction() as w:
            view = w.modal(user)
            return None if view is None else view.spec.get("callback_id")

    def home(self, user: str) -> View | None:
        """What `user` sees on the app's Home tab (the last views.publish for them), or None."""
        with self.world.transaction() as w:
            return copy.deepcopy(w.home(user))

    def event_posts(self) -> list[EventPost]:
        """Events API deliveries over HTTP, oldest first (each retry is one)."""
        with self.world.transaction() as w:
            return list(w.events)

    def visible_to(self, user: str) -> Visible:
        """Messages (replies included) in the user's channels and DMs, their ephemerals, their modal."""
        with self.world.transaction() as w:
            channels = {c.id for c in w.member_channels(user)}
            messages = sorted((m for (c, _), m in w.posts.items() if c in channels and not m.deleted),
                              key=lambda m: m.ts)
            return copy.deepcopy(Visible(list(messages), w.ephemerals_of(user), w.modal(user)))

    def calls(self, method: str | None = None) -> list[Call]:
        """Web API calls received, oldest first (tokens are not recorded)."""
        with self.world.transaction() as w:
            return [c for c in w.calls if method is None or c.method == method]

    def envelopes(self) -> list[Envelope]:
        with self.world.transaction() as w:
            return copy.deepcopy(w.envelopes)

    def unacked(self) -> list[Envelope]:
        """Socket Mode envelopes the app did not ack in time."""
        return [e for e in self.envelopes() if not e.acked]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, what: str = "") -> T:
        """Poll `predicate` until it returns something truthy (woken by every change); return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                name = what or getattr(predicate, "__name__", "condition")
                raise AssertionError(f"timed out after {timeout:g} s waiting for {name}\n{self.describe()}")
            with self.world.changed:
                self.world.changed.wait(min(remaining, 0.05))

    def describe(self) -> str:
        """A short picture of the workspace, for failure messages."""
        with self.world.transaction() as w:
            lines = ["recent Web API calls: " + ", ".join(
                f"{c.method}({'ok' if c.ok else c.error})" for c in w.calls[-12:]) or "none"]
            for ch in w.channels.values():
                for m in w.top_level(ch.id)[-5:]:
                    lines.append(f"  {ch.id} {m.ts} {m.user}: {m.content[:100]!r} buttons={m.button_labels}")
            for e in w.ephemerals if len(w.ephemerals) < 20 else w.ephemerals[-20:]:
                if not e.deleted:
                    lines.append(f"  ephemeral to {e.user} in {e.channel} {e.ts}: {e.content[:100]!r}")
            for user, stack in w.stacks.items():
                if stack:
                    lines.append(f"  modal of {user}: {w.views[stack[-1]].title!r} ({len(stack)} in stack)")
            for user in w.homes:
                home = w.home(user)
                if home is not None:
                    lines.append(f"  Home tab of {user} (published {home.publications}x): "
                                 f"{home.content[:100]!r} buttons={[b.label for b in home.buttons]}")
            return "\n".join(lines)
