"""A catalog of forged and malformed Slack traffic, each kind with the status kukey must answer.

Forged or broken requests never reach Bolt (4xx from the HTTP gate and its precheck). Validly signed but
meaningless ones reach Bolt: an action or callback id kukey does not have gets Bolt's 404; a modal
submission about a request that does not exist gets 200 with an inline error; a command kukey cannot
parse gets 200 with its usage. Every one of them writes exactly one log line and no audit event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from kukey_sandbox.slack import payloads
from kukey_sandbox.slack.model import Ref
from kukey_sandbox.world import APPROVALS, OUTSIDER, TRADING, KukeyWorld
from tests.hardening.helpers import exchange, form, send_signed

SIG, TS = "X-Slack-Signature", "X-Slack-Request-Timestamp"
USER = {"id": OUTSIDER, "username": "eve", "name": "eve", "team_id": "T0KUKEY"}


@dataclass(frozen=True)
class Hostile:
    name: str
    send: Callable[[], int]  # sends one request, returns the HTTP status
    expected: int


def _view(callback_id: str, metadata: dict[str, str], code: str = "123456") -> dict[str, object]:
    return {"type": "view_submission", "user": USER, "trigger_id": "1.2.3", "view": {
        "id": "V0NOPE", "type": "modal", "callback_id": callback_id, "private_metadata": json.dumps(metadata),
        "state": {"values": {"code": {"code_input": {"type": "plain_text_input", "value": code}}}}}}


def click(action_id: str, value: str, response_url: str = "") -> dict[str, object]:
    payload: dict[str, object] = {
        "type": "block_actions", "user": USER, "trigger_id": "1.2.3", "team": {"id": "T0KUKEY"},
        "container": {"type": "message", "message_ts": "1.1", "channel_id": APPROVALS},
        "channel": {"id": APPROVALS, "name": "kukey-approvals"},
        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button"}]}
    if response_url:
        payload["response_url"] = response_url
    return payload


def _command(text: str, **extra: str) -> bytes:
    """A slash command form from Eve ("-" drops a field)."""
    fields = {"token": "t", "team_id": "T0KUKEY", "channel_id": TRADING, "user_id": OUTSIDER,
              "user_name": "eve", "command": "/kukey", "text": text, "trigger_id": "1.2.3",
              "response_url": "http://127.0.0.1:9/x"}
    fields.update(extra)
    return urlencode({k: v for k, v in fields.items() if v != "-"}).encode()


def catalog(world: KukeyWorld) -> list[Hostile]:
    """Every kind of hostile request, as senders bound to this world."""
    d = world.driver
    assert d.url is not None
    url, secret, good = d.url, world.fake.signing_secret, _command("help")

    def with_headers(body: bytes, **change: str | None) -> Callable[[], int]:
        def send() -> int:
            h = {**d.signed_headers(body), **change}
            return d.send_raw(body, {k: v for k, v in h.items() if v is not None}).status
        return send

    def signed(body: bytes) -> Callable[[], int]:
        return lambda: send_signed(d, body).status

    def raw(head: str, body: bytes = b"") -> Callable[[], int]:
        return lambda: exchange(url, head, body)

    def stamped(offset: int, key: str = secret) -> Callable[[], int]:
        def send() -> int:
            ts = str(int(time.time()) + offset)
            return d.send_raw(good, {**d.signed_headers(good), "X-Slack-Request-Timestamp": ts,
                                     "X-Slack-Signature": payloads.sign(key, ts, good)}).status
        return send

    def approve_click_unknown_request() -> int:
        with world.fake.world.transaction() as w:
            reply = w.issue_response_url(world.fake.base_url, OUTSIDER, APPROVALS, Ref(APPROVALS, "1.1")).url
        return send_signed(d, form(click("kk_approve", "KK-DOESNOTEXIST", reply))).status

    now = str(int(time.time()))
    post = "POST /slack/events HTTP/1.1\nHost: x\n"
    deep = b"payload=" + b"%5B" * 40_000 + b"%5D" * 40_000  # under the size limit
    approve, view, missing = click("kk_approve", "x"), _view("kk_approve_totp", {}), "KK-DOESNOTEXIST"
    json_body = b'{"type": "block_actions"}'
    return [
        Hostile("bad signature", with_headers(good, **{SIG: "v0=" + "0" * 64}), 401),
        Hostile("non-ASCII signature", raw(_head(good, **{SIG: "v0=\u00e9", TS: now}), good), 401),
        Hostile("signature with another secret", stamped(0, key="not-the-secret"), 401),
        Hostile("timestamp 6 minutes old", stamped(-360), 401),
        Hostile("timestamp 6 minutes ahead", stamped(360), 401),
        Hostile("timestamp not a number", with_headers(good, **{TS: "12ab"}), 401),
        Hostile("timestamp in other digits", raw(_head(good, **{TS: "\u00b2\u00b3", SIG: "v0=1"}), good),
                401),
        Hostile("no timestamp header", with_headers(good, **{TS: None}), 401),
        Hostile("no signature header", with_headers(good, **{SIG: None}), 401),
        Hostile("no Slack headers at all", lambda: d.send_raw(good, {"Content-Type": "text/plain"}).status,
                401),
        Hostile("body changed after signing", lambda: d.send_raw(
            good.replace(b"help", b"list"), d.signed_headers(good)).status, 401),
        Hostile("body extended after signing", lambda: d.send_raw(
            good + b"&x=1", d.signed_headers(good)).status, 401),
        Hostile("oversized body", raw(post + f"Content-Length: {300 * 1024}"), 413),
        Hostile("chunked body without length", raw(post + "Transfer-Encoding: chunked"), 411),
        Hostile("length in other digits", raw(post + "Content-Length: \u00b2"), 411),
        Hostile("wrong path", raw(_head(good, path="/slack/other"), good), 404),
        Hostile("payload not JSON", signed(b"payload=%7Bnot+json"), 400),
        Hostile("payload nested too deep", signed(deep), 400),
        Hostile("payload without type", signed(form({"user": USER, "actions": []})), 400),
        Hostile("payload a list", signed(urlencode({"payload": "[1, 2]"}).encode()), 400),
        Hostile("payload with a lone surrogate", signed(form({**approve, "user": {"id": "\ud800"}})), 400),
        Hostile("payload of an unsupported type", signed(form({**approve, "type": "shortcut"})), 400),
        Hostile("view of another type", signed(form({**view, "view": {"type": "workflow_step",
                                                                      "callback_id": "x"}})), 400),
        Hostile("view without type", signed(form({**view, "view": {"callback_id": "x"}})), 400),
        Hostile("user without id", signed(form({**approve, "user": {"name": "eve"}})), 400),
        Hostile("actions not a list", signed(form({**approve, "actions": "kk_approve"})), 400),
        Hostile("JSON body", lambda: d.send_raw(json_body, {**d.signed_headers(json_body),
                                                           "Content-Type": "application/json"}).status, 415),
        Hostile("body not UTF-8", signed(b"command=%2Fkukey&text=\xff\xfe"), 400),
        Hostile("neither command nor payload", signed(b"hello=world"), 400),
        Hostile("command without user", signed(_command("help", user_id="-")), 400),
        Hostile("command with an event type", signed(_command("help", type="event_callback", event="x")),
                400),
        Hostile("unknown action id", signed(form(click("kk_launch_missiles", "x"))), 404),
        Hostile("unknown callback id", signed(form(_view("kk_not_a_view", {"r": "KK-X"}))), 404),
        Hostile("unknown command", signed(_command("help", command="/other")), 404),
        Hostile("approval of a missing request", signed(form(_view("kk_approve_totp", {"r": missing}))), 200),
        Hostile("reveal of a missing request", signed(form(_view("kk_reveal_totp", {"r": missing}))), 200),
        Hostile("denial of a missing request", signed(form(_view("kk_deny_reason", {"r": missing}))), 200),
        Hostile("approve click on a missing request", approve_click_unknown_request, 200),
        Hostile("command with garbage text", signed(_command("\u2603 launch --all ; DROP TABLE x")), 200),
        Hostile("create with garbage options", signed(_command("create alpha-trading perms=Root")), 200),
    ]


def _head(body: bytes, path: str = "/slack/events", **headers: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/x-www-form-urlencoded",
             f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return "\n".join(lines)


__all__ = ["Hostile", "catalog", "click"]
