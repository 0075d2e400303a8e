"""SlackDriver: sends the app what Slack sends when people type commands, click buttons, submit modals and
open the app's Home tab.

HTTP mode signs every request like Slack (v0 HMAC, wall-clock timestamp, because the app checks it
against its own clock); Socket Mode sends envelopes through the fake's WebSocket server. Either way
the app's ack is applied as Slack applies it: a slash command's ack text becomes an ephemeral
message (or a channel message with response_type in_channel), a view_submission's response_action
keeps, updates, pushes or closes the modal. Events (app_home_opened) go over HTTP as signed JSON, retried
like Slack retries them (X-Slack-Retry-Num, X-Slack-Retry-Reason) up to 3 times when the app does not
answer 2xx in time, at once rather than after Slack's 1 and 5 minutes; in Socket Mode as events_api
envelopes, which the fake's server retries on another connection.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from kukey_sandbox.slack import delivery, payloads
from kukey_sandbox.slack.blocks import Button
from kukey_sandbox.slack.failures import AckTimeout, NoModal, NoSuchButton, SlackDriverError
from kukey_sandbox.slack.fake import SlackFake
from kukey_sandbox.slack.model import Channel, Ephemeral, EventPost, Message, Ref, View
from kukey_sandbox.slack.socket_mode import EVENT_RETRIES

Surface = Message | Ephemeral | View


@dataclass
class Ack:
    """The app's answer to one request, and what Slack made of it."""

    status: int
    body: str = ""
    json: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)  # inline modal errors (view_submission)
    slack_error: str | None = None  # Slack refused the ack's message (msg_too_long, invalid_blocks, ...)
    request: dict[str, Any] = field(default_factory=dict, repr=False)  # the payload that was sent
    sent_at: float | None = field(default=None, repr=False)  # time.perf_counter() as the request left for the app

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.slack_error is None

    def message(self) -> dict[str, Any]:
        """The ack as Slack reads it: its JSON, or a plain-text body as {"text": body}."""
        if self.json is not None:
            return self.json
        return {"text": self.body} if self.body.strip() else {}


