"""bot.tls: kukey's HTTP clients share one TLS context, and it still verifies the servers they talk to."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.domain.clock import SystemClock
from bot.domain.secret import Secret
from bot.kucoin.client import KucoinClient
from bot.tls import http_client, shared_context


def _context_of(client: httpx.Client) -> ssl.SSLContext:
    """The SSLContext the client's connection pool wraps its sockets with."""
    return client._transport._pool._ssl_context  # type: ignore[attr-defined,no-any-return]


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


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate that no CA bundle trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_client_refuses_a_server_its_bundle_does_not_trust(untrusted_https: str) -> None:
    """A kukey client sharing the context refuses an HTTPS server whose certificate no trusted CA signed."""
    with http_client(timeout=5.0) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(untrusted_https)
