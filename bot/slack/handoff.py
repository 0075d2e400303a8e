"""The work behind the acks, handed to another process through Bolt's own lazy-listener mechanism.

Bolt runs a listener's lazy functions through its `LazyListenerRunner`; its AWS Lambda adapter swaps that
runner for one that sends the request to another process, which dispatches it again with the headers
`x-slack-bolt-lazy-only` and `x-slack-bolt-lazy-function-name`, so that only that lazy function runs there.
`HandoffRunner` does the same for `kukey worker` (bot.cli.worker): the serving process acks and hands each
lazy call over as a small JSON-ready dict (a "frame"); the worker, built with the same listeners, rebuilds
the request with `lazy_request` and dispatches it. The work never shares a GIL with the acks.

A frame holds the request as Slack sent it (the raw form or JSON in HTTP mode, the payload in Socket Mode),
so it carries what the request carries (a response_url, a trigger_id): it travels only over the local
socket to the worker and is never logged.

`CommandShortcut` hands a slash command whose ack is empty straight from the HTTP gate (bot.slack.http), as
the frame Bolt's runner would have made, without dispatching it in Bolt first. Written here because Bolt's
API has no cheaper lazy-only path: its listener runner deep-copies the request and its context (the Web API
client, the helpers) for every lazy function, and the listeners' matchers parse the command once each; for
a `/kukey create` that was more than half the serving process's CPU, taken from the acks under load
(issue 16.1). Only the serving process's side is ours: the worker dispatches the frame through Bolt, which
matches the listener and runs its lazy function, exactly as for a frame Bolt's runner made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner, ThreadLazyListenerRunner

Frame = dict[str, Any]
LAZY_ONLY = "x-slack-bolt-lazy-only"
LAZY_NAME = "x-slack-bolt-lazy-function-name"
_HANDED = "kukey_handed"
_URGENT = "urgent"

log = logging.getLogger("kukey.handoff")


def handed(function: Callable[..., None], *, urgent: bool = False) -> Callable[..., None]:
    """Mark a lazy function as work the worker may run: heavy, and bound to no trigger_id. Unmarked ones (a
    click opening a modal within the trigger_id's ~3 s, a reveal holding a secret) run in this process.
    `urgent`: its frame goes at once, never held for a burst of acks, and runs beside the jobs (an incident
    revoke's preparation)."""
    setattr(function, _HANDED, _URGENT if urgent else True)  # an attribute on the function, read by HandoffRunner
    return function


class HandoffRunner(LazyListenerRunner):
    """Bolt's lazy-listener runner for the serving process: the lazy calls marked `handed` go to `send` as
    frames; the others run here, on Bolt's own thread runner and the app's listener executor."""

    def __init__(self, send: Callable[[Frame], None], here: LazyListenerRunner) -> None:
        self.logger = log
        self._send = send
        self._here = here

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        if marked := getattr(function, _HANDED, False):
            frame = frame_of(request)
            if marked == _URGENT:
                frame["urgent"] = True
            self._send(frame)
        else:
            self._here.start(function, request)


def frame_of(request: BoltRequest) -> Frame:
    """What the worker needs to dispatch `request`'s lazy function again: body, headers and mode."""
    body: str | dict[str, Any] = request.raw_body if request.mode == "http" else request.body
    return _frame(request.mode, body, request.headers, str(request.lazy_function_name))


def _frame(mode: str, body: str | dict[str, Any], headers: Mapping[str, Sequence[str]], lazy_name: str) -> Frame:
    """The frame of the lazy function `lazy_name` for a request: its headers plus Bolt's lazy-only ones."""
    return {"mode": mode, "body": body,
            "headers": {**{name: list(values) for name, values in headers.items()},
                        LAZY_ONLY: ["1"], LAZY_NAME: [lazy_name]}}


class CommandShortcut:
    """For the HTTP gate: a slash command (`command`) whose ack is empty and whose work is the handed lazy
    function named `lazy_name` (`takes(form)` says which: it parses the command as the listeners would) goes
    to `send` as that function's frame; the gate then acks it. Anything else is Bolt's, as before."""

    def __init__(self, send: Callable[[Frame], None], *, command: str, lazy_name: str,
                 takes: Callable[[dict[str, str]], bool]) -> None:
        self._send = send
        self._command = command
        self._lazy_name = lazy_name
        self._takes = takes

    def __call__(self, body: bytes, headers: Mapping[str, list[str]]) -> bool:
        """True: `body` (a form, as Bolt gets it: bot.slack.http.bolt_safe) was handed over; ack it empty."""
        if body.startswith(b"{") or b"command=" not in body:
            return False
        text = body.decode("utf-8")
        form = dict(parse_qsl(text, keep_blank_values=True))  # last value wins, as in Bolt
        if "payload" in form or form.get("command") != self._command or not self._takes(form):
            return False
        self._send(_frame("http", text, headers, self._lazy_name))
        return True


def lazy_request(frame: Frame) -> BoltRequest:
    """The lazy-only request a frame describes (in the worker)."""
    return BoltRequest(body=frame["body"], headers=frame["headers"], mode=str(frame["mode"]))


def hand_off(app: App, send: Callable[[Frame], None]) -> None:
    """From now on `app`'s lazy functions run wherever `send` takes their frames."""
    runner = app.listener_runner
    runner.lazy_listener_runner = HandoffRunner(send, ThreadLazyListenerRunner(log, runner.listener_executor))


def run_handed(app: App, frame: Frame) -> None:
    """Run, in this process, the lazy function a frame names (Bolt matches the listener again)."""
    app.dispatch(lazy_request(frame))
