"""Slack's connections kept alive (bot.slack.connections): every WebClient in the process, kukey's and the ones
Bolt makes for each request, sends its calls over a few kept-alive connections instead of a new one (and
against Slack a new TLS handshake) per call; and it fails exactly as urllib's own opener does, so slack_sdk's
retry handlers and kukey's error handling see what they always saw."""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import urllib.error
from collections.abc import Callable, Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import connections
from bot.tls import shared_context
from kukey_sandbox.slack import SlackFake
from tests.slack.helpers import CHANNEL, fake_with_channel, kukeys_client, wait_until


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    with fake_with_channel() as fake:
        yield fake


def test_calls_one_after_another_share_one_connection(fake: SlackFake) -> None:
    """Twenty posts in a row reach Slack over one connection; with urllib's own opener each made its own."""
    client, before = kukeys_client(fake), fake.connections
    for n in range(20):
        assert client.chat_postMessage(channel=CHANNEL, text=f"hello {n}")["ok"]
    assert fake.connections - before == 1
    assert len(fake.messages(CHANNEL)) == 20
    urllib_own = WebClient(base_url=fake.api_url, token=fake.bot_token, ssl=ssl.create_default_context())
    before = fake.connections
    for n in range(3):
        urllib_own.chat_postMessage(channel=CHANNEL, text=f"again {n}")
    assert fake.connections - before == 3  # the baseline: a connection per call


def test_the_clients_bolt_makes_for_each_request_use_the_same_connections(fake: SlackFake) -> None:
    """Bolt builds a WebClient for every request it dispatches (no `ssl`, kukey's base URL): its calls go over
    the connection kukey's own client left open."""
    kukeys_client(fake).auth_test()
    before = fake.connections
    for _ in range(5):
        per_request = WebClient(base_url=fake.api_url, token=fake.bot_token)  # as slack_bolt's App makes it
        assert per_request.chat_postMessage(channel=CHANNEL, text="from a listener")["ok"]
    assert fake.connections == before


