"""The Redactor removes configured secrets, Slack response URLs and trigger ids, and every secret shape,
from each field of each log line."""

from __future__ import annotations

import base64
import io
import logging
import os
import uuid
from urllib.parse import quote

import pytest

from bot.config import Settings
from bot.domain.secret import Secret
from bot.logs import MASK, Redactor
from tests.logs.conftest import Lines

LOGGER = logging.getLogger("kukey.test")
RESPONSE_URL = "https://hooks.slack.com/commands/T0KUKEY00/8137921654321/sVx3Lr2YtQ0m1nWk9ZbHcDeF"
TRIGGER_ID = "13345224609.738474920.8088930838d88f008e0"
SHAPES = [
    ("slack bot token", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("slack user token", "xoxp-1234-5678-90ab-cdef"),
    ("slack app token", "xapp-1-A0123456789-1234567890123-abcdef0123456789"),
    ("otpauth uri", "otpauth://totp/kukey:U012AB3CD?secret=JBSWY3DPEHPK3PXP&issuer=kukey"),
    ("uuid (kucoin api secret)", str(uuid.uuid4())),
    ("base32 totp seed", base64.b32encode(os.urandom(20)).decode()),
    ("44-char base64 (KC-API-SIGN)", base64.b64encode(os.urandom(32)).decode()),
    ("response url", RESPONSE_URL),
    ("response url, actions", "https://hooks.slack.com/actions/T0KUKEY00/8137921654321/abcDEF123"),
    ("incoming webhook", "https://hooks.slack.com/services/T0KUKEY00/B0123/abcDEF123"),
    ("response url on another host (the fake)", "http://127.0.0.1:40123/actions/T0KUKEY00/100000042/Xy_z-1"),
    ("response url, URL-encoded", quote(RESPONSE_URL, safe="")),
    ("response url, JSON-escaped", RESPONSE_URL.replace("/", "\\/")),
    ("trigger id", TRIGGER_ID),
    ("trigger id of the fake", "42.1732412345." + "0123456789abcdef" * 2),
]


@pytest.mark.parametrize(("kind", "secret"), SHAPES, ids=[kind for kind, _ in SHAPES])
def test_secret_shaped_strings_are_masked(lines: Lines, kind: str, secret: str) -> None:
    """Each secret shape is masked in the message although nobody registered it."""
    LOGGER.info("got %s: %s done", kind, secret)
    assert lines() == [lines()[0]] and lines()[0]["msg"] == f"got {kind}: {MASK} done"


def test_configured_values_are_removed_everywhere(stream: io.StringIO, lines: Lines) -> None:
    """A value the Redactor was built with is masked in the message, in extra fields, and URL-encoded."""
    value = "my-Master-Passphrase-1234"
    LOGGER.warning("kucoin said %s", f"bad passphrase '{value}'", extra={"note": [f"x{value}y"],
                                                                         "query": f"a={quote(value + '/+')}"})
    assert value not in stream.getvalue() and quote(value) not in stream.getvalue()
    (line,) = lines()
    assert line["note"] == [f"x{MASK}y"]


def test_the_redactor_for_settings_knows_every_configured_secret() -> None:
    """Redactor.for_settings masks the master key, the Slack tokens and signing secret, and the KuCoin API
    secret and passphrase, even where their shape says nothing."""
    values = {"KUKEY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(), "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
              "SLACK_APP_TOKEN": "xapp-1-A1-2-abc", "SLACK_SIGNING_SECRET": "plain-signing-words",
              "KUCOIN_API_KEY": "key", "KUCOIN_API_SECRET": "plain-secret-words",
              "KUCOIN_API_PASSPHRASE": "plain-passphrase-words"}
    redactor = Redactor.for_settings(Settings.from_env(values))
    text = " ".join(v for k, v in values.items() if k != "KUCOIN_API_KEY")
    assert redactor.redact(text) == " ".join([MASK] * 6)
    assert Redactor().redact("plain-signing-words") == "plain-signing-words"


@pytest.mark.parametrize(("text", "expected"), [
    ("GET /api?a=1&passphrase=s3cr3t%20x&b=2", f"GET /api?a=1&passphrase={MASK}&b=2"),
    ('{"passphrase": "two words", "n": 1}', f'{{"passphrase": {MASK}, "n": 1}}'),
    ("KC-API-PASSPHRASE: hunter2", f"KC-API-PASSPHRASE: {MASK}"),
    ("callback?code=123456&state=x", f"callback?code={MASK}&state=x"),
    ("wss://wss-primary.slack.com/link/?ticket=1a2b-3c&app_id=A1", f"wss://wss-primary.slack.com/link/?ticket={MASK}&app_id=A1"),
    ("{'trigger_id': 'opaque', 'view': {}}", f"{{'trigger_id': {MASK}, 'view': {{}}}}"),
    ("response_url=https%3A%2F%2Fexample.com%2Fx&user=U1", f"response_url={MASK}&user=U1"),
    (f"HTTP Request: POST {RESPONSE_URL} \"HTTP/1.1 200 OK\"", f"HTTP Request: POST {MASK} \"HTTP/1.1 200 OK\""),
    ("kucoin code 400100: error code=400100", "kucoin code 400100: error code=400100"),
    ("version 1.2.3 of slack_sdk, ts 1732412345.000100", "version 1.2.3 of slack_sdk, ts 1732412345.000100"),
])
def test_named_values_in_text_are_masked(text: str, expected: str) -> None:
    """name=value, name: value and JSON pairs lose the value when the name says secret; error codes,
    versions and message timestamps stay."""
    assert Redactor().redact(text) == expected


def test_extra_fields_named_like_secrets_are_masked(lines: Lines) -> None:
    """Extra fields called passphrase, api_secret, seed, totp_code, token, signature, password, trigger_id or
    response_url are masked, also inside a dict; kucoin_code is kept."""
    names = ("passphrase", "api_secret", "seed", "totp_code", "token", "signature", "password", "trigger_id",
             "response_url")
    LOGGER.info("details", extra={**{name: "opaque-value" for name in names}, "kucoin_code": "400100",
                                  "body": {"passphrase": "inner", "apiKey": "6740d3f0c1b2a30001a1b2c3"}})
    (line,) = lines()
    assert {name: line[name] for name in names} == dict.fromkeys(names, MASK)
    assert line["kucoin_code"] == "400100"
    assert line["body"] == {"passphrase": MASK, "apiKey": "6740d3f0c1b2a30001a1b2c3"}


def test_secret_objects_exception_and_stack_text_are_masked(stream: io.StringIO, lines: Lines) -> None:
    """A Secret in an extra field prints as the mask; a secret in an exception message or in stack text is
    scrubbed from the traceback."""
    api_secret = str(uuid.uuid4())
    try:
        raise RuntimeError(f"KuCoin rejected secret {api_secret} for {RESPONSE_URL}")
    except RuntimeError:
        LOGGER.exception("create failed", extra={"held": Secret("hunter2-hunter2")})
    LOGGER.info("where %s", TRIGGER_ID, stack_info=True)
    text = stream.getvalue()
    assert api_secret not in text and "hunter2" not in text and "sVx3Lr2" not in text and TRIGGER_ID not in text
    failed, where = lines()
    assert failed["held"] == MASK
    assert "RuntimeError: KuCoin rejected secret" in str(failed["exception"])
    assert "test_secret_objects_exception_and_stack_text_are_masked" in str(where["stack"])
