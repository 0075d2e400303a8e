"""`kukey run [--http --port N]`: start the bot (Socket Mode by default).

It first runs every preflight check (bot.preflight, the same as `kukey doctor`): any FAIL stops it before
anything connects, with one line per problem on stderr and exit code 2; a WARN is printed and it starts.
"""

from __future__ import annotations

import argparse
import signal
import threading

from bot import config
from bot.cli.startup import REFUSED, ready


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the bot (Socket Mode; --http for HTTP mode)")
    p.add_argument("--http", action="store_true", help="serve Slack's requests on /slack/events")
    p.add_argument("--host", default="0.0.0.0", help="HTTP mode: address to bind (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=3000, help="HTTP mode: port (default 3000)")
    p.add_argument("--no-worker", action="store_true",
                   help="run the work behind the acks in this process, not in a `kukey worker` child")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.preflight import run_preflight

    if not ready(run_preflight(http_mode=args.http), "run"):
        return REFUSED
    from bot.app import build  # Bolt and every layer: imported only once the preflight passed
    from bot.logs import Redactor, configure_logging
    from bot.ops.settle import settle

    need = [config.KUCOIN, config.MASTER_KEY, config.POLICY,
            config.SLACK_HTTP if args.http else config.SLACK_SOCKET]
    settings = config.Settings.from_env(need=need)
    configure_logging(settings.log_level, redactor=Redactor.for_settings(settings))
    kukey = build(settings)
    if not args.no_worker:  # the work behind the acks in a child process (bot.cli.worker)
        from bot.ops.worker import WorkerProcess, worker_command

        kukey.hand_off_to(WorkerProcess(worker_command()).start())
    settle()  # start-up's objects out of the collector's scans before the first request (bot.ops.settle)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.http:
        transport = kukey.start_http(host=args.host, port=args.port)
        print(f"kukey: listening on http://{args.host}:{transport.port}/slack/events", flush=True)
    else:
        kukey.start_socket()
        print("kukey: connected to Slack (Socket Mode)", flush=True)
    if kukey.ops_port is not None:
        print(f"kukey: ops endpoints on port {kukey.ops_port}: /livez /readyz /metrics", flush=True)
    stop.wait()
    kukey.stop()
    return 0
