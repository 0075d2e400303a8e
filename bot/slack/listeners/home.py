"""The Home tab: published when the person opens it; its Rotate, Revoke and Enroll buttons.

Every button starts the flow its slash command starts, through the same services: Rotate files what
`/kukey rotate <sub-account> <apiKey>` files and Revoke what `/kukey revoke <sub-account> <apiKey>` files
outside an incident channel (a request another person must approve: the Home tab is no incident
channel), both parsed by the same parser and checked by the same policy; Enroll starts the enrollment
`/kukey enroll` starts, with the seed in a form only the person sees. Approve and Re-enroll on the tab are
the approvals channel's and `/kukey enroll`'s own buttons (bot.slack.listeners.approval, .enrollment).
A click on the tab has no response_url: refusals reach the person as a direct message. A key reminder's
Rotate (bot.slack.reminders) is handled by `rotate` too: the same request, checks and refusals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from bot.domain import commands as cmds
from bot.errors import UsageError
from bot.services.workflow import Origin
from bot.slack import home_messages, payload, replies, views

if TYPE_CHECKING:
    from bot.services.registry import Services


def opened(body: dict[str, Any], *, svc: Services) -> None:
    """app_home_opened: publish the person's Home (the Messages tab opens the same event: nothing to do)."""
    event, user = body.get("event"), payload.user(body)
    if user and payload.text(event, "tab") in ("", "home"):
        svc.home.show(user)


def rotate(body: dict[str, Any], *, svc: Services) -> None:
    _file(svc, body, "rotate")


def revoke(body: dict[str, Any], *, svc: Services) -> None:
    _file(svc, body, "revoke")


def _file(svc: Services, body: dict[str, Any], verb: str) -> None:
    """File the request the button names, as the slash command would; a refusal is told to the person."""
    words = payload.value(body).split()
    if len(words) != 2 or words[1].lower() == "all":  # the tab names one key; `all` is for the command
        raise UsageError(home_messages.NOT_A_HOME_KEY)
    cmd = svc.parse(f"{verb} {words[0]} {words[1]}")
    assert isinstance(cmd, cmds.Rotate | cmds.Revoke)
    out = svc.workflow.submit(payload.user(body), cmd, Origin("", payload.text(body, "trigger_id") or None))
    if not out.ok:
        replies.reply(svc, body, out.message)


def enroll(body: dict[str, Any], client: WebClient, *, svc: Services) -> None:
    """Start an enrollment and show its seed in a form that takes the first code (the form `/kukey enroll`'s
    Confirm code opens, with the seed in it). The form opens first, in time for the click's trigger_id: a
    click whose form cannot open starts nothing."""
    user = payload.user(body)
    if svc.enrollment.is_enrolled(user):  # a Home from before the enrollment: show the current one
        replies.reply(svc, body, home_messages.ALREADY_ENROLLED_HOME)
        svc.home.refresh([user])
        return
    form = replies.open_form(client, body, views.enroll_wait_modal())
    new = svc.enrollment.start(user, account=payload.text(body, "user", "username") or user)
    replies.update_form(client, form, views.enroll_seed_modal(new.uri.reveal(), new.seed.reveal()))
