"""The framework's floor: a Bolt app whose only listener acks `/kukey`, configured like kukey's (signed
requests, process_before_response=True, the same WebClient setup) and served by the same server
(bot.slack.transport.HttpTransport), without kukey's precheck, services or database.

`python -m bench.bare --port N` with SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and SLACK_API_URL set;
prints "listening on <url>" and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack.transport import HttpTransport


def make_app(*, signing_secret: str, token: str, api_url: str) -> App:
    quiet = logging.getLogger("bench.bare.bolt")
    quiet.setLevel(logging.ERROR)
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
    args = parser.parse_args()
    app = make_app(signing_secret=os.environ["SLACK_SIGNING_SECRET"], token=os.environ["SLACK_BOT_TOKEN"],
                   api_url=os.environ["SLACK_API_URL"])
    transport = HttpTransport(app, host="127.0.0.1", port=args.port, get_routes={"/healthz": _ok}).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"listening on {transport.url}", flush=True)
    stop.wait()
    transport.stop()
    return 0


def _ok() -> tuple[int, str, bytes]:
    return 200, "text/plain; charset=utf-8", b"ok\n"


if __name__ == "__main__":
    raise SystemExit(main())
