"""Throwaway TLS for the stand-ins: a certificate authority made for one run and a certificate it signs for
127.0.0.1, so that a stand-in can speak HTTPS as the real service does (Slack's Web API and response URLs
are HTTPS only) and a client trusts it the way kukey trusts any server: through a CA bundle
(`SSL_CERT_FILE=<bundle_file>`), with certificate and host name verification on. The bundle is the
system's trust store (the public CAs OpenSSL trusts by default, where the machine has one) with the run's
CA added, so that loading it costs what loading a real trust store costs (~150 CAs, tens of milliseconds):
a client that loads it again for every call shows here as it would against Slack.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"


@dataclass(frozen=True)
class LocalCertificate:
    """PEM files: the CA's certificate, a trust store holding it (the system's bundle and it), the server's
    certificate and key."""

    ca_file: Path
    bundle_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def local_certificate(directory: Path, *, valid: timedelta = timedelta(days=2)) -> LocalCertificate:
    """A new CA and a server certificate for 127.0.0.1 (and localhost) signed by it, written to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kukey sandbox CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
          .not_valid_after(now + valid)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + valid)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(HOST)), x509.DNSName("localhost")]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    out = LocalCertificate(ca_file=directory / "ca.pem", bundle_file=directory / "trusted.pem",
                           cert_file=directory / "server.pem", key_file=directory / "server-key.pem")
    out.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    system = ssl.get_default_verify_paths().cafile  # None where the machine has no bundle file
    public = Path(system).read_bytes().rstrip(b"\n") + b"\n" if system else b""
    out.bundle_file.write_bytes(public + out.ca_file.read_bytes())
    out.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    out.key_file.chmod(0o600)
    return out


class TlsServing:
    """A mixin for a ThreadingHTTPServer: with `tls` set it speaks HTTPS, each connection's handshake in that
    connection's own thread (a slow or failed handshake holds up no other caller); without, plain HTTP. A
    caller that goes away mid-answer (a bot killed by a test or the bench) is not reported: the real
    service would not notice either; anything else is, with its traceback, as socketserver does."""

    tls: ssl.SSLContext | None = None
    refused_handshakes = 0  # connections whose client broke off the handshake (e.g. not trusting the certificate)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)  # type: ignore[misc]
            return
        try:
            secured = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):  # a client that does not trust the certificate, or went away
            self.refused_handshakes += 1
            return
        try:
            super().finish_request(secured, client_address)  # type: ignore[misc]
        finally:
            with contextlib.suppress(OSError):
                secured.shutdown(socket.SHUT_RDWR)
            secured.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            super().handle_error(request, client_address)  # type: ignore[misc]
