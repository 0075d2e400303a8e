"""The Slack fake over HTTPS (kukey_sandbox.tls), as Slack serves its Web API and response URLs: a client
that trusts the run's CA talks to it; one that does not is refused, as Slack would be by a client missing
its CA."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import httpx
import pytest
from slack_sdk import WebClient

from kukey_sandbox.slack.fake import SlackFake
from kukey_sandbox.tls import LocalCertificate, local_certificate
from kukey_sandbox.world import KukeyWorld


@pytest.fixture
def certificate(tmp_path: Path) -> LocalCertificate:
    return local_certificate(tmp_path / "tls")


@pytest.fixture
def fake(certificate: LocalCertificate) -> Iterator[SlackFake]:
    with SlackFake(tls=certificate) as f:
        yield f


def test_the_fake_serves_https_to_a_client_that_trusts_its_ca(fake: SlackFake, certificate: LocalCertificate) -> None:
    """Web API calls and response_url posts over TLS, with certificate and host name verification on."""
    assert fake.api_url.startswith("https://127.0.0.1:")
    trusting = ssl.create_default_context(cafile=str(certificate.ca_file))
    assert WebClient(base_url=fake.api_url, token=fake.bot_token, ssl=trusting).auth_test()["ok"]
    with httpx.Client(verify=trusting) as client:
        assert client.post(fake.base_url + "commands/T0/1/unknown", json={"text": "hi"}).status_code == 404
    assert [c.method for c in fake.calls()] == ["auth.test"]


def test_a_client_without_the_ca_is_refused(fake: SlackFake) -> None:
    """The certificate is the run's own: nothing trusts it by default."""
    with pytest.raises(URLError, match="CERTIFICATE_VERIFY_FAILED"):
        WebClient(base_url=fake.api_url, token=fake.bot_token, ssl=ssl.create_default_context()).auth_test()
    assert fake.calls() == []


def test_a_world_gives_the_process_its_trust_store_back(tmp_path: Path) -> None:
    """An in-process bot on HTTPS stand-ins trusts the run's CA through this process's SSL_CERT_FILE while it
    runs; afterwards the variable (and the TLS context made from it) is what it was, for the next test."""
    before = os.environ.get("SSL_CERT_FILE")
    with KukeyWorld(home=tmp_path, slack_tls=True) as world:
        assert world.certificate is not None
        assert os.environ["SSL_CERT_FILE"] == str(world.certificate.bundle_file)
    assert os.environ.get("SSL_CERT_FILE") == before
