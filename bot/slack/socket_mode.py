"""Socket Mode: the bot dials out to the WebSocket URL `apps.connections.open` returns; Slack sends each
request as an envelope, and Bolt's handler answers it with an ack carrying the envelope's id."""

from __future__ import annotations

import time

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.slack.http import AckObserver


class TimedSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler, timing each envelope from the moment the handler receives it until its
    ack is sent (Bolt's `handle` runs the app, then sends the ack; an envelope no listener takes gets no ack
    and is timed all the same). Socket Mode has no HTTP status: the observer gets 200."""

    def __init__(self, app: App, *, app_token: str, web_client: WebClient, on_ack: AckObserver | None) -> None:
        super().__init__(app, app_token=app_token, web_client=web_client)
        self._on_ack = on_ack

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override] # as Bolt's
        started = time.perf_counter()
        super().handle(client, req)
        if self._on_ack is not None:
            self._on_ack(time.perf_counter() - started, 200)


class SocketTransport:
    """Socket Mode, connected in the background by slack_sdk's built-in client."""

    def __init__(self, app: App, *, app_token: str, web_client: WebClient,
                 on_ack: AckObserver | None = None) -> None:
        self._handler = TimedSocketModeHandler(app, app_token=app_token, web_client=web_client, on_ack=on_ack)

    def start(self) -> SocketTransport:
        self._handler.connect()  # type: ignore[no-untyped-call]
        return self

    def stop(self) -> None:
        self._handler.close()  # type: ignore[no-untyped-call]
