"""Reveal key and Stored it - wipe: the requester sees the new key once, then removes it from the screen.

The TOTP code is checked in the ack (`submit_code`), which also claims the reveal and makes the new key's
passphrase; creating the key at KuCoin and showing it runs after the ack on the worker pool
(`Deps.later`, because it needs that passphrase, which Bolt's lazy listeners cannot be handed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.services.ports import Delivery
from bot.slack import messages, payload, replies, views
from bot.slack.listeners.errors import accepted

if TYPE_CHECKING:
    from bot.services.registry import Services


def on_click(body: dict[str, Any], client: WebClient, *, svc: Services) -> None:
    rid, user, url = payload.value(body), payload.user(body), payload.text(body, "response_url")
    out = svc.reveal.check(rid, user)
    if not out.ok:
        replies.refused(svc, body, out)
        return
    if out.data.get("needs_totp"):
        replies.open_form(client, body, views.reveal_modal(rid, url))
        return
    begun = svc.reveal.begin(rid, user, None)
    if not begun.ok:
        replies.refused(svc, body, begun)
        return
    svc.reveal.run(rid, Delivery(url, user), begun.data["passphrase"], begun.data["spec"])


def submit_code(ack: Ack, body: dict[str, Any], view: dict[str, Any], *, svc: Services) -> None:
    meta, user = payload.metadata(view), payload.user(body)
    rid = meta.get("r", "")
    out = accepted(svc.reveal.begin(rid, user, payload.code(view)))
    ack()
    svc.deps.later(svc.reveal.run, rid, Delivery(meta.get("u", ""), user), out.data["passphrase"], out.data["spec"])


def wipe(body: dict[str, Any], *, svc: Services) -> None:
    """Delete the message that shows the key; if Slack no longer allows it, say how to clear it."""
    replies.change_original(svc, body, payload.text(body, "response_url"), {"delete_original": True},
                            otherwise=messages.NOT_WIPED)
    svc.inventory.record_wipe(payload.user(body), payload.value(body))
