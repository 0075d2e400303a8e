"""The Slack fake's finer limits (inputs, options, fields), its own clock, held calls and replayed requests."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_bolt import Ack as BoltAck
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from kukey_sandbox.slack import SlackDriver, SlackDriverError, SlackFake
from kukey_sandbox.slack.fake import SlackTime
from tests.sandbox.slack_fixtures import ALICE, APPROVALS, MODAL, bolt_app, populated, serve_http, slack_error

CODE_INPUT = {"type": "plain_text_input", "action_id": "value"}


@dataclass
class Env:
    fake: SlackFake
    driver: SlackDriver
    client: WebClient
    opened: list[str]  # what the app's click listener got back from views.open ("ok" or Slack's error)


@pytest.fixture
def env() -> Iterator[Env]:
    """A fake on its own clock (wall clock plus `advance`), and an app whose click opens MODAL and whose
modal accepts any submission."""
    fake = SlackFake().start()
    fake.add_user(ALICE, "alice")
    fake.add_channel(APPROVALS, "approvals", members=[ALICE, fake.bot_user_id])
    app, opened = bolt_app(fake), []

    def click(ack: BoltAck, body: dict[str, Any], client: WebClient) -> None:
        ack()
        try:
            client.views_open(trigger_id=body["trigger_id"], view=MODAL)
            opened.append("ok")
        except SlackApiError as exc:
            opened.append(str(exc.response["error"]))

    app.command("/kukey")(lambda ack: ack(blocks=[{"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "action_id": "open"}]}]))
    app.action("open")(click)
    app.view("code_modal")(lambda ack: ack())
    try:
        with serve_http(app) as url:
            yield Env(fake, SlackDriver(fake, url), WebClient(base_url=fake.api_url, token=fake.bot_token),
                      opened)
    finally:
        fake.stop()


def _view_with(element: dict[str, Any] | None = None, **block: Any) -> dict[str, Any]:
    view = copy.deepcopy(MODAL)
    view["blocks"][0].update(block)
    if element is not None:
        view["blocks"][0]["element"] = element
    return view


def _open(env: Env, view: dict[str, Any]) -> str:
    trigger = env.driver.slash(ALICE, APPROVALS, "").request["trigger_id"]
    try:
        env.client.views_open(trigger_id=trigger, view=view)
    except SlackApiError as exc:
        return str(exc.response["error"])
    return "ok"


@pytest.mark.parametrize("bad", [
    _view_with({**CODE_INPUT, "max_length": 3001}),
    _view_with({**CODE_INPUT, "min_length": 7, "max_length": 6}),
    _view_with({**CODE_INPUT, "max_length": 6, "initial_value": "1234567"}),
    _view_with({**CODE_INPUT, "placeholder": {"type": "plain_text", "text": "p" * 151}}),
    _view_with(hint={"type": "plain_text", "text": "h" * 2001}),
    _view_with({"type": "static_select", "action_id": "s", "options": [
        {"text": {"type": "plain_text", "text": str(i)}, "value": str(i)} for i in range(101)]}),
    _view_with({"type": "checkboxes", "action_id": "c", "options": [
        {"text": {"type": "plain_text", "text": "t" * 76}, "value": "v"}]}),
    _view_with({"type": "checkboxes", "action_id": "c", "options": [
        {"text": {"type": "plain_text", "text": "t"}, "value": "v" * 151}]}),
    {**MODAL, "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]},
    {**MODAL, "external_id": "e" * 256},
])
def test_finer_view_limits_answer_invalid_arguments(bad: dict[str, Any]) -> None:
    """Inputs (lengths, initial value, placeholder, hint), options (count, text, value), section fields and
    external_id beyond Slack's limits make views.open answer invalid_arguments."""
    fake = populated()
    try:
        with serve_http(bolt_app(fake)) as url:
            env = Env(fake, SlackDriver(fake, url), WebClient(base_url=fake.api_url, token=fake.bot_token), [])
            assert _open(env, bad) == "invalid_arguments"
            assert _open(env, MODAL) == "ok"
    finally:
        fake.stop()


def test_a_person_cannot_type_past_max_length_counted_as_slacks_client_counts(env: Env) -> None:
    """The driver refuses to type more than an input's max_length, an emoji counting as two characters."""
    view = _view_with({**CODE_INPUT, "max_length": 4})
    assert _open(env, view) == "ok"
    with pytest.raises(SlackDriverError, match="at most 4 characters"):
        env.driver.submit(ALICE, {"code": "\U0001f525" * 3})
    assert env.driver.submit(ALICE, {"code": "\U0001f525" * 2}).ok


def test_advance_moves_slacks_own_clock(env: Env) -> None:
    """Without an injected clock the fake follows the wall clock; advance() moves it on, so a trigger_id
    expires and a response_url runs out without waiting."""
    assert isinstance(env.fake.clock, SlackTime)
    request = env.driver.slash(ALICE, APPROVALS, "").request
    env.fake.advance(3.5)
    assert slack_error(lambda: env.client.views_open(trigger_id=request["trigger_id"], view=MODAL)) \
        == "expired_trigger_id"
    env.fake.advance(30 * 60)
    late = WebhookClient(request["response_url"]).send(text="late")
    assert (late.status_code, late.body) == (404, "expired_url")


def test_a_held_views_open_reaches_slack_after_the_trigger_expired(env: Env) -> None:
    """A held views.open waits at Slack's door; time passes meanwhile, and on release Slack answers
    expired_trigger_id, as for an app that was too slow."""
    env.driver.slash(ALICE, APPROVALS, "")
    with env.fake.hold("views.open") as held:
        assert env.driver.click(ALICE, "Open").ok
        held.wait()
        assert env.opened == []
        env.fake.advance(4)
    env.fake.wait_for(lambda: env.opened, what="views.open answered")
    assert env.opened == ["expired_trigger_id"]


def test_a_hold_stops_only_its_first_calls(env: Env) -> None:
    """A response_url hold stops the first post only: a second one passes and uses the URL meanwhile."""
    url = env.driver.slash(ALICE, APPROVALS, "").request["response_url"]
    answers: list[int] = []
    with env.fake.hold("response_url") as held:
        first = threading.Thread(target=lambda: answers.append(WebhookClient(url).send(text="1").status_code))
        first.start()
        held.wait()
        assert [WebhookClient(url).send(text="x").status_code for _ in range(5)] == [200] * 5
    first.join(timeout=10)
    assert answers == [404]  # the held post came sixth: used_url


def test_a_replayed_click_carries_the_same_trigger_id(env: Env) -> None:
    """Replaying a click delivers the same payload again; its trigger_id was used, so views.open answers
    exchanged_trigger_id the second time."""
    env.driver.slash(ALICE, APPROVALS, "")
    ack = env.driver.click(ALICE, "Open")
    env.fake.wait_for(lambda: env.opened, what="first views.open")
    assert env.driver.replay(ack).ok
    env.fake.wait_for(lambda: len(env.opened) == 2, what="second views.open")
    assert env.opened == ["ok", "exchanged_trigger_id"]
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9a-f]+", ack.request["trigger_id"])
