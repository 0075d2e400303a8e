"""Helpers for the Slack fake's tests: a populated workspace, a tiny bolt App, and ways to serve it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.clock import FakeClock
from kukey_sandbox.slack import SlackFake

ALICE, BOB, CAROL, GONE = "U0ALICE", "U0BOB", "U0CAROL", "U0GONE"
APPROVALS, PRIVATE, SECRET, OLD = "C0APPROVALS", "G0PRIVATE", "G0SECRET", "C0OLD"
APPROVERS = "S0APPROVERS"

MODAL = {
    "type": "modal", "callback_id": "code_modal", "private_metadata": "req-1",
    "title": {"type": "plain_text", "text": "Approve request"},
    "submit": {"type": "plain_text", "text": "Approve"},
    "blocks": [{"type": "input", "block_id": "code", "label": {"type": "plain_text", "text": "TOTP code"},
                "element": {"type": "plain_text_input", "action_id": "value"}}],
}


def button_blocks(*labels: str, text: str = "Request #1") -> list[dict[str, Any]]:
    """A section and an actions block with one button per label (action_id = label lowercased)."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": "decide", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": label.lower(),
             "value": f"v-{label.lower()}"} for label in labels]},
    ]


def populated(clock: FakeClock | None = None) -> SlackFake:
    """A started fake with people, channels and a user group (stop it when done)."""
    fake = SlackFake(clock=clock or FakeClock()).start()
    fake.add_user(ALICE, "alice", real_name="Alice A")
    fake.add_user(BOB, "bob", real_name="Bob B")
    fake.add_user(CAROL, "carol")
    fake.add_user(GONE, "gone", deleted=True)
    fake.add_channel(APPROVALS, "approvals", members=[ALICE, BOB, fake.bot_user_id])
    fake.add_channel(PRIVATE, "private", members=[ALICE, fake.bot_user_id], is_private=True)
    fake.add_channel(SECRET, "secret", members=[ALICE], is_private=True)
    fake.add_channel(OLD, "old", members=[ALICE, fake.bot_user_id])
    fake.archive(OLD)
    fake.add_usergroup(APPROVERS, "approvers", users=[ALICE, BOB, GONE])
    return fake


def slack_error(call: Callable[[], Any]) -> str:
    """Run a Web API call that must fail; return Slack's error code."""
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def bolt_app(fake: SlackFake, **kw: Any) -> App:
    """A bolt App talking to the fake's Web API (auth.test runs at construction, as in production)."""
    client = WebClient(base_url=fake.api_url, token=fake.bot_token)
    return App(client=client, signing_secret=fake.signing_secret, **kw)


@contextmanager
def serve_http(app: App) -> Iterator[str]:
    """Serve `app` over real HTTP on 127.0.0.1; yields the events URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            headers = {k.lower(): v for k, v in self.headers.items()}
            response = app.dispatch(BoltRequest(body=body, headers=headers))
            data = response.body.encode()
            self.send_response(response.status)
            for name, values in response.headers.items():
                for value in values if name.lower() != "content-length" else []:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64  # twenty simultaneous clicks must not wait for SYN retries

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_socket(app: App, fake: SlackFake) -> Iterator[SocketModeHandler]:
    """Connect `app` to the fake with bolt's builtin SocketModeHandler."""
    handler = SocketModeHandler(app, app_token=fake.app_token)
    handler.connect()
    try:
        assert fake.socket.wait_connected(5)
        yield handler
    finally:
        handler.close()
