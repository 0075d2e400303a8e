"""bot.tls: kukey's HTTP clients share one TLS context, slack_sdk's WebClients included, and it still verifies
the servers they talk to."""

from __future__ import annotations

import copy
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.error import URLError

import httpx
import pytest

from bot.config import Settings
from bot.domain.clock import SystemClock
from bot.domain.secret import Secret
from bot.errors import KucoinUntrusted
from bot.kucoin.client import KucoinClient
from bot.kucoin.connections import ConnectionShards
from bot.slack.client import make_web_client
from bot.slack.courier import courier_client
from bot.tls import http_client, shared_context
from kukey_sandbox.kucoin.sandbox import KucoinSandbox
from kukey_sandbox.slack.fake import SlackFake
from kukey_sandbox.tls import local_certificate
from tests.audit_stream.helpers import wait_until


def _context_of(client: httpx.Client) -> ssl.SSLContext:
    """The SSLContext the client's connection pools wrap their sockets with (the KuCoin client's several
    pools, bot.kucoin.connections, all the same one)."""
    transport = client._transport
    pools = transport.pools if isinstance(transport, ConnectionShards) else [transport]
    contexts = {id(pool._pool._ssl_context): pool._pool._ssl_context for pool in pools}  # type: ignore[attr-defined]
    assert len(contexts) == 1, contexts
    return next(iter(contexts.values()))  # type: ignore[no-any-return]


def test_every_client_uses_the_one_shared_context() -> None:
    """Clients made by http_client and a KuCoin client left to make its own share one TLS context."""
    kucoin = KucoinClient(base_url="https://api.kucoin.com", api_key="k", api_secret=Secret("s"),
                          api_passphrase=Secret("p"), clock=SystemClock())
    first, second = http_client(), http_client(timeout=5.0)
    try:
        assert _context_of(first) is _context_of(second) is _context_of(kucoin._http) is shared_context()
    finally:
        for client in (first, second):
            client.close()
        kucoin.close()


def test_the_shared_context_verifies_certificates_and_host_names() -> None:
    """The shared context requires a valid certificate chain and checks the host name."""
    context = shared_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


class _Counting(ThreadingHTTPServer):
    """Counts the connections it accepts (with their TLS handshakes, failed ones included)."""

    accepted = 0

    def get_request(self) -> tuple[Any, Any]:
        self.accepted += 1
        return super().get_request()


@pytest.fixture
def untrusted_server(tmp_path: Path) -> Iterator[_Counting]:
    """An HTTPS server on 127.0.0.1 whose certificate a CA of its own signed, which no CA bundle trusts."""
    server_context = local_certificate(tmp_path).server_context()

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *_: Any) -> None:
            pass

    server = _Counting(("127.0.0.1", 0), Hello)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def untrusted_https(untrusted_server: _Counting) -> str:
    return f"https://127.0.0.1:{untrusted_server.server_address[1]}/"


def test_a_client_refuses_a_server_its_bundle_does_not_trust(untrusted_https: str) -> None:
    """A kukey client sharing the context refuses an HTTPS server whose certificate no trusted CA signed."""
    with http_client(timeout=5.0) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(untrusted_https)


def _slack_settings(url: str) -> Settings:
    return Settings(slack_api_url=url, slack_bot_token=Secret("xoxb-1"))


@pytest.fixture
def https_slack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackFake]:
    """The Slack fake on HTTPS, its CA trusted by this process's shared context (SSL_CERT_FILE, read when the
    context is made: made anew here, and again after)."""
    certificate = local_certificate(tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.bundle_file))
    shared_context.cache_clear()
    try:
        with SlackFake(tls=certificate) as fake:
            yield fake
    finally:
        monkeypatch.undo()
        shared_context.cache_clear()


