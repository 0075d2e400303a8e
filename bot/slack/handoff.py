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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner, ThreadLazyListenerRunner

Frame = dict[str, Any]
LAZY_ONLY = "x-slack-bolt-lazy-only"
LAZY_NAME = "x-slack-bolt-lazy-function-name"
_HANDED = "kukey_handed"

log = logging.getLogger("kukey.handoff")


def handed(function: Callable[..., None]) -> Callable[..., None]:
    """Mark a lazy function as work the worker may run: heavy, and bound to no trigger_id. Unmarked ones (a
    click opening a modal within the trigger_id's ~3 s, a reveal holding a secret) run in this process."""
    setattr(function, _HANDED, True)  # an attribute on the function, read by HandoffRunner
    return function


class HandoffRunner(LazyListenerRunner):
    """Bolt's lazy-listener runner for the serving process: the lazy calls marked `handed` go to `send` as
    frames; the others run here, on Bolt's own thread runner and the app's listener executor."""

    def __init__(self, send: Callable[[Frame], None], here: LazyListenerRunner) -> None:
        self.logger = log
        self._send = send
        self._here = here

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        if getattr(function, _HANDED, False):
            self._send(frame_of(request))
        else:
            self._here.start(function, request)


def frame_of(request: BoltRequest) -> Frame:
    """What the worker needs to dispatch `request`'s lazy function again: body, headers and mode."""
    headers = {name: list(values) for name, values in request.headers.items()}
    headers[LAZY_ONLY] = ["1"]
    headers[LAZY_NAME] = [str(request.lazy_function_name)]
    body: str | dict[str, Any] = request.raw_body if request.mode == "http" else request.body
    return {"mode": request.mode, "body": body, "headers": headers}


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
