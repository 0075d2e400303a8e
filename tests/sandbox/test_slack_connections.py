"""The fake's connections, as Slack's API servers handle them: HTTP/1.1 keep-alive, a connection closed when
the client asks for it, an idle one closed after a while, and every one cut when the fake stops."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from kukey_sandbox.slack import SlackFake
from tests.slack.helpers import wait_until


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        yield fake


def connect(fake: SlackFake) -> http.client.HTTPConnection:
    url = urlsplit(fake.api_url)
    return http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)


def auth_test(conn: http.client.HTTPConnection, fake: SlackFake, **headers: str) -> http.client.HTTPResponse:
    conn.request("POST", "/api/auth.test", body=b"", headers={"Authorization": f"Bearer {fake.bot_token}", **headers})
    answer = conn.getresponse()
    assert json.loads(answer.read())["ok"] is True
    return answer


def test_calls_one_after_another_are_answered_on_one_connection(fake: SlackFake) -> None:
    """Three calls over one HTTP/1.1 connection: each answered, the connection left open after each."""
    conn, before = connect(fake), fake.connections
    for _ in range(3):
        answer = auth_test(conn, fake)
        assert (answer.version, answer.will_close) == (11, False)
    assert fake.connections - before == 1
    conn.close()


def test_a_client_asking_for_close_gets_its_connection_closed(fake: SlackFake) -> None:
    """urllib's way (`Connection: close` on every request): answered, then the connection is closed."""
    conn = connect(fake)
    answer = auth_test(conn, fake, Connection="close")
    assert (answer.getheader("Connection"), answer.will_close) == ("close", True)
    conn.close()


def test_an_idle_connection_is_closed_after_the_idle_timeout(fake: SlackFake) -> None:
    """A connection left idle past the idle timeout is closed by the fake (counted), as a load balancer does:
    a call sent on it afterwards gets no answer."""
    fake.set_idle_timeout(0.2)
    conn = connect(fake)
    auth_test(conn, fake)
    wait_until(lambda: fake.idle_closed == 1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        auth_test(conn, fake)
    conn.close()


def test_stopping_the_fake_cuts_the_connections_kept_alive(fake: SlackFake) -> None:
    """A connection kept alive does not outlive the fake: once it stops, a call on it gets no answer."""
    conn = connect(fake)
    auth_test(conn, fake)
    fake.stop()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        auth_test(conn, fake)
    conn.close()
