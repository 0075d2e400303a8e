"""The fake's Home tab: views.publish with Slack's limits and refusals, and app_home_opened delivered the way
Slack delivers it (signed JSON over HTTP, retried; an events_api envelope in Socket Mode), then clicks on
the published Home."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack as BoltAck
from slack_bolt import App
from slack_sdk import WebClient

from kukey_sandbox.slack import NoSuchButton, SlackDriver, SlackFake
from tests.sandbox.slack_fixtures import (
    ALICE,
    BOB,
    GONE,
    bolt_app,
    button_blocks,
    populated,
    serve_http,
    serve_socket,
    slack_error,
)


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    with populated() as started:  # a populated fake, stopped at the end
        yield started


@pytest.fixture
def client(fake: SlackFake) -> WebClient:
    """The bot's Web API client against the fake."""
    return WebClient(base_url=fake.api_url, token=fake.bot_token)


def home(*labels: str, blocks: int = 0) -> dict[str, Any]:
    """A home view: a section with a button per label (two blocks), then `blocks` more sections."""
    extra = [{"type": "section", "text": {"type": "mrkdwn", "text": f"line {i}"}} for i in range(blocks)]
    return {"type": "home", "callback_id": "home", "blocks": [*button_blocks(*labels or ("Open",),
                                                                           text="Your keys"), *extra]}


def test_views_publish_sets_what_the_user_sees_on_the_home_tab(fake: SlackFake, client: WebClient) -> None:
    """views.publish answers Slack's home view (same id on every publication, a new hash) and the Home tab
    shows the latest one, to that user only."""
    first = client.views_publish(user_id=ALICE, view=home("Rotate"))["view"]
    assert (first["type"], first["callback_id"], first["app_id"]) == ("home", "home", fake.app_id)
    second = client.views_publish(user_id=ALICE, view=home("Revoke"))["view"]
    assert second["id"] == first["id"] and second["hash"] != first["hash"]
    shown = fake.home(ALICE)
    assert shown is not None and shown.is_home and shown.publications == 2
    assert [b.label for b in shown.buttons] == ["Revoke"] and "Your keys" in shown.content
    assert fake.home(BOB) is None and fake.modal(ALICE) is None


def test_views_publish_refuses_what_slack_refuses(fake: SlackFake, client: WebClient) -> None:
    """More than 100 blocks, a submit button, a modal type, a bot or deactivated user, a stale hash: each
    refused with Slack's error; an app without its Home tab gets not_enabled."""
    assert slack_error(lambda: client.views_publish(user_id=ALICE, view=home(blocks=99))) == "invalid_arguments"
    client.views_publish(user_id=ALICE, view=home(blocks=98))  # 100 blocks: fine
    with_submit = {**home(), "submit": {"type": "plain_text", "text": "Go"}}
    assert slack_error(lambda: client.views_publish(user_id=ALICE, view=with_submit)) == "invalid_arguments"
    assert slack_error(lambda: client.views_publish(user_id=ALICE, view={**home(), "type": "modal"})) \
        == "invalid_arguments"
    for user in (GONE, fake.bot_user_id, "U0NOBODY"):
        assert slack_error(lambda u=user: client.views_publish(user_id=u, view=home())) == "invalid_arguments"
    assert slack_error(lambda: client.views_publish(user_id=ALICE, view=home(), hash="1.stale")) == "hash_conflict"
    current = fake.home(ALICE)
    assert current is not None
    client.views_publish(user_id=ALICE, view=home("Again"), hash=current.hash)
    fake.disable_home_tab()
    assert slack_error(lambda: client.views_publish(user_id=BOB, view=home())) == "not_enabled"


def home_app(fake: SlackFake, *, failures: int = 0) -> tuple[App, list[dict[str, Any]]]:
    """A bolt app that publishes a Home with a Rotate button when the tab is opened (after answering 500
    to its first `failures` deliveries), and records the clicks on it."""
    app, clicks, seen = bolt_app(fake, process_before_response=True), [], []
    lock = threading.Lock()

    @app.event("app_home_opened")
    def opened(event: dict[str, Any], client: WebClient, ack: BoltAck) -> None:
        with lock:
            seen.append(event)
            if len(seen) <= failures:
                raise RuntimeError("not yet")
        client.views_publish(user_id=event["user"], view=home("Rotate"))

    @app.action("rotate")
    def rotate(ack: BoltAck, body: dict[str, Any]) -> None:
        ack()
        clicks.append(body)

    return app, clicks


def test_app_home_opened_over_http_is_signed_json_and_retried(fake: SlackFake) -> None:
    """Over HTTP, opening the Home tab posts a signed JSON event_callback (event_id, event_time, team_id,
    api_app_id); an app that answers 500 gets it again with X-Slack-Retry-Num, and publishes the Home."""
    app, _ = home_app(fake, failures=1)
    app.logger.disabled = True  # the failure is wanted: Bolt would log its traceback
    with serve_http(app) as url:
        ack = SlackDriver(fake, url).open_home(ALICE)
    assert ack.status == 200
    sent = ack.request
    assert (sent["type"], sent["team_id"], sent["api_app_id"]) == ("event_callback", fake.team_id, fake.app_id)
    assert sent["event_id"].startswith("Ev") and isinstance(sent["event_time"], int)
    assert (sent["event"]["type"], sent["event"]["user"], sent["event"]["tab"]) == ("app_home_opened", ALICE, "home")
    assert [(p.retry_num, p.status) for p in fake.event_posts()] == [(0, 500), (1, 200)]
    assert fake.home(ALICE) is not None


def test_clicks_on_the_home_tab_reach_the_app_in_socket_mode(fake: SlackFake) -> None:
    """In Socket Mode the event is an events_api envelope; a click on the published Home is a block_actions
    from a view container (no response_url), and a button the Home does not show cannot be clicked."""
    app, clicks = home_app(fake)
    with serve_socket(app, fake):
        driver = SlackDriver(fake, socket=True)
        driver.open_home(ALICE)
        fake.wait_for(lambda: fake.home(ALICE), what="the home published")
        driver.click(ALICE, "Rotate", home=True)
        fake.wait_for(lambda: clicks, what="the click")
        with pytest.raises(NoSuchButton):
            driver.click(ALICE, "Revoke", home=True)
        with pytest.raises(NoSuchButton):
            driver.click(BOB, "Rotate", home=True)
    assert [e.type for e in fake.envelopes()][:1] == ["events_api"] and fake.envelopes()[0].acked
    body = clicks[0]
    shown = fake.home(ALICE)
    assert shown is not None
    assert body["container"] == {"type": "view", "view_id": shown.id} and body["view"]["type"] == "home"
    assert "response_url" not in body and body["actions"][0]["action_id"] == "rotate"


def test_url_verification_is_a_signed_json_challenge(fake: SlackFake) -> None:
    """Saving an Events API request URL: Slack posts the challenge as signed JSON; Bolt answers it."""
    with serve_http(bolt_app(fake)) as url:
        ack = SlackDriver(fake, url).verify_url("c-123")
    assert ack.status == 200 and ack.json == {"challenge": "c-123"}
