"""Answers kukey gives after the ack, and what it does when Slack will not take one.

A modal that cannot be opened (views.open refused: the trigger expired or was used, a limit) raises a typed
SlackApiError for the listeners' error reporting, which tells the person what to do next. A reply whose
response_url Slack refuses (used up after 5 answers, expired after 30 minutes) or that has none goes to
the person another way: ephemeral in the channel, else a direct message (`Notifier.tell`). No secret is ever
sent through these functions: a secret that cannot be shown means the key is deleted (bot.services.reveal).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError as SdkError

from bot.errors import SlackApiError
from bot.services.ports import Outcome
from bot.slack import payload

if TYPE_CHECKING:
    from bot.services.registry import Services

log = logging.getLogger("kukey.slack")


def open_form(client: WebClient, body: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """Open `view` for the person who clicked or typed (their trigger_id is valid ~3 s, once); the opened
    view as Slack answers it (its id and hash)."""
    try:
        opened = client.views_open(trigger_id=payload.text(body, "trigger_id"), view=view)
    except SdkError as exc:
        raise _form_error("views.open", exc) from None
    found = opened.get("view")
    return found if isinstance(found, dict) else {}


def update_form(client: WebClient, opened: dict[str, Any], view: dict[str, Any]) -> None:
    """Replace a form `open_form` opened (unless the person changed it meanwhile: its hash)."""
    try:
        client.views_update(view_id=str(opened.get("id", "")), hash=str(opened.get("hash", "")), view=view)
    except SdkError as exc:
        raise _form_error("views.update", exc) from None


def _form_error(method: str, exc: SdkError) -> SlackApiError:
    error = str(exc.response.get("error", "")) if exc.response is not None else ""
    return SlackApiError(f"Slack {method} failed: {error}", method=method, error=error)


def open_form_if(svc: Services, client: WebClient, body: dict[str, Any], check: Outcome,
                 form: Callable[[], dict[str, Any]]) -> None:
    """Open the form a click asks for when the service's `check` allows it; else tell the person why."""
    if not check.ok:
        refused(svc, body, check)
        return
    open_form(client, body, form())


def reply(svc: Services, body: dict[str, Any], text: str) -> None:
    """Answer the person who acted, privately: through the payload's response_url, else another way."""
    url = payload.text(body, "response_url")
    if url and svc.notifier.respond(url, {"text": text, "response_type": "ephemeral",
                                          "replace_original": False}):
        return
    if url:
        log.warning("reply not taken by its response_url after its ack; told another way")
    tell(svc, body, text)


def refused(svc: Services, body: dict[str, Any], out: Outcome) -> None:
    """A click a service said no to: one log line (the reason code), and the person is told why."""
    log.info("interaction refused", extra={"reason": out.reason})
    reply(svc, body, out.message)


def change_original(svc: Services, body: dict[str, Any], url: str, change: dict[str, Any], *,
                    otherwise: str) -> None:
    """Replace or delete the message a response_url belongs to; when Slack refuses, tell `otherwise`."""
    if url and svc.notifier.respond(url, change):
        return
    log.warning("message not changed by its response_url after its ack; told another way")
    tell(svc, body, otherwise)


def tell(svc: Services, body: dict[str, Any], text: str) -> None:
    """Ephemeral in the channel where the person acted, else a direct message; a failure is logged."""
    try:
        svc.notifier.tell(payload.user(body), text, channel=payload.channel(body) or None)
    except SlackApiError as exc:
        log.warning("could not tell the user after its ack", extra={"error": exc.error})