class SlackDriver:
    def __init__(self, fake: SlackFake, url: str | None = None, *, socket: bool = False,
                 ack_timeout: float = 3.0) -> None:
        if (url is None) == (not socket):
            raise ValueError("give either url= (HTTP mode) or socket=True (Socket Mode)")
        self.fake, self.url, self.socket, self.ack_timeout = fake, url, socket, ack_timeout
        self._world = fake.world

    def __repr__(self) -> str:
        return f"SlackDriver(url={self.url!r}, socket={self.socket})"

    # what people do -----------------------------------------------------------------------------
    def slash(self, user: str, channel: str, text: str, command: str = "/kukey") -> Ack:
        """`user` types `command text` in `channel` (an id, "#name", or a DM id from fake.dm(user))."""
        with self._world.transaction() as w:
            self._check_user(user)
            ch = self._channel_for(user, channel)
            url = w.issue_response_url(self.fake.base_url, user, ch.id, None)
            form = payloads.slash_command(w, user=user, channel=ch, command=command, text=text,
                                          response_url=url.url, trigger_id=w.issue_trigger(user),
                                          token=self.fake.verification_token)
        ack = self._deliver("slash_commands", form)
        if ack.status == 200:
            with self._world.transaction() as w:
                ack.slack_error = delivery.command_ack(w, url, ack.message())
        return ack

    def click(self, user: str, label: str, *, channel: str | None = None, ts: str | None = None,
              ephemeral: bool | None = None, in_modal: bool | None = None, home: bool = False,
              block_id: str | None = None) -> Ack:
        """`user` clicks the most recent visible button labelled `label` (narrowed by the keywords); with
        `home`, the first such button on their Home tab (in the block `block_id`, if given)."""
        with self._world.transaction() as w:
            self._check_user(user)
            found = self._find_on_home(user, label, block_id) if home else \
                self._find(user, label, channel, ts, ephemeral, in_modal)
            button, source = found
            if isinstance(source, View):
                trigger, url = w.issue_trigger(user, source.id), None
            else:
                thread = source.thread_ts if source.thread_ts and source.thread_ts != source.ts else None
                ref = Ref(source.channel, source.ts, ephemeral=isinstance(source, Ephemeral))
                trigger = w.issue_trigger(user)
                url = w.issue_response_url(self.fake.base_url, user, source.channel, ref, thread).url
            payload = payloads.block_actions(w, user=user, button=button, source=source, trigger_id=trigger,
                                             response_url=url, token=self.fake.verification_token)
        return self._deliver("interactive", payload)

    def open_home(self, user: str) -> Ack:
        """`user` opens the app's Home tab: Slack sends app_home_opened (with the view they see there now)."""
        with self._world.transaction() as w:
            self._check_user(user)
            event = payloads.app_home_opened(w, user=user, token=self.fake.verification_token)
        return self._deliver_event(event)

    def verify_url(self, challenge: str | None = None) -> Ack:
        """Slack checks an Events API request URL when it is saved (HTTP mode): the app must answer with the
        challenge."""
        if self.url is None:
            raise SlackDriverError("verify_url needs HTTP mode")
        body = payloads.url_verification(token=self.fake.verification_token,
                                         challenge=challenge or secrets.token_urlsafe(36))
        raw = json.dumps(body).encode()
        ack = self._post(raw, self.signed_headers(raw, json_body=True))
        ack.request = body
        return ack

    def submit(self, user: str, values: Mapping[str, payloads.Entered] | None = None) -> Ack:
        """`user` fills inputs (keyed by block_id or action_id) of their open modal and presses submit."""
        with self._world.transaction() as w:
            view = self._open_modal(user)
            if not view.spec.get("submit"):
                raise SlackDriverError(f"the modal {view.title!r} has no submit button")
            payloads.fill(view, values or {})
            missing = payloads.missing_required(view)
            if missing:
                raise SlackDriverError(f"Slack would not submit {view.title!r}: {missing} are required")
            view.errors = {}
            trigger = w.issue_trigger(user, view.id)
            payload = payloads.view_submission(w, user=user, view=view, trigger_id=trigger,
                                               token=self.fake.verification_token)
        ack = self._deliver("interactive", payload)
        if ack.status == 200:
            with self._world.transaction() as w:
                ack.errors = delivery.submission_ack(w, view, ack.message())
        return ack

    def close(self, user: str) -> Ack | None:
        """`user` closes their modal (Cancel / X); sends view_closed when the view asked to be notified."""
        with self._world.transaction() as w:
            view = self._open_modal(user)
            cleared = bool(view.spec.get("clear_on_close"))
            payload = payloads.view_closed(w, user=user, view=view, token=self.fake.verification_token,
                                           cleared=cleared)
            if cleared:
                w.close_views(user)
            else:
                w.close_top(user)
        return self._deliver("interactive", payload) if view.spec.get("notify_on_close") else None

    def replay(self, ack: Ack) -> Ack:
        """Deliver the request behind `ack` again, unchanged (same trigger_id and response_url): what a
        proxy's retry or a replayed request looks like. A replayed submission's ack is applied to the
        modal as Slack would; a replayed command's ack text is not shown again."""
        if not ack.request:
            raise SlackDriverError("this ack has no request to replay")
        kind = "slash_commands" if "command" in ack.request and "type" not in ack.request else "interactive"
        again = self._deliver(kind, dict(ack.request))
        if again.status == 200 and ack.request.get("type") == "view_submission":
            with self._world.transaction() as w:
                view = w.views.get(str(ack.request["view"]["id"]))
                if view is not None and not view.closed:
                    again.errors = delivery.submission_ack(w, view, again.message())
        return again

    def send_raw(self, body: bytes, headers: Mapping[str, str]) -> Ack:
        """POST exactly these bytes and headers to the app (HTTP mode): forged and malformed traffic."""
        if self.url is None:
            raise SlackDriverError("send_raw needs HTTP mode")
        return self._post(body, dict(headers))

    def signed_headers(self, body: bytes, timestamp: int | None = None, *, json_body: bool = False) -> dict[str, str]:
        """The headers Slack puts on a request with this raw body (a form, or with `json_body` an event)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "Content-Type": "application/json" if json_body else "application/x-www-form-urlencoded",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": payloads.sign(self.fake.signing_secret, stamp, body),
        }

    # delivery -----------------------------------------------------------------------------------
    def _deliver(self, kind: str, payload: dict[str, Any]) -> Ack:
        if self.socket:
            sent_at = time.perf_counter()
            answer = self.fake.socket.send(kind, payload, timeout=self.ack_timeout)
            return Ack(200, json.dumps(answer) if answer else "", answer, request=payload, sent_at=sent_at)
        form = payload if kind == "slash_commands" else {"payload": json.dumps(payload)}
        body = urlencode(form).encode()
        ack = self._post(body, self.signed_headers(body))
        ack.request = payload
        return ack

    def _deliver_event(self, envelope: dict[str, Any]) -> Ack:
        if self.socket:
            answer = self.fake.socket.send("events_api", envelope, timeout=self.ack_timeout)
            return Ack(200, json.dumps(answer) if answer else "", answer, request=envelope)
        raw = json.dumps(envelope).encode()
        last: Ack | None = None
        reason = ""
        for retry in range(EVENT_RETRIES + 1):
            headers = self.signed_headers(raw, json_body=True)
            if retry:
                headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": reason})
            try:
                last = self._post(raw, headers)
            except AckTimeout:
                status, reason = 0, "http_timeout"
            else:
                status, reason = last.status, "http_error"
            with self._world.transaction() as w:
                w.events.append(EventPost(str(envelope["event_id"]), str(envelope["event"]["type"]), retry, status))
            if 200 <= status < 300:
                break
        if last is None:
            raise AckTimeout(f"the app answered none of {EVENT_RETRIES + 1} deliveries of the event in time")
        last.request = envelope
        return last

    def _post(self, body: bytes, headers: dict[str, str]) -> Ack:
        assert self.url is not None
        if not self.url.startswith(("http://", "https://")):
            raise SlackDriverError(f"the app URL must be http(s), got {self.url!r}")
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        sent_at = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.ack_timeout) as response:  # noqa: S310
                status, raw, kind = response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            with exc:
                status, raw, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        except TimeoutError as exc:
            raise AckTimeout(f"the app did not answer within {self.ack_timeout:g} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise AckTimeout(f"the app did not answer within {self.ack_timeout:g} s") from exc
            raise SlackDriverError(f"cannot reach the app at {self.url}: {exc.reason}") from exc
        text = raw.decode("utf-8", "replace")
        parsed = None
        if kind.startswith("application/json") and text.strip():
            loaded = json.loads(text)
            parsed = loaded if isinstance(loaded, dict) else None
        return Ack(status, text, parsed, sent_at=sent_at)

    # looking at the screen ----------------------------------------------------------------------
    def _check_user(self, user: str) -> None:
        person = self._world.users.get(user)
        if person is None or person.deleted:
            raise SlackDriverError(f"{user} is not an active member of the workspace")

    def _channel_for(self, user: str, ref: str) -> Channel:
        ch = self._world.channel(ref)
        if ch is None:
            raise SlackDriverError(f"no channel {ref!r}")
        if ch.is_archived:
            raise SlackDriverError(f"{ch.name} is archived: nobody can type there")
        if (ch.is_private or ch.is_im) and user not in ch.members:
            raise SlackDriverError(f"{user} is not in {ch.name} and cannot see it")
        return ch

    def _open_modal(self, user: str) -> View:
        view = self._world.modal(user)
        if view is None:
            raise NoModal(f"{user} has no open modal")
        return view

    def _find_on_home(self, user: str, label: str, block_id: str | None) -> tuple[Button, Surface]:
        home = self._world.home(user)
        if home is None:
            raise NoSuchButton(f"{user} has no Home tab yet (the app never published one)")
        for button in home.buttons:
            if button.label == label and block_id in (None, button.block_id):
                return button, home
        seen = [f"{b.label!r} ({b.block_id})" for b in home.buttons]
        raise NoSuchButton(f"{user} sees no button {label!r} on their Home tab; its buttons: {seen or 'none'}")

    def _find(self, user: str, label: str, channel: str | None, ts: str | None, ephemeral: bool | None,
              in_modal: bool | None) -> tuple[Button, Surface]:
        surfaces = self._surfaces(user, channel, ts, ephemeral, in_modal)
        for surface in surfaces:
            for button in surface.buttons:
                if button.label == label:
                    return button, surface
        seen = [f"{b.label!r} ({_where(s)})" for s in surfaces for b in s.buttons]
        raise NoSuchButton(f"{user} sees no button {label!r}; visible buttons: {seen or 'none'}")

    def _surfaces(self, user: str, channel: str | None, ts: str | None, ephemeral: bool | None,
                  in_modal: bool | None) -> list[Surface]:
        w = self._world
        narrowed = channel is not None or ts is not None or ephemeral is not None
        modal = w.modal(user)
        show_modal = modal is not None and (in_modal or (in_modal is None and not narrowed))
        found: list[Surface] = [modal] if modal is not None and show_modal else []
        if in_modal:
            return found
        channel_id = (w.channel(channel) or Channel(channel, channel)).id if channel else None
        member_of = {c.id for c in w.member_channels(user)}
        posts: list[Message | Ephemeral] = []
        if ephemeral is not False:
            posts += w.ephemerals_of(user)
        if ephemeral is not True:
            posts += [m for (c, _), m in w.posts.items() if c in member_of and not m.deleted]
        posts = [p for p in posts if channel_id in (None, p.channel) and ts in (None, p.ts)]
        return found + sorted(posts, key=lambda p: p.ts, reverse=True)


def _where(surface: Surface) -> str:
    if isinstance(surface, View):
        return "Home tab" if surface.is_home else f"modal {surface.title!r}"
    kind = "ephemeral" if isinstance(surface, Ephemeral) else "message"
    return f"{kind} {surface.channel} {surface.ts}"
