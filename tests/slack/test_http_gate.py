"""bot.slack.http: the WSGI gate in front of Bolt verifies the signature, once, and keeps commands that say
"payload" commands."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from slack_bolt import BoltRequest

from bot.slack.http import bolt_safe
from kukey_sandbox.world import OUTSIDER, REQUESTER, TRADING, KukeyWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path) as w:
        yield w


def _help(user: str = REQUESTER) -> bytes:
    return urlencode({"token": "t", "team_id": "T0KUKEY", "channel_id": TRADING, "user_id": user,
                      "user_name": "alice", "command": "/kukey", "text": "help", "trigger_id": "1.2.3",
                      "response_url": "http://127.0.0.1:9/x"}).encode()


def test_the_signature_is_verified_once_by_the_gate_not_by_bolt(world: KukeyWorld) -> None:
    """Bolt's own verification is off (Bolt answers an unsigned command itself), yet over HTTP an unsigned
    or forged command is refused by the gate and a signed one is answered: one verification per request."""
    body = _help()
    direct = world.bot.app.dispatch(BoltRequest(body=body.decode(), headers={
        "content-type": "application/x-www-form-urlencoded"}))
    assert direct.status == 200 and "/kukey create" in (direct.body or "")
    assert world.driver.send_raw(body, {"Content-Type": "application/x-www-form-urlencoded"}).status == 401
    forged = {**world.driver.signed_headers(body), "X-Slack-Signature": "v0=" + "0" * 64}
    assert world.driver.send_raw(body, forged).status == 401
    signed = world.driver.send_raw(body, world.driver.signed_headers(body))
    assert signed.status == 200 and "/kukey create" in signed.message()["text"]


def test_http_mode_refuses_to_start_without_a_signing_secret(tmp_path: Path) -> None:
    """Without a signing secret nothing would verify Slack's requests: start_http refuses, naming it."""
    from bot.app import build
    from bot.config import Settings
    from bot.errors import ConfigError

    with KukeyWorld(home=tmp_path, run_bot=False) as world:
        env = {**world.env(), "SLACK_SIGNING_SECRET": ""}
        bot = build(Settings.from_env(env, need=["kucoin", "master_key", "policy"]), clock=world.clock)
        try:
            with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
                bot.start_http()
        finally:
            bot.stop()


@pytest.mark.parametrize("text", ["payload", "sign the payload please", "PAYLOAD payload=x&payload",
                                  "pay load", ""])
def test_a_command_keeps_its_fields_without_the_word_bolt_misreads(text: str) -> None:
    """A command body never carries the literal word "payload" to Bolt, and decodes to the same fields."""
    raw = urlencode({"command": "/kukey", "text": text, "user_id": OUTSIDER}).encode()
    safe = bolt_safe(raw)
    assert b"payload" not in safe
    assert parse_qsl(safe.decode(), keep_blank_values=True) == parse_qsl(raw.decode(), keep_blank_values=True)


def test_an_interaction_is_passed_as_it_came() -> None:
    """A body with a `payload` field (an interaction) and one without the word are left byte for byte."""
    interaction = urlencode({"payload": '{"type": "block_actions", "text": "payload"}'}).encode()
    assert bolt_safe(interaction) == interaction
    assert bolt_safe(_help()) == _help()


def test_a_command_saying_payload_over_http_is_answered(world: KukeyWorld) -> None:
    """Through the whole HTTP path, `/kukey payload` reaches kukey's command listener (its usage answer)."""
    started = time.monotonic()
    ack = world.driver.slash(REQUESTER, TRADING, "payload")
    assert ack.status == 200 and time.monotonic() - started < 3
    assert "/kukey" in ack.message()["text"]
