"""What the Web API client tests share: a Slack fake with one channel the bot is in, kukey's WebClient for it,
and waiting for a condition without a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from slack_sdk import WebClient

from bot.config import Settings
from bot.domain.secret import Secret
from bot.slack.client import make_web_client
from kukey_sandbox.slack import SlackFake

CHANNEL = "C0GENERAL"


@contextmanager
def fake_with_channel() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        fake.add_channel(CHANNEL, "general", members=[fake.bot_user_id])
        yield fake


def kukeys_client(fake: SlackFake) -> WebClient:
    """The WebClient kukey makes for this Slack (bot.slack.client.make_web_client)."""
    return make_web_client(Settings(slack_api_url=fake.api_url, slack_bot_token=Secret(fake.bot_token)))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
