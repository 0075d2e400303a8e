"""No secret, passphrase or signature ever shows in a log line, an exception message or a repr."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.domain.clock import FakeClock
from bot.domain.keys import KeySpec, Permission
from bot.domain.secret import Secret
from bot.errors import KucoinError, KucoinValidationError
from bot.kucoin import KucoinClient, generate_passphrase
from kukey_sandbox.kucoin import KucoinSandbox
from tests.kucoin.helpers import client_for


def _sensitive(sandbox: KucoinSandbox, extra: list[str]) -> set[str]:
    creds = sandbox.master_credentials
    values = {creds.api_secret.reveal(), creds.api_passphrase.reveal(), *extra}
    for req in sandbox.requests:
        values.update(v for k, v in req.headers.items() if k in ("KC-API-SIGN", "KC-API-PASSPHRASE"))
    return {v for v in values if v}


def test_nothing_secret_in_logs_errors_or_reprs(client: KucoinClient, sandbox: KucoinSandbox,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """A full run (create, list, modify, delete, gone, refusals, retries, lost answer) leaks nothing."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    passphrase = generate_passphrase()
    key = client.create_key(KeySpec("alpha-trading", frozenset({Permission.SPOT}), ("10.0.0.1",)),
                            passphrase=passphrase, remark="KK-S1")
    assert key.api_secret is not None
    texts += [repr(key), str(key), repr(client)]
    texts += [repr(k) for k in client.list_keys("alpha-trading")]
    texts.append(repr(client.modify_key(key.api_key, KeySpec("alpha-trading"), passphrase=passphrase)))
    wrong = Secret("wrong-passphrase-123")
    for call in (
        lambda: client.delete_key("alpha-trading", key.api_key, wrong),
        lambda: client.modify_key(key.api_key, KeySpec("alpha-trading"), passphrase=wrong),
        lambda: client.create_key(KeySpec("gamma-frozen"), passphrase=passphrase, remark="KK-S2"),
    ):
        with pytest.raises(KucoinError) as info:
            call()
        texts += [str(info.value), repr(info.value)]
    sandbox.fail_next(2, status=503, code="503000", method="DELETE")
    assert client.delete_key("alpha-trading", key.api_key, passphrase) is True
    assert client.delete_key("alpha-trading", key.api_key, passphrase) is False
    sandbox.drop_next(path="/api/v1/sub/api-key", method="POST", commit=True)
    lost = client.create_key(KeySpec("alpha-trading"), passphrase=generate_passphrase(), remark="KK-S3")
    texts.append(repr(lost))
    texts += [record.getMessage() for record in caplog.records]
    assert any("DELETE /api/v1/sub/api-key" in t for t in texts)  # the log really covers the calls
    leaks = _sensitive(sandbox, [passphrase.reveal(), key.api_secret.reveal(), wrong.reveal(),
                                 lost.passphrase.reveal()])
    for text in texts:
        for value in leaks:
            assert value not in text


class _EchoingKucoin(BaseHTTPRequestHandler):
    """A KuCoin stand-in that echoes the request's passphrase back in its error message."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._send({"code": "200000", "data": 1767225600000})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._send({"code": "400100", "msg": f"passphrase {body['passphrase']} is not allowed"}, 400)

    def _send(self, doc: dict[str, object], status: int = 200) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echoing_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingKucoin)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_secrets_echoed_by_kucoin_are_redacted(echoing_url: str) -> None:
    """If KuCoin's message echoes the key passphrase, the raised error shows it redacted."""
    clock = FakeClock()
    passphrase = Secret("Echo-Me-Passphrase-42")
    client = KucoinClient(base_url=echoing_url, api_key="k", api_secret=Secret("s"),
                          api_passphrase=Secret("p"), clock=clock)
    with client, pytest.raises(KucoinValidationError) as info:
        client.create_key(KeySpec("alpha-trading"), passphrase=passphrase, remark="KK-E")
    assert passphrase.reveal() not in str(info.value)
    assert "passphrase **redacted** is not allowed" in str(info.value)


def test_sandbox_credentials_repr_is_redacted(clock: FakeClock) -> None:
    """The sandbox's master credentials print without their secret or passphrase."""
    with KucoinSandbox(clock=clock) as sandbox, client_for(sandbox, clock):
        creds = sandbox.master_credentials
        assert creds.api_secret.reveal() not in repr(creds)
        assert creds.api_passphrase.reveal() not in repr(creds)
