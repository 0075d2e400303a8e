"""kukey's WebClient (bot.slack.client) against the Slack fake's injected failures: rate limits waited out
within the budget and refused at once beyond it, transient server errors and dropped connections retried."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.domain.secret import Secret
from bot.slack.client import DEFAULT_BUDGET, SlackRateLimited, auth_probe, make_web_client
from kukey_sandbox.slack import SlackFake
from tests.slack.helpers import CHANNEL, fake_with_channel, kukeys_client


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    with fake_with_channel() as fake:
        yield fake


@pytest.fixture
def client(fake: SlackFake) -> WebClient:
    return kukeys_client(fake)


def post(client: WebClient) -> float:
    """Post one message; returns the seconds it took, retries included."""
    started = time.monotonic()
    assert client.chat_postMessage(channel=CHANNEL, text="hello")["ok"]
    return time.monotonic() - started


@pytest.mark.parametrize("limits", [1, 3])
def test_rate_limits_within_the_budget_are_waited_out(fake: SlackFake, client: WebClient, limits: int) -> None:
    """1 or 3 answers of 429 ratelimited with Retry-After: 1 are each waited out (at least the second Slack
    asked for) and the call succeeds on the next attempt, posting the message once."""
    fake.rate_limit("chat.postMessage", times=limits, retry_after=1)
    took = post(client)
    assert limits <= took < limits * 1.25 + 1
    assert [c.error for c in fake.calls("chat.postMessage")] == ["ratelimited"] * limits + [None]
    assert [m.text for m in fake.messages(CHANNEL)] == ["hello"]


def test_ten_rate_limits_exhaust_the_retries_and_fail_with_the_typed_error(fake: SlackFake,
                                                                           client: WebClient) -> None:
    """10 rate limits in a row: after the budget's retries the call raises SlackRateLimited (a slack_sdk
    SlackApiError saying "ratelimited", with Retry-After), having slept only within the budget."""
    fake.rate_limit("chat.postMessage", times=10, retry_after=1)
    started = time.monotonic()
    with pytest.raises(SlackRateLimited) as caught:
        client.chat_postMessage(channel=CHANNEL, text="hello")
    assert time.monotonic() - started <= DEFAULT_BUDGET.max_wait + 1
    assert (caught.value.method, caught.value.retry_after) == ("chat.postMessage", 1)
    assert isinstance(caught.value, SlackApiError) and caught.value.response["error"] == "ratelimited"
    assert len(fake.calls("chat.postMessage")) == DEFAULT_BUDGET.retries + 1
    assert fake.messages(CHANNEL) == []


def test_a_retry_after_beyond_the_budget_fails_at_once(fake: SlackFake, client: WebClient) -> None:
    """A Retry-After longer than the whole budget (a tier's minute) is not slept on: SlackRateLimited at
    once, after one call, carrying the 60 s for the caller to retry later."""
    fake.rate_limit("chat.postMessage", times=1, retry_after=60)
    started = time.monotonic()
    with pytest.raises(SlackRateLimited) as caught:
        client.chat_postMessage(channel=CHANNEL, text="hello")
    assert time.monotonic() - started < 1
    assert caught.value.retry_after == 60
    assert len(fake.calls("chat.postMessage")) == 1


def test_a_steady_tier_limit_is_followed(fake: SlackFake, client: WebClient) -> None:
    """Under a tier-like limit of 2 calls a second, 4 posts in a row all succeed, the over-limit ones after
    waiting what Retry-After said."""
    fake.steady_limit("chat.postMessage", calls=2, per=1.0)
    took = sum(post(client) for _ in range(4))
    assert 1 <= took < 4
    assert len(fake.messages(CHANNEL)) == 4
    assert "ratelimited" in [c.error for c in fake.calls("chat.postMessage")]


@pytest.mark.parametrize(("error", "status"), [("internal_error", 500), ("fatal_error", 200),
                                               ("service_unavailable", 503), ("request_timeout", 200)])
def test_transient_server_errors_are_retried(fake: SlackFake, client: WebClient, error: str, status: int) -> None:
    """Two transient failures (HTTP 5xx, or Slack's transient error codes) are retried with backoff; the
    third attempt posts the message, once."""
    fake.fail("chat.postMessage", error, status=status, times=2)
    post(client)
    assert [c.error for c in fake.calls("chat.postMessage")] == [error, error, None]
    assert [m.text for m in fake.messages(CHANNEL)] == ["hello"]


def test_server_errors_beyond_the_budget_raise_slacks_error(fake: SlackFake, client: WebClient) -> None:
    """An internal_error that does not go away is retried within the budget, then raised as Slack's error."""
    fake.fail("chat.postMessage", "internal_error", status=500, times=10)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=CHANNEL, text="hello")
    assert caught.value.response["error"] == "internal_error"
    assert not isinstance(caught.value, SlackRateLimited)
    assert len(fake.calls("chat.postMessage")) == DEFAULT_BUDGET.retries + 1


def test_a_connection_closed_without_an_answer_is_retried(fake: SlackFake, client: WebClient) -> None:
    """A connection Slack closes without answering (a reset on the way) is retried, and the call succeeds."""
    fake.drop_calls("chat.postMessage", times=2)
    post(client)
    assert [m.text for m in fake.messages(CHANNEL)] == ["hello"]
    assert len(fake.calls("chat.postMessage")) == 3


def test_errors_that_are_not_transient_are_not_retried(fake: SlackFake, client: WebClient) -> None:
    """channel_not_found is Slack's final word: one call, raised at once."""
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0NOWHERE", text="hello")
    assert caught.value.response["error"] == "channel_not_found"
    assert len(fake.calls("chat.postMessage")) == 1


def test_the_auth_probe_fails_for_a_revoked_token_and_passes_again(fake: SlackFake, client: WebClient) -> None:
    """auth_probe is True while auth.test passes, False once the token is revoked, True after it is
    restored; a revoked token is not retried."""
    assert auth_probe(client)
    fake.revoke_token("bot")
    assert not auth_probe(client)
    assert fake.calls("auth.test")[-1].error == "token_revoked"
    fake.restore_token("bot")
    assert auth_probe(client)
    assert len(fake.calls("auth.test")) == 3


def test_the_auth_probe_fails_when_slack_is_unreachable(fake: SlackFake) -> None:
    """With nothing listening at the Slack URL, auth_probe answers False (after the connection retries)."""
    url = fake.api_url
    fake.stop()
    client = make_web_client(Settings(slack_api_url=url, slack_bot_token=Secret("xoxb-1")))
    assert not auth_probe(client)
