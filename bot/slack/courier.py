"""Slack side of the `Courier` port: sends one message the outbox holds, and says plainly when it did not.

Every post and every direct message carries message metadata naming its outbox key (`event_type`
kukey_outbox). When an attempt's outcome is unknown (no answer, a dropped connection, a 5xx: Slack may have
posted it), the next attempt first looks for that key in the channel's latest messages
(`conversations.history`; for a direct message, the bot's DM with the person, which needs im:history) or in
the request's thread (`conversations.replies`), and takes the message it finds instead of posting again: a
post or a direct message is never shown twice. Updates are repeated as they are (the same update twice
changes nothing). Ephemeral notes cannot be read back (Slack keeps no copy to read): one whose answer was
lost is repeated, for a duplicate line at worst that only its reader sees, until they reload.

The Web API client here retries rate limits only (within slack_sdk's handler and kukey's budget,
bot.slack.client): a 5xx or a dropped connection is never repeated blindly by slack_sdk, it comes back to
the dispatcher as an uncertain failure.
"""

from __future__ import annotations

import http.client
import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError as SdkError

from bot.config import Settings
from bot.domain.outbox import LINKS_THREAD, Op
from bot.errors import NotDelivered
from bot.services.ports import Parcel
from bot.slack import blocks
from bot.slack.client import (
    DEFAULT_BUDGET,
    TRANSIENT_ERRORS,
    BudgetedRateLimitHandler,
    SlackRateLimited,
    make_web_client,
)
from bot.slack.notices import LINK

log = logging.getLogger("kukey.slack")
EVENT_TYPE = "kukey_outbox"  # the metadata event type of every message kukey posts from the outbox
LOOK_BACK = 200  # how many of a channel's latest messages are searched for a post that may have landed
# Answers that no later attempt can change: the message itself is wrong, or who it is for is gone.
HOPELESS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments",
                      "too_many_attachments", "invalid_metadata_format", "invalid_metadata_schema",
                      "metadata_too_large", "user_not_found", "user_disabled", "cannot_dm_bot",
                      "message_not_found", "cant_update_message"})


def courier_client(settings: Settings) -> WebClient:
    """The bot token's client for the outbox: rate limits waited out within the budget, nothing else."""
    return make_web_client(settings, handlers=[BudgetedRateLimitHandler(DEFAULT_BUDGET)])


