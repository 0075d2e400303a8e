"""The framework's floor: a Bolt app whose only listener acks `/kukey`, configured like kukey's (signed
requests, process_before_response=True, the same WebClient setup) and served by the same server and
configuration (bot.slack.http.HttpTransport on bot.ops.server), without kukey's precheck (Bolt verifies
the signature itself here), services or database.

`python -m bench.bare --port N --ops-port M` with SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and SLACK_API_URL
set; serves /readyz on the ops port like kukey, prints "listening on <url>" and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.ops.endpoints import ops_server
from bot.ops.health import Readiness
from bot.ops.metrics import Metrics
from bot.slack.connections import keep_alive
from bot.slack.http import HttpTransport


def make_app(*, signing_secret: str, token: str, api_url: str) -> App:
    quiet = logging.getLogger("bench.bare.bolt")
    quiet.setLevel(logging.ERROR)
    keep_alive(api_url)  # its WebClient calls Slack as kukey's do (bot.slack.client.make_web_client)
    app = App(logger=quiet, token=token, signing_secret=signing_secret,
              client=WebClient(token=token, base_url=api_url), process_before_response=True,
              token_verification_enabled=False, request_verification_enabled=True)

    @app.command("/kukey")
    def ack_only(ack: Ack) -> None:
        ack()

    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ops-port", type=int, default=0)
    args = parser.parse_args()
    app = make_app(signing_secret=os.environ["SLACK_SIGNING_SECRET"], token=os.environ["SLACK_BOT_TOKEN"],
                   api_url=os.environ["SLACK_API_URL"])
    transport = HttpTransport(app, host="127.0.0.1", port=args.port).start()
    ops = ops_server(Metrics(), Readiness(), host="127.0.0.1", port=args.ops_port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"listening on {transport.url}", flush=True)
    stop.wait()
    transport.stop()
    ops.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
