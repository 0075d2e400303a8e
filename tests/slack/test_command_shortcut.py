"""The HTTP gate's shortcut (bot.slack.handoff.CommandShortcut): with a worker process, a slash command whose
ack is empty and whose work is the worker's is handed over by the gate without Bolt's dispatch in the
serving process; everything else still goes through Bolt, and the worker's Bolt runs the handed work."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.lazy_listener import ThreadLazyListenerRunner

from bot.app import build
from bot.config import Settings
from bot.domain.clock import SystemClock
from bot.ops.worker import WorkerProcess, worker_command
from bot.slack.handoff import LAZY_NAME, LAZY_ONLY, CommandShortcut, Frame, HandoffRunner, handed
from bot.slack.http import SlackGate
from bot.slack.precheck import slack_precheck
from kukey_sandbox.slack.driver import SlackDriver
from kukey_sandbox.world import APPROVALS, REQUESTER, TRADING, KukeyWorld

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 shortcut test"
SECRET = "shortcut-test-signing-secret"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock()) as w:
        yield w


def _serving_with_worker(world: KukeyWorld, dispatched: list[str]) -> None:
    """kukey serving HTTP in this process with its work in a `kukey worker` child (as `kukey run` does); every
    command the serving process's Bolt dispatches is recorded in `dispatched` (a Bolt middleware)."""
    settings = Settings.from_env(world.env(), need=["kucoin", "master_key", "policy", "slack_http"])
    kukey = build(settings, clock=world.clock, scheduler_interval=0.05)

    def record(body: dict[str, Any], next: Any) -> BoltResponse:  # Bolt's parameter name
        if "command" in body:
            dispatched.append(str(body.get("text")))
        return next()  # type: ignore[no-any-return]

    kukey.app.use(record)
    kukey.hand_off_to(WorkerProcess(worker_command(), env={**os.environ, **world.env()}).start())
    world.driver = SlackDriver(world.fake, url=kukey.start_http().url)
    world.bot = kukey  # stopped with the world


def test_a_create_is_handed_to_the_worker_without_bolt_and_the_rest_still_goes_through_bolt(
        world: KukeyWorld) -> None:
    """With a worker, `/kukey create ...` is acked empty by the gate and never dispatched by the serving
    process's Bolt, yet the worker makes and posts the request (its Bolt finds the handed work by name);
    help (answered in the ack), a command that does not parse (its usage in the ack) and the create form
    (opened with the trigger_id here) still go through Bolt."""
    dispatched: list[str] = []
    _serving_with_worker(world, dispatched)
    ack = world.driver.slash(REQUESTER, TRADING, CREATE)
    assert ack.ok and ack.message() == {}
    world.wait(lambda: [m for m in world.fake.messages(APPROVALS) if "alpha-trading" in m.content], timeout=30,
               what="the request posted by the worker")
    assert dispatched == []
    assert "/kukey create" in world.driver.slash(REQUESTER, TRADING, "help").message()["text"]
    assert "perms" in world.driver.slash(REQUESTER, TRADING, "create alpha-trading perms=Nonsense").message()["text"]
    assert world.driver.slash(REQUESTER, TRADING, "create").ok
    assert dispatched == ["help", "create alpha-trading perms=Nonsense", "create"]


