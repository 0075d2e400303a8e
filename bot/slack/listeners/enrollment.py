"""TOTP enrollment: Confirm code and Re-enroll open their forms after the ack; codes are checked in it.

`/kukey enroll` itself (the seed, shown in the ack) is answered in bot.slack.listeners.commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.slack import messages, payload, replies, views

if TYPE_CHECKING:
    from bot.services.registry import Services


def open_confirm_form(body: dict[str, Any], client: WebClient, *, svc: Services) -> None:
    replies.open_form(client, body, views.enroll_modal(payload.text(body, "response_url")))


def open_reenroll_form(body: dict[str, Any], client: WebClient, *, svc: Services) -> None:
    replies.open_form(client, body, views.reenroll_modal(payload.text(body, "response_url")))


def confirm(ack: Ack, body: dict[str, Any], view: dict[str, Any], *, svc: Services) -> None:
    """A valid code activates the seed; then the message that showed it is replaced after the ack (on the
    worker pool: only a confirmed enrollment may replace it)."""
    svc.enrollment.confirm(payload.user(body), payload.code(view))
    ack(response_action="clear")
    svc.home.refresh([payload.user(body)])  # the Home tab shows the enrollment
    url = payload.metadata(view).get("u")
    if url:
        svc.deps.later(replies.change_original, svc, body, url, {"replace_original": True,
                                                                  "text": messages.ENROLLED},
                       otherwise=messages.SEED_LEFT)


def check_current_code(ack: Ack, body: dict[str, Any], view: dict[str, Any], *, svc: Services) -> None:
    """Re-enrollment: the CURRENT code, then the new seed in the same modal."""
    user = payload.user(body)
    new = svc.enrollment.start(user, account=payload.text(body, "user", "username") or user,
                               current_code=payload.code(view))
    ack(response_action="update", view=views.reenroll_new_modal(new.uri.reveal(), new.seed.reveal(),
                                                                payload.metadata(view)))
