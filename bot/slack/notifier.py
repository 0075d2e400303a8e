"""Slack side of the `Notifier` port: plans the messages of an event (rendered now, from the snapshot the
service took in its transaction) for the outbox, and says at once the few things that cannot wait for it:
a private reply after an ack, a response_url answer, a secret (never planned, never stored).

Streams (messages of one stream are delivered in order, one at a time): everything about a request (its
post, its parent's updates, its thread notes, the requester's notes) is one stream, in the order people
should read it: a note never comes before its post, and once the requester is told, the thread says it
too. Announcements have a stream per channel; what goes to one person about no request (admins' notes,
key reminders, the weekly digest) one per person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError as SdkError

from bot.domain.outbox import ABOUT_A_GIVE_UP, LINKS_THREAD, SETS_THREAD, Op
from bot.domain.policy import Policy
from bot.domain.reminders import KeyReminder
from bot.domain.requests import Kind
from bot.domain.secret import Secret
from bot.errors import SlackApiError
from bot.services.digest import Digest
from bot.services.ports import Delivery, Planned, RequestView
from bot.slack import blocks, messages, notices, reminders
from bot.slack import kill_switch_messages as kill_text
from bot.slack.notices import LINK
from bot.tls import http_client

log = logging.getLogger("kukey.slack")

# Events after which the parent message is re-rendered (and so loses its buttons once resolved).
_UPDATES_PARENT = {"approval_added", "approved", "denied", "expired", "cancelled", "lapsed", "revealed",
                   "reveal_failed", "old_key_deleted", "revoked", "updated", "update_failed"}
# Kinds whose approval leads to a Reveal (an offer to the requester); the others run on approval.
_REVEALED = {"create", "rotate"}


def channel_stream(channel: str) -> str:
    return f"channel:{channel}"


def user_stream(user: str) -> str:
    """One person's direct messages that are about no request (reminders, digests, admins' notes)."""
    return f"user:{user}"


class SlackNotifier:
    def __init__(self, client: WebClient, policy: Callable[[], Policy], *, http: httpx.Client | None = None) -> None:
        self._client = client
        self._policy = policy
        self._http = http or http_client(timeout=10.0)

    def plan(self, name: str, req: RequestView, **fields: Any) -> list[Planned]:
        if req.kind == Kind.KILL_SWITCH:
            return self._kill_switch(name, req, fields)
        if name in notices.EVENTS:
            return notices.plan(name, req, fields)
        if name == "submitted":
            return [Planned(Op.POST, {"channel": self._policy().approvals_channel, SETS_THREAD: True,
                                      "text": _plain(messages.title(req)), "blocks": blocks.request_message(req)},
                            req.id),
                    Planned(Op.PRIVATE, {"user": req.requester, "channel": req.origin_channel, LINKS_THREAD: True,
                                         "text": messages.submitted(req, LINK)}, req.id)]
        planned = []
        if name == "approved" and req.kind in _REVEALED:
            # first: the requester waits for this offer; the channel's record (which it does not need) follows
            planned.append(Planned(Op.PRIVATE, {"user": req.requester, "channel": req.origin_channel,
                                                "text": messages.approved_offer(req, fields.get("user")),
                                                "blocks": blocks.reveal_offer(req, fields.get("user"))}, req.id))
        planned += self._thread(name, req, fields)
        if name in notices.RESOLVING and not req.incident:
            planned.append(notices.resolved(req, messages.event_thread(name, req, fields) or name))
        note = messages.event_requester(name, req, fields)
        if note and fields.get("user") != req.requester:
            planned.append(Planned(Op.PRIVATE, {"user": req.requester, "channel": req.origin_channel,
                                                "text": note}, req.id))
        if name == "revoked":
            policy = self._policy()
            planned += self.plan_announce([*policy.incident_channels, policy.approvals_channel],
                                          messages.revoke_text(req, fields))
        return planned

    def _thread(self, name: str, req: RequestView, fields: dict[str, Any]) -> list[Planned]:
        """The parent rendered again, then the thread note: once a note is there, its parent is current."""
        if req.incident:  # an incident revoke has no post of its own: it is announced
            return []
        planned = []
        if name in _UPDATES_PARENT:
            planned.append(Planned(Op.UPDATE, {"text": _plain(messages.title(req)),
                                               "blocks": blocks.request_message(req)}, req.id))
        note = messages.event_thread(name, req, fields)
        if note:
            planned.append(Planned(Op.REPLY, {"text": note}, req.id))
        return planned

    def _kill_switch(self, name: str, req: RequestView, fields: dict[str, Any]) -> list[Planned]:
        """Its post in the incident channel is the progress message (edited as it goes); the report follows
        in its thread, and the other incident channels and the approvals channel hear the outcome."""
        text = kill_text.progress(req, fields["progress"])
        if name == "kill_started":
            return [Planned(Op.POST, {"channel": req.origin_channel, SETS_THREAD: True, "text": text}, req.id)]
        planned = [Planned(Op.UPDATE, {"text": text}, req.id)]
        if name == "kill_finished":
            notes = kill_text.report(fields["keys"]) + kill_text.out_of_reach(fields["out_of_reach"])
            planned += [Planned(Op.REPLY, {"text": note}, req.id) for note in notes]
            policy = self._policy()
            others = [c for c in (*policy.incident_channels, policy.approvals_channel) if c != req.origin_channel]
            planned += self.plan_announce(others, kill_text.announcement(req, fields["progress"]))
        return planned

    def plan_announce(self, channels: list[str], text: str) -> list[Planned]:
        return [Planned(Op.POST, {"channel": channel, "text": text[:3900]}, channel_stream(channel))
                for channel in dict.fromkeys(channels)]

    def plan_given_up(self, admins: frozenset[str], *, op: str, error: str, request_id: str | None,
                      cancelled: bool) -> list[Planned]:
        text = messages.given_up(op, error, request_id, cancelled=cancelled)
        return [Planned(Op.PRIVATE, {"user": admin, "text": text, ABOUT_A_GIVE_UP: True}, user_stream(admin))
                for admin in sorted(admins)]

    def plan_reminder(self, reminder: KeyReminder) -> list[Planned]:
        return [Planned(Op.PRIVATE, {"user": reminder.owner, "text": reminders.reminder_text(reminder),
                                     "blocks": reminders.reminder_blocks(reminder)}, user_stream(reminder.owner))]

    def plan_digest(self, admins: frozenset[str], digest: Digest) -> list[Planned]:
        text, content = reminders.digest_text(digest), reminders.digest_blocks(digest)
        return [Planned(Op.PRIVATE, {"user": admin, "text": text, "blocks": content}, user_stream(admin))
                for admin in sorted(admins)]

    def tell(self, user: str, text: str, *, channel: str | None = None) -> None:
        self.offer(user, blocks.note(text), text=text, channel=channel)

    def offer(self, user: str, content: list[dict[str, Any]], *, text: str, channel: str | None) -> None:
        """Ephemeral in `channel` when Slack allows it, else a direct message (never carries a secret);
        SlackApiError when neither is possible. For replies after an ack: what reports a change goes
        through the outbox instead."""
        if channel and not channel.startswith("D"):
            try:
                self._call("chat_postEphemeral", channel=channel, user=user, text=text[:3900], blocks=content)
                return
            except SlackApiError as exc:
                log.info("ephemeral not possible, using a direct message", extra={"error": exc.error})
        dm = self._call("conversations_open", users=user)
        self._call("chat_postMessage", channel=dm["channel"]["id"], text=text[:3900], blocks=content)

    def deliver_secret(self, delivery: Delivery, req: RequestView, key: Mapping[str, Any],
                       secret: Secret, passphrase: Secret) -> None:
        """POST the secret to the click's response_url, ephemeral. Sent with httpx, which logs no bodies."""
        text = messages.secret_text(req, str(key["api_key"]), secret.reveal(), passphrase.reveal(),
                                    [str(p) for p in key.get("permissions", [])])
        payload = {"response_type": "ephemeral", "replace_original": False, "text": text,
                   "blocks": blocks.secret_message(text, req.id)}
        try:
            resp = self._http.post(delivery.response_url, json=payload)
        except httpx.HTTPError as exc:
            raise SlackApiError("could not reach Slack to show the key", method="response_url",
                                error=type(exc).__name__) from None
        if resp.status_code != 200:
            raise SlackApiError("Slack refused to show the key", method="response_url",
                                error=f"http_{resp.status_code}")

    def spend_offer(self, delivery: Delivery, request_id: str) -> None:
        """The offer with the Reveal button is spent: replace it, so no stale button stays on screen."""
        self.respond(delivery.response_url, {"replace_original": True, "text": messages.revealed_offer(request_id)})

    def respond(self, response_url: str, payload: dict[str, Any]) -> bool:
        try:
            return self._http.post(response_url, json=payload).status_code == 200
        except (httpx.HTTPError, httpx.InvalidURL):  # unreachable, or not a URL at all: not delivered
            return False

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(**kwargs)
        except SdkError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            raise SlackApiError(f"Slack {method} failed: {error}", method=method, error=error) from None


def _plain(text: str) -> str:
    """A message's `text` (its notification): the mrkdwn title without emphasis."""
    return text.replace("*", "")
