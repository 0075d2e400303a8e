"""The fake's failures on demand, seen on the wire: Web API rate limits, error answers, dropped calls and
revoked tokens; Socket Mode drops without a close frame, envelopes spread over connections and lost with
a dying one, outages, the connection limit and Slack closing recycled connections."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from kukey_sandbox.slack import EnvelopeLost, SlackDriver, SlackDriverError, SlackFake
from kukey_sandbox.slack.socket_mode import MAX_CONNECTIONS
from tests.sandbox.slack_fixtures import ALICE, APPROVALS, APPROVERS, populated


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    fake = populated()
    yield fake
    fake.stop()


def call(fake: SlackFake, method: str, token: str | None = None, **params: str) -> tuple[int, httpx.Headers, Any]:
    """POST a Web API call the way any client does; returns (HTTP status, headers, JSON body)."""
    answer = httpx.post(fake.api_url + method, json=params, timeout=5,
                        headers={"Authorization": f"Bearer {token or fake.bot_token}"})
    return answer.status_code, answer.headers, answer.json()


def test_a_rate_limit_answers_429_with_retry_after_then_passes(fake: SlackFake) -> None:
    """rate_limit(times=2, retry_after=3): two answers of HTTP 429 {"ok": false, "error": "ratelimited"}
    with Retry-After: 3, then Slack's usual answer; every call is recorded."""
    fake.rate_limit("auth.test", times=2, retry_after=3)
    for _ in range(2):
        status, headers, body = call(fake, "auth.test")
        assert (status, headers["Retry-After"], body) == (429, "3", {"ok": False, "error": "ratelimited"})
    assert call(fake, "auth.test")[2]["ok"] is True
    assert [c.error for c in fake.calls("auth.test")] == ["ratelimited", "ratelimited", None]


def test_a_steady_limit_refuses_calls_over_the_rate_with_the_seconds_to_wait(fake: SlackFake) -> None:
    """steady_limit(calls=2, per=60): the third call in a minute is refused with Retry-After up to 60; other
    methods are not limited."""
    fake.steady_limit("auth.test", calls=2, per=60)
    assert [call(fake, "auth.test")[0] for _ in range(2)] == [200, 200]
    status, headers, _ = call(fake, "auth.test")
    assert status == 429 and 59 <= int(headers["Retry-After"]) <= 60
    assert call(fake, "usergroups.users.list", usergroup=APPROVERS)[0] == 200


def test_error_answers_on_demand_are_used_up_in_order(fake: SlackFake) -> None:
    """fail() answers the given error with the given status, for `times` calls, in the order the faults were
    added; "*" matches any method; faults.clear() forgets the rest."""
    fake.fail("usergroups.users.list", "internal_error", status=500)
    fake.fail("*", "service_unavailable", status=503, times=2)
    assert [call(fake, "usergroups.users.list", usergroup=APPROVERS)[:3:2] for _ in range(2)] == [
        (500, {"ok": False, "error": "internal_error"}), (503, {"ok": False, "error": "service_unavailable"})]
    assert call(fake, "auth.test")[0] == 503
    assert call(fake, "auth.test")[0] == 200
    fake.fail("auth.test", "fatal_error", times=5)
    fake.faults.clear()
    assert call(fake, "auth.test")[0] == 200


def test_a_lost_answer_can_be_aimed_at_one_conversation_such_as_a_dm(fake: SlackFake) -> None:
    """lose_answers(channel=<a DM>): a post elsewhere is answered; the post in the DM is made, kept with its
    metadata, and its answer never comes."""
    dm = fake.dm(ALICE)
    fake.lose_answers("chat.postMessage", channel=dm)
    assert call(fake, "chat.postMessage", channel=APPROVALS, text="in the channel")[2]["ok"] is True
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(fake.api_url + "chat.postMessage", timeout=5, headers={"Authorization": f"Bearer {fake.bot_token}"},
                   json={"channel": dm, "text": "to Alice", "metadata": {"event_type": "t", "event_payload": {"k": 1}}})
    (kept,) = fake.messages(dm)
    assert kept.text == "to Alice"
    history = call(fake, "conversations.history", channel=dm, include_all_metadata="true")[2]
    assert history["messages"][0]["metadata"] == {"event_type": "t", "event_payload": {"k": 1}}
    assert call(fake, "chat.postMessage", channel=dm, text="again")[2]["ok"] is True


