"""KUKEY_AUDIT_FORWARD and KUKEY_AUDIT_FORWARD_SECRET: the forms kukey takes, one line per problem with no
credential in it, `_FILE` variants, and both values masked in log lines."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from bot.audit_stream.target import SYSLOG_TCP, SYSLOG_UDP, WEBHOOK, parse
from bot.config import Settings
from bot.errors import ConfigError
from bot.logs.redaction import MASK, Redactor
from tests.audit_stream.receivers import parse_rfc5424

SECRET = "0123456789abcdef-signing"


@pytest.mark.parametrize(("url", "kind", "host", "port", "shown"), [
    ("https://siem.example/ingest?token=t0p", WEBHOOK, "siem.example", 443, "https://siem.example:443"),
    ("https://u:pw@siem.example:8443/x", WEBHOOK, "siem.example", 8443, "https://siem.example:8443"),
    ("http://127.0.0.1:8080/in", WEBHOOK, "127.0.0.1", 8080, "http://127.0.0.1:8080"),
    ("http://localhost/in", WEBHOOK, "localhost", 80, "http://localhost:80"),
    ("syslog+tcp://siem.example:601", SYSLOG_TCP, "siem.example", 601, "syslog+tcp://siem.example:601"),
    ("syslog+udp://[::1]", SYSLOG_UDP, "::1", 514, "syslog+udp://[::1]:514"),
])
def test_the_forms_kukey_takes(url: str, kind: str, host: str, port: int, shown: str) -> None:
    """Each accepted form gives its kind, host and port; what is shown holds no path, query or credential."""
    target = parse(url)
    assert (target.kind, target.host, target.port, target.shown) == (kind, host, port, shown)
    assert target.key.startswith(shown + "#") and "t0p" not in repr(target) + target.key


@pytest.mark.parametrize(("env", "line"), [
    ({"KUKEY_AUDIT_FORWARD": "http://u:hunter22@siem.example/in"},
     "KUKEY_AUDIT_FORWARD must use https:// (http:// only to a loopback address), got 'http://siem.example'"),
    ({"KUKEY_AUDIT_FORWARD": "ftp://siem.example/hunter22"},
     "KUKEY_AUDIT_FORWARD must be https://HOST/PATH, syslog+tcp://HOST[:PORT] or syslog+udp://HOST[:PORT], "
     "got 'ftp://siem.example'"),
    ({"KUKEY_AUDIT_FORWARD": "siem.example:514"},
     "KUKEY_AUDIT_FORWARD must be https://HOST/PATH, syslog+tcp://HOST[:PORT] or syslog+udp://HOST[:PORT], "
     "got a value that is not a URL"),
    ({"KUKEY_AUDIT_FORWARD": "syslog+tcp://siem.example:514/hunter22"},
     "KUKEY_AUDIT_FORWARD names a syslog receiver by host and port only, got 'syslog+tcp://siem.example:514' "
     "with more"),
    ({"KUKEY_AUDIT_FORWARD": "https://siem.example:99999/"},
     "KUKEY_AUDIT_FORWARD must be https://HOST/PATH, syslog+tcp://HOST[:PORT] or syslog+udp://HOST[:PORT], "
     "got a value that is not a URL"),
    ({"KUKEY_AUDIT_FORWARD_SECRET": SECRET},
     "KUKEY_AUDIT_FORWARD_SECRET is set but KUKEY_AUDIT_FORWARD is not: set both, or neither"),
    ({"KUKEY_AUDIT_FORWARD": "syslog+udp://siem.example", "KUKEY_AUDIT_FORWARD_SECRET": SECRET},
     "KUKEY_AUDIT_FORWARD_SECRET signs webhook requests; a syslog target cannot carry it: unset it"),
    ({"KUKEY_AUDIT_FORWARD": "https://siem.example/in", "KUKEY_AUDIT_FORWARD_SECRET": "hunter22"},
     "KUKEY_AUDIT_FORWARD_SECRET must be at least 16 characters, got 8"),
])
def test_each_problem_is_one_line_without_the_credential(env: dict[str, str], line: str) -> None:
    """A bad target or secret is one line naming its variable, and never repeats a password, token or path."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**env, "KUKEY_LEASE_SECONDS": "0"})
    assert str(caught.value).splitlines() == ["KUKEY_LEASE_SECONDS must be 1-3600 seconds, got '0'", line]
    assert "hunter22" not in str(caught.value)


def test_both_come_from_files_and_are_masked_in_logs(tmp_path: Path) -> None:
    """KUKEY_AUDIT_FORWARD_FILE and KUKEY_AUDIT_FORWARD_SECRET_FILE supply the values (Docker and Kubernetes
    secrets); neither shows in the settings' repr, and the redactor masks both wherever they appear."""
    url = "https://siem.example/services/collector?token=abc123"
    (tmp_path / "url").write_text(url + "\n")
    (tmp_path / "secret").write_text(SECRET + "\n")
    settings = Settings.from_env({"KUKEY_AUDIT_FORWARD_FILE": str(tmp_path / "url"),
                                  "KUKEY_AUDIT_FORWARD_SECRET_FILE": str(tmp_path / "secret")})
    assert (settings.audit_forward, settings.audit_forward_secret.reveal()) == (url, SECRET)
    assert url not in repr(settings) and SECRET not in repr(settings)
    redacted = Redactor.for_settings(settings).redact(f"POST {url} signed with {SECRET}")
    assert redacted == f"POST {MASK} signed with {MASK}"


def test_an_http_librarys_rewrite_of_the_url_is_masked_too() -> None:
    """httpx logs each request with the URL as it rewrote it (host lowercased, default port dropped): the
    path that carries a collector's token, and the password, are still masked."""
    url = "https://U:Hunter22pw@SIEM.example:443/receiver/v1/http/ZaVnC4dhaV3T0k3n"
    settings = Settings.from_env({"KUKEY_AUDIT_FORWARD": url})
    line = f'HTTP Request: POST {httpx.URL(url)} "HTTP/1.1 200 OK"'
    assert "ZaVnC4dhaV3T0k3n" in line
    redacted = Redactor.for_settings(settings).redact(line)
    assert "ZaVnC4dhaV3T0k3n" not in redacted and "Hunter22pw" not in redacted
    assert redacted.startswith("HTTP Request: POST https://U:")


def test_unset_means_no_stream() -> None:
    """Without KUKEY_AUDIT_FORWARD, kukey has no audit stream (and the settings say so)."""
    settings = Settings.from_env({})
    assert settings.audit_forward == "" and not settings.audit_forward_secret


def test_the_documented_examples_are_what_kukey_takes_and_sends() -> None:
    """Every KUKEY_AUDIT_FORWARD example in docs/audit.md and .env.example is accepted, and the syslog line
    docs/audit.md shows conforms to RFC 5424 with the structured data the forwarder sends."""
    root = Path(__file__).resolve().parents[2]
    texts = [(root / "docs" / "audit.md").read_text(encoding="utf-8"), (root / ".env.example").read_text()]
    examples = [m for text in texts for m in re.findall(r"KUKEY_AUDIT_FORWARD=(\S+)", text)]
    assert len(examples) >= 4
    for example in examples:
        parse(example)
    shown = next(line for line in texts[0].splitlines() if line.startswith("<110>1 "))
    message = parse_rfc5424(shown.encode())
    assert set(message.sd["kukey@32473"]) == {"seq", "action", "actor", "request_id", "sub_account", "outcome"}
