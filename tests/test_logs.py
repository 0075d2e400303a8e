"""Logs are JSON lines, and the redaction filter removes every kind of secret before they are written."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import uuid
from collections.abc import Iterator

import pytest

from bot.domain.secret import Secret
from bot.logs import MASK, RedactionFilter, configure_logging, redact, register_secret

LOGGER = logging.getLogger("kukey.test")
SHAPES = [
    ("slack bot token", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("slack user token", "xoxp-1234-5678-90ab-cdef"),
    ("slack app token", "xapp-1-A0123456789-1234567890123-abcdef0123456789"),
    ("otpauth uri", "otpauth://totp/kukey:U012AB3CD?secret=JBSWY3DPEHPK3PXP&issuer=kukey"),
    ("uuid (kucoin api secret)", str(uuid.uuid4())),
    ("base32 totp seed", base64.b32encode(os.urandom(20)).decode()),
    ("44-char base64 (KC-API-SIGN)", base64.b64encode(os.urandom(32)).decode()),
]


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Route the root logger to a buffer through configure_logging; restore the root afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    handler = configure_logging("DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for other in root.handlers:
            for f in [f for f in other.filters if isinstance(f, RedactionFilter)]:
                other.removeFilter(f)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_extra_fields(stream: io.StringIO) -> None:
    """A record becomes one line of JSON with ts, level, logger, msg and the extra fields."""
    LOGGER.info("request %s approved", "KK-1", extra={"request_id": "KK-1", "approvals": 2})
    (line,) = _lines(stream)
    assert {k: line[k] for k in ("level", "logger", "msg", "request_id", "approvals")} == {
        "level": "INFO", "logger": "kukey.test", "msg": "request KK-1 approved", "request_id": "KK-1",
        "approvals": 2}
    assert str(line["ts"]).endswith("+00:00")


def test_registered_values_are_removed_everywhere(stream: io.StringIO) -> None:
    """A registered value (e.g. the KuCoin master passphrase) is masked in the message and extra fields."""
    value = "my-Master-Passphrase-" + uuid.uuid4().hex[:8]
    register_secret(Secret(value))
    LOGGER.warning("kucoin said %s", f"bad passphrase '{value}'", extra={"note": [f"x{value}y"]})
    text = stream.getvalue()
    assert value not in text
    (line,) = _lines(stream)
    assert line["note"] == [f"x{MASK}y"]


@pytest.mark.parametrize(("kind", "secret"), SHAPES, ids=[kind for kind, _ in SHAPES])
def test_secret_shaped_strings_are_masked(stream: io.StringIO, kind: str, secret: str) -> None:
    """Each secret shape is masked in the message (it was never registered)."""
    LOGGER.info("got %s: %s done", kind, secret)
    text = stream.getvalue()
    assert secret not in text
    assert _lines(stream)[0]["msg"] == f"got {kind}: {MASK} done"


@pytest.mark.parametrize(("text", "expected"), [
    ("GET /api?a=1&passphrase=s3cr3t%20x&b=2", f"GET /api?a=1&passphrase={MASK}&b=2"),
    ('{"passphrase": "two words", "n": 1}', f'{{"passphrase": {MASK}, "n": 1}}'),
    ("KC-API-PASSPHRASE: hunter2", f"KC-API-PASSPHRASE: {MASK}"),
    ("callback?code=123456&state=x", f"callback?code={MASK}&state=x"),
    ("kucoin code 400100: error code=400100", "kucoin code 400100: error code=400100"),
])
def test_named_values_in_text_are_masked(text: str, expected: str) -> None:
    """name=value, name: value and JSON pairs lose the value when the name says secret; error codes stay."""
    assert redact(text) == expected


def test_extra_fields_named_like_secrets_are_masked(stream: io.StringIO) -> None:
    """Extra fields called passphrase, api_secret, seed, totp_code, token, signature or password are masked,
    also inside a dict; kucoin_code is kept."""
    LOGGER.info("details", extra={
        "passphrase": "p1", "api_secret": "s1", "seed": "x", "totp_code": "123456", "token": "t",
        "signature": "sig", "password": "pw", "kucoin_code": "400100",
        "body": {"passphrase": "inner", "apiKey": "6740d3f0c1b2a30001a1b2c3"},
    })
    (line,) = _lines(stream)
    for name in ("passphrase", "api_secret", "seed", "totp_code", "token", "signature", "password"):
        assert line[name] == MASK, name
    assert line["kucoin_code"] == "400100"
    assert line["body"] == {"passphrase": MASK, "apiKey": "6740d3f0c1b2a30001a1b2c3"}


def test_secret_objects_and_exception_text_are_masked(stream: io.StringIO) -> None:
    """A Secret in an extra field prints as the mask; a secret in an exception message is scrubbed from the
    traceback text."""
    api_secret = str(uuid.uuid4())
    try:
        raise RuntimeError(f"KuCoin rejected secret {api_secret}")
    except RuntimeError:
        LOGGER.exception("create failed", extra={"held": Secret("hunter2-hunter2")})
    text = stream.getvalue()
    assert api_secret not in text and "hunter2" not in text
    (line,) = _lines(stream)
    assert line["held"] == MASK
    assert "RuntimeError: KuCoin rejected secret" in str(line["exc"])


def test_other_handlers_on_the_root_see_the_redacted_record() -> None:
    """configure_logging adds redaction to handlers already on the root, so they never see a secret."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    seen = io.StringIO()
    earlier = logging.StreamHandler(seen)
    root.addHandler(earlier)
    ours = configure_logging("INFO", stream=io.StringIO())
    try:
        LOGGER.info("token %s", "xoxb-1111-2222-abcdefabcdef")
    finally:
        root.removeHandler(ours)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert "xoxb-" not in seen.getvalue() and MASK in seen.getvalue()


def test_configure_logging_replaces_its_own_handler(stream: io.StringIO) -> None:
    """Calling configure_logging twice leaves one JSON handler, so lines are not doubled."""
    root = logging.getLogger()
    second = io.StringIO()
    configure_logging("INFO", stream=second)
    LOGGER.info("once")
    assert [h for h in root.handlers if getattr(h, "kukey_json", False)] == root.handlers[-1:]
    assert len(second.getvalue().splitlines()) == 1 and stream.getvalue() == ""


def test_a_broken_format_string_does_not_break_the_caller(stream: io.StringIO) -> None:
    """A log call whose arguments do not match its format is still written and raises nothing."""
    LOGGER.info("two %s %s", "only-one")
    assert "log arguments did not match" in str(_lines(stream)[0]["msg"])


def test_log_lines_carry_the_bound_request_id() -> None:
    """Inside `bound_request`, every JSON log line names the request it belongs to; outside, none does."""
    import io
    import json
    import logging as stdlib_logging

    from bot.logs import bound_request, configure_logging

    stream = io.StringIO()
    root = stdlib_logging.getLogger()
    saved = (root.level, list(root.handlers))
    handler = configure_logging("INFO", stream=stream)
    try:
        log = stdlib_logging.getLogger("kukey.test")
        with bound_request("KK-ABCDEFGH"):
            log.info("inside")
        log.info("outside")
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["msg"], line.get("request_id")) for line in lines] == [("inside", "KK-ABCDEFGH"),
                                                                          ("outside", None)]