def test_calls_at_once_each_get_a_connection_and_later_calls_reuse_them(fake: SlackFake) -> None:
    """Eight calls at once are not queued behind one connection (each gets its own, as with urllib); the
    next eight reuse those."""
    client, before = kukeys_client(fake), fake.connections
    with fake.hold("chat.postMessage", count=8) as held:
        threads = [threading.Thread(target=client.chat_postMessage, kwargs={"channel": CHANNEL, "text": "x"})
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        held.wait(8, timeout=10)
    for thread in threads:
        thread.join(timeout=10)
    assert fake.connections - before == 8
    for _ in range(8):
        client.chat_postMessage(channel=CHANNEL, text="y")
    assert fake.connections - before == 8
    assert len(fake.messages(CHANNEL)) == 16


def test_a_connection_slack_closed_while_idle_is_replaced_without_a_failure(fake: SlackFake,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Slack's load balancer closes a kept-alive connection after it sat idle: the next call goes over a new
    one, at once and without an error or a retry."""
    fake.set_idle_timeout(0.2)
    client, before = kukeys_client(fake), fake.connections
    assert client.chat_postMessage(channel=CHANNEL, text="first")["ok"]
    wait_until(lambda: fake.idle_closed == 1)
    with caplog.at_level(logging.INFO):
        assert client.chat_postMessage(channel=CHANNEL, text="second")["ok"]
    assert fake.connections - before == 2
    assert [c.error for c in fake.calls("chat.postMessage")] == [None, None]
    assert "retrying" not in caplog.text


def test_a_kept_connection_is_cut_when_slack_goes_away(fake: SlackFake) -> None:
    """Slack gone (the fake stopped) while a connection is kept: the next call cannot be answered over it and
    fails as a call to an unreachable Slack does (URLError), not with an answer from a ghost."""
    client = WebClient(base_url=fake.api_url, token=fake.bot_token, retry_handlers=[])
    kukeys_client(fake)  # the origin is kept alive
    assert client.auth_test()["ok"]
    fake.stop()
    with pytest.raises(urllib.error.URLError):
        client.auth_test()


def _faults() -> dict[str, Callable[[SlackFake], None]]:
    return {
        "rate limited": lambda f: f.rate_limit("chat.postMessage", retry_after=7),
        "server error": lambda f: f.fail("chat.postMessage", "internal_error", status=500),
        "not found": lambda f: f.fail("chat.postMessage", "channel_not_found"),
        "closed without an answer": lambda f: f.drop_calls("chat.postMessage"),
    }


def _outcome(client: WebClient) -> tuple[object, ...]:
    """What one post did: its answer, or the exception's type with what slack_sdk read from Slack's answer."""
    try:
        answer = client.chat_postMessage(channel=CHANNEL, text="hello")
    except SlackApiError as exc:
        r = exc.response
        return ("SlackApiError", r.status_code, r.get("error"), r.headers.get("Retry-After"),
                r.headers.get("Content-Type"))
    except (OSError, http.client.HTTPException) as exc:
        return (type(exc).__name__,)
    return ("ok", answer.status_code, answer["ok"], answer.headers.get("Content-Type"))


@pytest.mark.parametrize("fault", [None, *_faults()])
def test_answers_and_failures_read_as_with_urllibs_own_opener(fault: str | None) -> None:
    """The same call against the same failure, through the kept-alive connections and through urllib's own
    opener (a WebClient with its own `ssl`): the same answer, or the same exception with the same status,
    error, Retry-After and content type (no retries: what slack_sdk's handlers are handed)."""
    seen = []
    for kept in (True, False):
        with fake_with_channel() as fake:
            kukeys_client(fake)  # registers the fake's origin
            client = WebClient(base_url=fake.api_url, token=fake.bot_token, retry_handlers=[],
                               ssl=None if kept else ssl.create_default_context())
            if fault is not None:
                _faults()[fault](fake)
            before = fake.connections
            seen.append(_outcome(client))
            assert fake.connections - before == 1
    assert seen[0] == seen[1]
    assert seen[0][0] == {None: "ok", "closed without an answer": "RemoteDisconnected"}.get(fault, "SlackApiError")


def test_a_read_that_times_out_raises_what_urllib_raises(fake: SlackFake) -> None:
    """Slack holding the answer past the client's timeout: TimeoutError, as from urllib's own opener (slack_sdk
    does not retry it; the call may have landed)."""
    kukeys_client(fake)
    for ssl_context in (None, ssl.create_default_context()):
        client = WebClient(base_url=fake.api_url, token=fake.bot_token, retry_handlers=[], timeout=0.3,
                           ssl=ssl_context)
        with fake.hold("chat.postMessage"), pytest.raises(TimeoutError):
            client.chat_postMessage(channel=CHANNEL, text="slow")


def test_kept_connections_send_tcp_keepalive_probes(fake: SlackFake) -> None:
    """A kept connection has TCP keepalive on (probes after 10 s idle, every 5 s, 3 of them): a NAT on the way
    keeps it, and one dropped silently is closed by the kernel before the pool would use it again."""
    kukeys_client(fake)
    answer = connections._handler()._pool().request("POST", fake.api_url + "auth.test")
    sock = answer.extensions["network_stream"].get_extra_info("socket")
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert [sock.getsockopt(socket.IPPROTO_TCP, option) for option in
            (socket.TCP_KEEPIDLE, socket.TCP_KEEPINTVL, socket.TCP_KEEPCNT)] == [10, 5, 3]


def test_other_origins_are_not_kept_alive(fake: SlackFake) -> None:
    """Only Slack's origin is pooled: a WebClient pointed anywhere else (here: a second fake nobody registered)
    still gets urllib's connection per call."""
    kukeys_client(fake)
    with SlackFake() as other:
        client, before = WebClient(base_url=other.api_url, token=other.bot_token), other.connections
        for _ in range(3):
            client.auth_test()
        assert other.connections - before == 3


def test_many_threads_calling_at_once_all_get_their_answers(fake: SlackFake) -> None:
    """16 threads, 15 calls each, no retries, starting at once on a process that has made no TLS context yet:
    every call answered. Found by the benchmark's bare app (10 calls at once as it started, 2 or 3 failed with
    EBADF every run): each thread made the shared context at once, the handler took each new context for a
    change of trust and replaced its pool, closing the old one under the calls in flight on it."""
    shared_context.cache_clear()  # as in a process just started: the first calls make it
    kukeys_client(fake)
    failures: list[str] = []

    def calls() -> None:
        client = WebClient(base_url=fake.api_url, token=fake.bot_token, retry_handlers=[], timeout=5)
        for _ in range(15):
            try:
                client.auth_test()
            except Exception as exc:  # what failed is the finding
                failures.append(type(exc).__name__)

    threads = [threading.Thread(target=calls) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(fake.calls("auth.test")) == 16 * 15