@pytest.fixture
def contexts_and_openers(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many ssl.SSLContexts and urllib openers this process makes from now on (the stdlib's, counted)."""
    made = {"contexts": 0, "openers": 0}
    new_context, build_opener = ssl.SSLContext.__new__, urllib.request.build_opener

    def context(cls: type, *args: Any, **kwargs: Any) -> Any:
        made["contexts"] += 1
        return new_context(cls, *args, **kwargs)

    def opener(*handlers: Any) -> urllib.request.OpenerDirector:
        made["openers"] += 1
        return build_opener(*handlers)

    monkeypatch.setattr(ssl.SSLContext, "__new__", staticmethod(context))
    monkeypatch.setattr(urllib.request, "build_opener", opener)
    return made


def test_kukeys_slack_clients_verify_with_the_shared_context_and_build_nothing_per_call(
        https_slack: SlackFake, contexts_and_openers: dict[str, int]) -> None:
    """The Web API clients (the one the bot and Bolt use, the outbox's) verify Slack with the shared context
    through urllib's process-wide opener: a call makes no TLS context (slack_sdk without a context: http.client
    builds one, CA bundle and all, for every call) and no urllib opener (slack_sdk given the context as `ssl`:
    urllib builds an opener, ten handlers, for every call)."""
    settings = Settings(slack_api_url=https_slack.api_url, slack_bot_token=Secret(https_slack.bot_token))
    clients = [make_web_client(settings), courier_client(settings)]
    shared_context()  # made at start, as kukey's start-up does
    contexts_and_openers.update(contexts=0, openers=0)
    for client in clients * 3:
        assert client.auth_test()["ok"]
    assert contexts_and_openers == {"contexts": 0, "openers": 0}
    assert [c.method for c in https_slack.calls()] == ["auth.test"] * 6


def test_a_web_client_through_a_proxy_brings_the_shared_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTPS_PROXY set slack_sdk builds an opener for every call, from the WebClient's own `ssl`: kukey's
    WebClient brings the shared context there, so that its calls still make no TLS context of their own."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    client = make_web_client(_slack_settings("https://slack.com/api/"))
    assert client.proxy == "http://127.0.0.1:3128" and client.ssl is shared_context()


def test_a_copy_of_the_shared_context_is_the_context() -> None:
    """Bolt deep-copies each request for its lazy listeners, the WebClient in it included: the copy shares the
    context (an SSLContext cannot be copied at all) and still verifies."""
    client = make_web_client(_slack_settings("https://slack.com/api/"))
    client.ssl = shared_context()  # as through a proxy
    assert copy.deepcopy(client).ssl is copy.copy(shared_context()) is shared_context()
    assert shared_context().verify_mode == ssl.CERT_REQUIRED and isinstance(shared_context(), ssl.SSLContext)


def test_kukeys_slack_client_refuses_a_slack_it_does_not_trust(untrusted_server: _Counting,
                                                              untrusted_https: str) -> None:
    """A Web API call to an HTTPS server whose certificate no trusted CA signed fails verification, at once:
    the connection-error retries (with backoff, seconds of them) do not try a refused certificate again."""
    client = make_web_client(_slack_settings(untrusted_https + "api/"))
    with pytest.raises(URLError, match="CERTIFICATE_VERIFY_FAILED"):
        client.auth_test()
    assert untrusted_server.accepted == 1


@pytest.fixture
def https_kucoin(tmp_path: Path) -> Iterator[KucoinSandbox]:
    """The KuCoin sandbox on HTTPS, its certificate signed by a CA of the run's own that nothing trusts."""
    with KucoinSandbox(tls=local_certificate(tmp_path / "tls")) as sandbox:
        yield sandbox


def test_a_kucoin_whose_certificate_is_not_trusted_is_refused_at_once(https_kucoin: KucoinSandbox,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The KuCoin client meets a certificate this host does not trust: KucoinUntrusted names it after one
    attempt (a connection failure is retried with backoff; this one would fail the same way every time), the
    sandbox saw its handshake broken off, and no request."""
    creds = https_kucoin.master_credentials
    with KucoinClient(base_url=https_kucoin.url, api_key=creds.api_key, api_secret=creds.api_secret,
                      api_passphrase=creds.api_passphrase, clock=SystemClock()) as client, \
            pytest.raises(KucoinUntrusted, match=r"KuCoin's TLS certificate at https://127\.0\.0\.1:\d+ is not "
                                                 r"trusted here \(unable to get local issuer certificate\)"):
        client.list_sub_accounts()
    assert len([r for r in caplog.records if "ConnectError" in r.getMessage()]) == 1
    wait_until(lambda: https_kucoin.refused_handshakes >= 1, "the sandbox to see the handshake broken off")
    assert https_kucoin.call_counts() == {}
