"""Slack side of the `Notifier` port: posts, thread notes, in-place updates, private notes, secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError as SdkError

from bot.domain.policy import Policy
from bot.domain.secret import Secret
from bot.errors import SlackApiError
from bot.services.ports import Delivery, RequestView
from bot.slack import blocks, messages

log = logging.getLogger("kukey.slack")

# Events after which the parent message is re-rendered (and so loses its buttons once resolved).
_UPDATES_PARENT = {"approval_added", "approved", "denied", "expired", "cancelled", "lapsed", "revealed",
                   "reveal_failed", "old_key_deleted", "revoked"}


class SlackNotifier:
    def __init__(self, client: WebClient, policy: Callable[[], Policy], *, http: httpx.Client | None = None) -> None:
        self._client = client
        self._policy = policy
        self._http = http or httpx.Client(timeout=10.0)

    def post_request(self, req: RequestView) -> tuple[str, str]:
        channel = self._policy().approvals_channel
        resp = self._call("chat_postMessage", channel=channel, text=messages.title(req).replace("*", ""),
                          blocks=blocks.request_message(req))
        return str(resp["channel"]), str(resp["ts"])

    def event(self, name: str, req: RequestView, **fields: Any) -> None:
        if req.thread_ts and req.channel and name in _UPDATES_PARENT and not req.incident:
            self._safe("chat_update", channel=req.channel, ts=req.thread_ts,
                       text=messages.title(req).replace("*", ""), blocks=blocks.request_message(req))
        note = messages.event_thread(name, req, fields)
        if note and req.thread_ts and req.channel and not req.incident:
            self._safe("chat_postMessage", channel=req.channel, thread_ts=req.thread_ts, text=note)
        if fields.get("catch_up"):
            return  # the people concerned were told when it happened; only the thread was behind
        if name == "submitted":
            link = self._permalink(req)
            self.tell(req.requester, messages.submitted(req, link), channel=req.origin_channel)
        elif name == "approved" and req.kind != "revoke":
            self.offer(req.requester, blocks.reveal_offer(req, fields.get("user")),
                       text=messages.approved_offer(req, fields.get("user")), channel=req.origin_channel)
        private = messages.event_requester(name, req, fields)
        if private and fields.get("user") != req.requester:
            self.tell(req.requester, private, channel=req.origin_channel)
        if name == "revoked":
            policy = self._policy()
            self.announce([*policy.incident_channels, policy.approvals_channel], messages.revoke_text(req, fields))

    def tell(self, user: str, text: str, *, channel: str | None = None) -> None:
        self.offer(user, blocks.note(text), text=text, channel=channel)

    def offer(self, user: str, content: list[dict[str, Any]], *, text: str, channel: str | None) -> None:
        """Ephemeral in `channel` when Slack allows it, else a direct message (never carries a secret)."""
        if channel and not channel.startswith("D"):
            try:
                self._call("chat_postEphemeral", channel=channel, user=user, text=text[:3900], blocks=content)
                return
            except SlackApiError as exc:
                log.info("ephemeral not possible, using a direct message", extra={"error": exc.error})
        dm = self._call("conversations_open", users=user)
        self._safe("chat_postMessage", channel=dm["channel"]["id"], text=text[:3900], blocks=content)

    def announce(self, channels: list[str], text: str) -> None:
        for channel in dict.fromkeys(channels):
            self._safe("chat_postMessage", channel=channel, text=text[:3900])

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
        # The offer with the Reveal button is spent: replace it, so no stale button stays on screen.
        self.respond(delivery.response_url, {"replace_original": True,
                                             "text": messages.revealed_offer(req.id)})

    def respond(self, response_url: str, payload: dict[str, Any]) -> bool:
        try:
            return self._http.post(response_url, json=payload).status_code == 200
        except (httpx.HTTPError, httpx.InvalidURL):  # unreachable, or not a URL at all: not delivered
            return False

    def _permalink(self, req: RequestView) -> str:
        try:
            return str(self._call("chat_getPermalink", channel=req.channel, message_ts=req.thread_ts)["permalink"])
        except SlackApiError:
            return f"<#{req.channel}>"

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(**kwargs)
        except SdkError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            raise SlackApiError(f"Slack {method} failed: {error}", method=method, error=error) from None

    def _safe(self, method: str, **kwargs: Any) -> None:
        """A notification that must not abort the workflow step it reports on."""
        try:
            self._call(method, **kwargs)
        except SlackApiError as exc:
            log.warning("slack call failed", extra={"method": method, "error": exc.error})

