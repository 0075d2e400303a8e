"""Slack side of the `HomeSurface` port: a person's Home, rendered (bot.slack.home_view) and published to
their Home tab with `views.publish`.

Best effort, like a thread note: a Home that Slack does not take (rate limited beyond the client's retry
budget, the person deactivated) is logged and left; the next change that concerns them, or their next
look at the tab, publishes it again.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError as SdkError

from bot.services.home_model import Home
from bot.slack.home_view import home_view

log = logging.getLogger("kukey.slack")


class SlackHome:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def publish(self, user: str, home: Home) -> None:
        try:
            self._client.views_publish(user_id=user, view=home_view(home))
        except SdkError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            log.warning("home tab not published", extra={"error": error})