class SlackCourier:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def deliver(self, parcel: Parcel) -> dict[str, str]:
        p, thread = parcel.params, parcel.thread
        if parcel.op == Op.POST:
            return self._post(parcel, str(p["channel"]), None)
        if parcel.op == Op.REPLY and thread is not None:
            return self._post(parcel, thread[0], thread[1])
        if parcel.op == Op.UPDATE and thread is not None:
            self._call("chat_update", channel=thread[0], ts=thread[1], text=p["text"], blocks=p.get("blocks"))
            return {}
        if parcel.op == Op.PRIVATE:
            return self._private(parcel)
        if parcel.op == Op.UPDATE_DIRECT:
            self._update_direct(parcel)
            return {}
        raise NotDelivered(f"kukey cannot deliver {parcel.op!r}", method=parcel.op, error="unknown_op", final=True)

    def _post(self, parcel: Parcel, channel: str, thread_ts: str | None) -> dict[str, str]:
        if parcel.uncertain:
            found = self._find(parcel.key, channel, thread_ts)
            if found is not None:
                log.info("message found posted after a lost answer; not posted again", extra={"channel": channel})
                return {"channel": channel, "ts": found}
        answer = self._call("chat_postMessage", channel=channel, thread_ts=thread_ts, text=parcel.params["text"],
                            blocks=parcel.params.get("blocks"),
                            metadata={"event_type": EVENT_TYPE, "event_payload": {"key": parcel.key}})
        return {"channel": str(answer["channel"]), "ts": str(answer["ts"])}

    def _find(self, key: str, channel: str, thread_ts: str | None) -> str | None:
        """The ts of the message posted with outbox key `key`, if Slack has it. Without the scope to read
        the conversation (an app installed before kukey asked for it) it cannot be known: posted again."""
        try:
            if thread_ts is not None:
                answer = self._call("conversations_replies", channel=channel, ts=thread_ts, limit=LOOK_BACK,
                                    include_all_metadata=True)
            else:
                answer = self._call("conversations_history", channel=channel, limit=LOOK_BACK,
                                    include_all_metadata=True)
        except NotDelivered as exc:
            if exc.error != "missing_scope":
                raise
            log.warning("cannot look for a message that may have landed; posting it again", extra={
                "error": exc.error, "fix": "add the bot scopes channels:history, groups:history and im:history"})
            return None
        for message in answer.get("messages") or []:
            meta = message.get("metadata") or {}
            if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("key") == key:
                return str(message["ts"])
        return None

    def _update_direct(self, parcel: Parcel) -> None:
        """Render every direct message sent about the request again. One Slack will never change (it is
        gone) does not keep the others from changing."""
        for channel, ts in parcel.direct:
            try:
                self._call("chat_update", channel=channel, ts=ts, text=parcel.params["text"],
                           blocks=parcel.params.get("blocks"))
            except NotDelivered as exc:
                if not exc.final:
                    raise
                log.info("a direct message could not be updated", extra={"error": exc.error})

    def _private(self, parcel: Parcel) -> dict[str, str]:
        """Ephemeral where the person acted when Slack allows it, else a direct message (where it landed)."""
        p = parcel.params
        user, channel, text = str(p["user"]), str(p.get("channel") or ""), str(p["text"])
        content = p.get("blocks") or blocks.note(text)
        if p.get(LINKS_THREAD) and parcel.thread is not None:
            link = self._permalink(*parcel.thread)
            text, content = text.replace(LINK, link, 1), _bind(content, link)
        dm: str | None = None
        if parcel.uncertain:  # an earlier attempt's direct message may have landed: look for it first
            dm = self._open_dm(user)
            found = self._find(parcel.key, dm, None)
            if found is not None:
                log.info("direct message found sent after a lost answer; not sent again")
                return {"channel": dm, "ts": found}
        if channel and not channel.startswith("D"):
            try:
                self._call("chat_postEphemeral", channel=channel, user=user, text=text[:3900], blocks=content)
                return {}
            except NotDelivered as exc:
                if exc.uncertain or exc.retry_after is not None:
                    raise
                log.info("ephemeral not possible, using a direct message", extra={"error": exc.error})
        dm = dm or self._open_dm(user)
        answer = self._call("chat_postMessage", channel=dm, text=text[:3900], blocks=content,
                            metadata={"event_type": EVENT_TYPE, "event_payload": {"key": parcel.key}})
        return {"channel": str(answer["channel"]), "ts": str(answer["ts"])}

    def _open_dm(self, user: str) -> str:
        return str(self._call("conversations_open", users=user)["channel"]["id"])

    def _permalink(self, channel: str, ts: str) -> str:
        try:
            return str(self._call("chat_getPermalink", channel=channel, message_ts=ts)["permalink"])
        except NotDelivered:
            return f"<#{channel}>"

    def _call(self, method: str, **kwargs: Any) -> Any:
        """One Web API call; any failure as NotDelivered, saying whether it may have landed."""
        try:
            return getattr(self._client, method)(**{k: v for k, v in kwargs.items() if v is not None})
        except SlackRateLimited as exc:
            raise NotDelivered(f"Slack {method} rate limited", method=method, error="ratelimited",
                               retry_after=exc.retry_after) from None
        except SdkError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            status = exc.response.status_code if exc.response is not None else 0
            raise NotDelivered(f"Slack {method} failed: {error or status}", method=method,
                               error=error or f"http_{status}", uncertain=status >= 500 or error in TRANSIENT_ERRORS,
                               final=error in HOPELESS) from None
        except (OSError, http.client.HTTPException) as exc:  # no answer: sent or not, nobody knows
            raise NotDelivered(f"Slack {method}: no answer ({type(exc).__name__})", method=method,
                               error=type(exc).__name__, uncertain=True) from None


def _bind(node: Any, link: str) -> Any:
    """Blocks with the link to the request's post where LINK stands in their texts."""
    if isinstance(node, str):
        return node.replace(LINK, link)
    if isinstance(node, list):
        return [_bind(item, link) for item in node]
    if isinstance(node, dict):
        return {key: _bind(value, link) for key, value in node.items()}
    return node
