"""HTTP mode takes Slack's Events API JSON: signed event_callbacks of the events kukey subscribes to and the
url_verification challenge; any other JSON is refused before Bolt, as before."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack.precheck import body_problem
from kukey_sandbox.slack import payloads
from kukey_sandbox.world import REQUESTER, KukeyWorld
from tests.hardening.helpers import audit_count

JSON = "application/json"


def callback(event: dict[str, Any] | None = None, **envelope: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"token": "t", "team_id": "T0KUKEY", "api_app_id": "A0KUKEY", "type": "event_callback",
                            "event_id": "Ev0ABC", "event_time": 1767225600,
                            "event": event or {"type": "app_home_opened", "user": REQUESTER, "channel": "D01",
                                               "tab": "home", "event_ts": "1767225600.000100"}}
    body.update(envelope)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(("body", "content_type", "refusal"), [
    (callback(), JSON, None),
    (callback(), "application/json; charset=utf-8", None),
    ({"token": "t", "challenge": "abc", "type": "url_verification"}, JSON, None),
    ({"token": "t", "type": "url_verification"}, JSON, (400, "url_verification without a challenge")),
    (callback(), "application/x-www-form-urlencoded", (415, "JSON body that is not an Events API callback")),
    ({"type": "block_actions"}, JSON, (415, "JSON body that is not an Events API callback")),
    ([1, 2], JSON, (415, "JSON body that is not an Events API callback")),
    (callback({"type": "message", "user": REQUESTER, "text": "hi"}), JSON,
     (400, "an event kukey does not subscribe to")),
    (callback({"type": "app_home_opened", "user": "not a user"}), JSON, (400, "event without a valid user id")),
    (callback({"type": "app_home_opened", "user": REQUESTER, "tab": ["home"]}), JSON,
     (400, "an event field of the wrong type")),
    (callback(event_id=...), JSON, (400, "event_callback without Slack's envelope fields")),
    (callback(event_time="1767225600"), JSON, (400, "event_callback without Slack's envelope fields")),
    (callback(payload="{}"), JSON, (400, "event with interaction fields")),
    (callback(user={"id": REQUESTER}), JSON, (400, "event with interaction fields")),
    (callback(authorizations="all"), JSON, (400, "authorizations of the wrong shape")),
])
def test_json_bodies_the_gate_takes_and_refuses(body: Any, content_type: str, refusal: Any) -> None:
    """Only Slack's Events API bodies pass: JSON as Slack sends it, an event kukey subscribes to, Slack's
    envelope fields with their types; other JSON is 415 (as before), a malformed event 400."""
    assert body_problem(json.dumps(body), content_type) == refusal


def test_a_body_that_is_not_json_is_refused() -> None:
    """A body that says it is JSON but does not parse gets 400."""
    assert body_problem("{not json", JSON) == (400, "body is not JSON")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path) as w:
        yield w


def test_slacks_url_verification_is_answered(world: KukeyWorld) -> None:
    """Saving the Events request URL in Slack works: the signed challenge is answered with itself."""
    ack = world.driver.verify_url("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    assert ack.status == 200 and ack.json == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_a_retried_event_publishes_the_home_again(world: KukeyWorld) -> None:
    """Slack's retry of an app_home_opened (X-Slack-Retry-Num) is taken like the first delivery: publishing a
    Home twice is harmless."""
    first = world.open_home(REQUESTER)
    with world.fake.world.transaction() as w:
        event = payloads.app_home_opened(w, user=REQUESTER, token=world.fake.verification_token)
    raw = json.dumps(event).encode()
    headers = {**world.driver.signed_headers(raw, json_body=True), "X-Slack-Retry-Num": "1",
               "X-Slack-Retry-Reason": "http_timeout"}
    assert world.driver.send_raw(raw, headers).status == 200
    world.wait(lambda: (home := world.fake.home(REQUESTER)) is not None and home.publications > first.publications,
               what="the Home published again")


def test_forged_and_unsubscribed_events_change_nothing(world: KukeyWorld, caplog: pytest.LogCaptureFixture) -> None:
    """An unsigned event gets 401, a signed event kukey does not subscribe to 400: one log line each, no
    audit event, no Home published."""
    caplog.set_level(logging.INFO, logger="kukey")
    events = audit_count(world)
    raw = json.dumps(callback()).encode()
    assert world.driver.send_raw(raw, {"Content-Type": JSON}).status == 401
    other = json.dumps(callback({"type": "message", "user": REQUESTER, "text": "hi"})).encode()
    assert world.driver.send_raw(other, world.driver.signed_headers(other, json_body=True)).status == 400
    refusals = [r for r in caplog.records if r.name.startswith("kukey.") and "refused" in r.getMessage()]
    assert [getattr(r, "status", None) for r in refusals] == [401, 400]
    assert audit_count(world) == events and world.fake.home(REQUESTER) is None