class _Bolt:
    """A WSGI app standing in for Bolt's adapter in the gate's unit tests: records what reaches it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.bodies.append(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"from bolt"]


def _post(gate: SlackGate, form: dict[str, str]) -> tuple[str, bytes]:
    """POST a signed form to `gate` as waitress would; its status line and body."""
    raw = urlencode(form).encode()
    stamp = str(int(time.time()))
    signature = "v0=" + hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    environ = {"PATH_INFO": "/slack/events", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(raw)),
               "CONTENT_TYPE": "application/x-www-form-urlencoded", "HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp,
               "HTTP_X_SLACK_SIGNATURE": signature, "HTTP_X_SLACK_RETRY_NUM": "1", "wsgi.input": io.BytesIO(raw)}
    statuses: list[str] = []
    out = b"".join(gate(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    return statuses[0], out


def _form(text: str) -> dict[str, str]:
    return {"command": "/kukey", "text": text, "user_id": REQUESTER, "channel_id": TRADING, "team_id": "T0KUKEY",
            "trigger_id": "1.2.3", "response_url": "http://127.0.0.1:9/x"}


def test_the_shortcut_frame_is_the_request_as_bolt_would_hand_it_and_the_ack_is_empty() -> None:
    """A command the listeners take is answered 200 with an empty body and becomes the frame of the named lazy
    function: the body as Bolt gets it (a text saying "payload" kept a command), the request's headers, and
    the lazy-only headers; Bolt never sees it. A command they do not take goes to Bolt."""
    frames: list[Frame] = []
    bolt = _Bolt()
    shortcut = CommandShortcut(frames.append, command="/kukey", lazy_name="work",
                               takes=lambda form: form["text"].startswith("create"))
    gate = SlackGate(bolt, precheck=slack_precheck(SECRET), shortcut=shortcut)
    assert _post(gate, _form("create the payload")) == ("200 OK", b"")
    assert bolt.bodies == []
    (frame,) = frames
    assert frame["mode"] == "http"
    assert dict(parse_qsl(frame["body"]))["text"] == "create the payload" and "payload" not in frame["body"]
    assert frame["headers"][LAZY_ONLY] == ["1"] and frame["headers"][LAZY_NAME] == ["work"]
    assert frame["headers"]["x-slack-retry-num"] == ["1"]
    assert frame["headers"]["content-type"] == ["application/x-www-form-urlencoded"]
    assert frame["headers"]["content-length"] == [str(len(frame["body"]))]  # of the body Bolt gets
    assert json.loads(json.dumps(frame)) == frame  # travels as JSON to the worker
    assert _post(gate, _form("help")) == ("200 OK", b"from bolt")
    assert _post(gate, {**_form("create x"), "command": "/other"}) == ("200 OK", b"from bolt")
    assert len(frames) == 1 and len(bolt.bodies) == 2


def test_without_the_gates_own_signature_check_or_when_the_shortcut_fails_bolt_answers(
        caplog: pytest.LogCaptureFixture) -> None:
    """The shortcut only acts on what the gate verified (no precheck: Bolt verifies, and gets everything);
    a shortcut that raises leaves the command to Bolt, with one warning naming the error's type."""
    frames: list[Frame] = []
    bolt = _Bolt()
    unverified = SlackGate(bolt, precheck=None,
                           shortcut=CommandShortcut(frames.append, command="/kukey", lazy_name="work",
                                                    takes=lambda form: True))
    assert _post(unverified, _form("create x")) == ("200 OK", b"from bolt")

    def broken(form: dict[str, Any]) -> bool:
        raise LookupError("parser state")

    failing = SlackGate(bolt, precheck=slack_precheck(SECRET),
                        shortcut=CommandShortcut(frames.append, command="/kukey", lazy_name="work", takes=broken))
    with caplog.at_level(logging.WARNING, logger="kukey.transport"):
        assert _post(failing, _form("create x")) == ("200 OK", b"from bolt")
    assert frames == [] and len(bolt.bodies) == 2
    assert [r.getMessage() for r in caplog.records] == ["command shortcut failed; left to Bolt"]
    assert caplog.records[0].error == "LookupError"  # type: ignore[attr-defined]


def test_a_lazy_function_handed_as_urgent_goes_in_an_urgent_frame() -> None:
    """`handed(urgent=True)` (an incident revoke's preparation): its frame is marked urgent, so that the
    serving process never holds it for a burst of acks and the worker runs it beside the jobs; other handed
    functions' frames are not."""
    sent: list[Frame] = []
    runner = HandoffRunner(sent.append, ThreadLazyListenerRunner(logging.getLogger("test"), ThreadPoolExecutor(1)))
    request = BoltRequest(body=urlencode({"command": "/kukey", "text": "revoke alpha-trading all"}), mode="http")
    request.lazy_function_name = "prepare_form"
    runner.start(handed(lambda: None, urgent=True), request)
    runner.start(handed(lambda: None), request)
    assert [frame.get("urgent") for frame in sent] == [True, None]
    assert sent[0]["headers"][LAZY_NAME] == ["prepare_form"] and sent[0]["headers"][LAZY_ONLY] == ["1"]