def test_a_dropped_call_gets_no_answer_at_all(fake: SlackFake) -> None:
    """drop_calls(): the connection closes without an HTTP answer, the way a reset on the way looks."""
    fake.drop_calls("auth.test")
    with pytest.raises(httpx.RemoteProtocolError):
        call(fake, "auth.test")
    assert call(fake, "auth.test")[2]["ok"] is True


def test_a_revoked_token_is_refused_until_restored(fake: SlackFake) -> None:
    """revoke_token("bot"): every call with the bot token answers token_revoked; the app token still works;
    restore_token brings it back."""
    fake.revoke_token("bot")
    assert call(fake, "auth.test")[2] == {"ok": False, "error": "token_revoked"}
    assert call(fake, "apps.connections.open", token=fake.app_token)[2]["ok"] is True
    fake.restore_token("bot")
    assert call(fake, "auth.test")[2]["ok"] is True


# --- Socket Mode -------------------------------------------------------------------------------------
def open_socket(fake: SlackFake) -> ClientConnection:
    """A raw WebSocket client on a fresh URL, past Slack's hello."""
    url = WebClient(base_url=fake.api_url).apps_connections_open(app_token=fake.app_token)["url"]
    ws = connect(url, ping_interval=None, legacy=True)
    assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    return ws


def ack_all(ws: ClientConnection, seen: list[dict[str, Any]]) -> None:
    """Ack every envelope until the connection closes (a thread's target)."""
    try:
        while True:
            message = json.loads(ws.recv())
            seen.append(message)
            if "envelope_id" in message:
                ws.send(json.dumps({"envelope_id": message["envelope_id"]}))
    except ConnectionClosed:
        pass


def test_envelopes_are_spread_over_the_open_connections(fake: SlackFake) -> None:
    """With two connections, six envelopes go three to each (each to ONE connection), all acked."""
    seen: list[list[dict[str, Any]]] = [[], []]
    sockets = [open_socket(fake) for _ in range(2)]
    threads = [threading.Thread(target=ack_all, args=(ws, got)) for ws, got in zip(sockets, seen, strict=True)]
    for thread in threads:
        thread.start()
    driver = SlackDriver(fake, socket=True)
    for _ in range(6):
        driver.slash(ALICE, APPROVALS, "hi")
    for ws in sockets:
        ws.close()
    for thread in threads:
        thread.join(timeout=5)
    assert [len(got) for got in seen] == [3, 3]
    assert fake.unacked() == []


