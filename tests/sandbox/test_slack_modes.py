"""Transport details: Slack's request signature (HTTP mode); Socket Mode handshake, acks, reconnects."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from slack_bolt import Ack as BoltAck
from slack_bolt import App
from slack_sdk import WebClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kukey_sandbox.slack import AckTimeout, SlackDriver, SlackFake, sign
from tests.sandbox.slack_fixtures import ALICE, APPROVALS, bolt_app, populated, serve_http, serve_socket

# Slack's published example (see /work/shared/slack-platform.md).
EXAMPLE_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EXAMPLE_TIMESTAMP = "1531420618"
EXAMPLE_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
EXAMPLE_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    fake = populated()
    yield fake
    fake.stop()


def greeting_app(fake: SlackFake) -> App:
    app = bolt_app(fake)

    @app.command("/kukey")
    def command(ack: BoltAck) -> None:
        ack("hi")

    return app


def test_signature_matches_slacks_published_example() -> None:
    """sign() reproduces the v0 signature of Slack's documented example request."""
    assert sign(EXAMPLE_SECRET, EXAMPLE_TIMESTAMP, EXAMPLE_BODY.encode()) == EXAMPLE_SIGNATURE


def test_bolt_accepts_signed_requests_and_refuses_forged_ones(fake: SlackFake) -> None:
    """bolt answers 200 to the driver's signature, 401 to a wrong or stale one: it signs like Slack."""
    with serve_http(greeting_app(fake)) as url:
        driver = SlackDriver(fake, url)
        body = urlencode({"command": "/kukey", "text": "", "user_id": ALICE, "channel_id": APPROVALS,
                          "team_id": fake.team_id, "trigger_id": "1.2.3"}).encode()
        assert driver.send_raw(body, driver.signed_headers(body)).status == 200
        forged = {**driver.signed_headers(body), "X-Slack-Signature": "v0=" + "0" * 64}
        assert driver.send_raw(body, forged).status == 401
        assert driver.send_raw(body + b"&x=1", driver.signed_headers(body)).status == 401
        stale = driver.signed_headers(body, timestamp=int(time.time()) - 6 * 60)
        assert driver.send_raw(body, stale).status == 401


def test_a_slow_ack_over_http_times_out(fake: SlackFake) -> None:
    """An app that has not answered within the driver's deadline makes the driver raise AckTimeout."""
    release = threading.Event()
    app = bolt_app(fake)

    @app.command("/kukey")
    def command(ack: BoltAck) -> None:
        release.wait(5)
        ack()

    with serve_http(app) as url:
        try:
            with pytest.raises(AckTimeout):
                SlackDriver(fake, url, ack_timeout=0.2).slash(ALICE, APPROVALS, "")
        finally:
            release.set()


def test_socket_url_is_plain_ws_and_bolts_builtin_handler_uses_it(fake: SlackFake) -> None:
    """apps.connections.open gives ws://127.0.0.1; bolt's builtin SocketModeHandler connects and answers."""
    with serve_socket(greeting_app(fake), fake):
        [call] = fake.calls("apps.connections.open")
        assert call.response["url"].startswith("ws://127.0.0.1:")
        ack = SlackDriver(fake, socket=True).slash(ALICE, APPROVALS, "")
        assert (ack.json, [e.text for e in fake.ephemerals(ALICE)]) == ({"text": "hi"}, ["hi"])
    assert fake.unacked() == []


def test_hello_comes_first_and_tickets_work_once(fake: SlackFake) -> None:
    """A connection first receives Slack's hello; a ticket cannot be used twice."""
    url = WebClient(base_url=fake.api_url).apps_connections_open(app_token=fake.app_token)["url"]
    with connect(url) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert (hello["type"], hello["num_connections"], hello["connection_info"]) == (
            "hello", 1, {"app_id": fake.app_id})
    with pytest.raises(InvalidStatus), connect(url):
        pass


def test_an_unacked_envelope_times_out_and_is_recorded(fake: SlackFake) -> None:
    """An envelope the app never acks raises AckTimeout and stays in unacked(); a late ack is marked late."""
    url = WebClient(base_url=fake.api_url).apps_connections_open(app_token=fake.app_token)["url"]
    with connect(url) as ws:
        ws.recv(timeout=5)  # hello
        with pytest.raises(AckTimeout):
            SlackDriver(fake, socket=True, ack_timeout=0.2).slash(ALICE, APPROVALS, "slow")
        envelope = json.loads(ws.recv(timeout=5))
        assert (envelope["type"], envelope["accepts_response_payload"]) == ("slash_commands", True)
        assert envelope["payload"]["command"] == "/kukey" and envelope["payload"]["text"] == "slow"
        [unacked] = fake.unacked()
        assert unacked.id == envelope["envelope_id"]
        ws.send(json.dumps({"envelope_id": envelope["envelope_id"]}))
        fake.wait_for(lambda: fake.envelopes()[0].late, what="the late ack")
    assert [e.id for e in fake.unacked()] == [envelope["envelope_id"]]


def test_the_app_reconnects_after_a_disconnect_message(fake: SlackFake) -> None:
    """After Slack's disconnect message bolt opens a new connection and closes the old one, and envelopes flow
    again on the new one."""
    with serve_socket(greeting_app(fake), fake):
        fake.socket.disconnect("refresh_requested")
        fake.wait_for(lambda: fake.socket.connections() == [(2, False)], what="the new connection alone")
        assert SlackDriver(fake, socket=True).slash(ALICE, APPROVALS, "").json == {"text": "hi"}


def test_driver_needs_exactly_one_transport(fake: SlackFake) -> None:
    """SlackDriver takes either an HTTP URL or socket=True."""
    with pytest.raises(ValueError):
        SlackDriver(fake)
    with pytest.raises(ValueError):
        SlackDriver(fake, "http://127.0.0.1:1/slack/events", socket=True)
