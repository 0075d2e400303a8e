"""Approve and Deny: the buttons on a request open their forms after the ack; the forms are checked in it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.slack import payload, replies, views
from bot.slack.listeners.errors import accepted

if TYPE_CHECKING:
    from bot.services.registry import Services


def open_approve_form(body: dict[str, Any], client: WebClient, *, svc: Services) -> None:
    rid = payload.value(body)
    check = svc.workflow.may_start_approval(rid, payload.user(body))
    replies.open_form_if(svc, client, body, check, lambda: views.approve_modal(rid))


def approve(ack: Ack, body: dict[str, Any], view: dict[str, Any], *, svc: Services) -> None:
    """The approver's TOTP code: a wrong one keeps the form open with the reason."""
    rid = payload.metadata(view).get("r", "")
    accepted(svc.workflow.approve(rid, payload.user(body), payload.code(view)))
    ack()


def open_deny_form(body: dict[str, Any], client: WebClient, *, svc: Services) -> None:
    rid = payload.value(body)
    check = svc.rules.may_deny_now(rid, payload.user(body))
    replies.open_form_if(svc, client, body, check, lambda: views.deny_modal(rid))


def deny(ack: Ack, body: dict[str, Any], view: dict[str, Any], *, svc: Services) -> None:
    reason = payload.reason(view)
    accepted(svc.workflow.deny(payload.metadata(view).get("r", ""), payload.user(body), reason))
    ack()