def test_a_command_on_a_connection_that_dies_unacked_is_lost(fake: SlackFake) -> None:
    """An envelope whose connection dies before the ack is not delivered again (Slack shows the person an
    error): send raises EnvelopeLost at once, and the envelope is marked lost."""
    ws = open_socket(fake)
    driver = SlackDriver(fake, socket=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[Any] = pool.submit(driver.slash, ALICE, APPROVALS, "hi")
        assert json.loads(ws.recv(timeout=5))["type"] == "slash_commands"
        started = time.monotonic()
        fake.socket.drop("reset")
        with pytest.raises(EnvelopeLost):
            pending.result(timeout=5)
        assert time.monotonic() - started < 1
    [envelope] = fake.envelopes()
    assert (envelope.acked, envelope.lost) == (False, True)
    ws.close()


def test_an_event_on_a_dying_connection_is_delivered_again_on_another(fake: SlackFake) -> None:
    """Slack retries Events API deliveries: an events_api envelope lost with its connection comes again on
    the other connection, with retry_attempt 1."""
    first, second = open_socket(fake), open_socket(fake)
    seen: list[dict[str, Any]] = []
    helper = threading.Thread(target=ack_all, args=(second, seen))
    with ThreadPoolExecutor(max_workers=1) as pool:
        event = {"type": "event_callback", "event": {"type": "app_home_opened", "user": ALICE}}
        pending: Future[Any] = pool.submit(fake.socket.send, "events_api", event, timeout=5)
        message = json.loads(first.recv(timeout=5))  # round-robin from the oldest connection
        assert (message["type"], message["retry_attempt"]) == ("events_api", 0)
        helper.start()
        fake.socket.drop("reset", index=0)
        pending.result(timeout=5)
    second.close()
    helper.join(timeout=5)
    assert [(m["type"], m["retry_attempt"], m["retry_reason"]) for m in seen] == [("events_api", 1, "timeout")]
    assert [(e.lost, e.acked) for e in fake.envelopes()] == [(True, False), (False, True)]


def test_a_silent_drop_leaves_the_app_hearing_nothing(fake: SlackFake) -> None:
    """After a silent drop (a NAT forgetting the connection) nothing more arrives, not even a close frame,
    and a ping goes unanswered; the fake no longer counts the connection."""
    ws = open_socket(fake)
    fake.socket.drop("silent")
    assert fake.socket.connection_count == 0
    assert not ws.ping().wait(timeout=1)
    with pytest.raises(TimeoutError):
        ws.recv(timeout=0.5)
    ws.close_timeout = 0.1
    ws.close()


def test_an_eof_drop_ends_the_stream_without_a_close_frame(fake: SlackFake) -> None:
    """After an eof drop the stream just ends: no close frame was received."""
    ws = open_socket(fake)
    fake.socket.drop("eof")
    with pytest.raises(ConnectionClosedError) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is None
    assert fake.socket.connection_count == 0


def test_an_outage_refuses_new_connections_until_slack_comes_back(fake: SlackFake) -> None:
    """go_down() drops every connection and refuses new ones with HTTP 503; come_back() lets them in."""
    ws = open_socket(fake)
    fake.socket.go_down("reset")
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    with pytest.raises(InvalidStatus) as refused:
        open_socket(fake)
    assert refused.value.response.status_code == 503
    with pytest.raises(SlackDriverError):
        SlackDriver(fake, socket=True, ack_timeout=0.2).slash(ALICE, APPROVALS, "hi")
    fake.socket.come_back()
    open_socket(fake).close()


def test_an_eleventh_connection_is_told_too_many_websockets_and_closed(fake: SlackFake) -> None:
    """An app holds at most 10 connections: the 11th gets disconnect/too_many_websockets and is closed."""
    sockets = [open_socket(fake) for _ in range(MAX_CONNECTIONS)]
    extra = open_socket(fake)
    assert json.loads(extra.recv(timeout=5))["reason"] == "too_many_websockets"
    with pytest.raises(ConnectionClosed):
        extra.recv(timeout=5)
    assert fake.socket.connection_count == MAX_CONNECTIONS
    for ws in sockets:
        ws.close()


def test_a_recycled_connection_is_closed_by_slack_after_the_grace(fake: SlackFake) -> None:
    """disconnect(close_after=0.2): the app is told why, then Slack closes the connection with code 1001;
    while it is open and recycling, new envelopes prefer other connections."""
    old = open_socket(fake)
    fake.socket.disconnect("warning", close_after=0.2)
    assert json.loads(old.recv(timeout=5)) == {"type": "disconnect", "reason": "warning",
                                               "debug_info": {"host": "applink-sandbox"}}
    assert fake.socket.connections() == [(1, True)]
    fresh = open_socket(fake)
    with pytest.raises(ConnectionClosed) as closed:
        old.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    fake.wait_for(lambda: fake.socket.connections() == [(2, False)], what="the recycled connection gone")
    fresh.close()
