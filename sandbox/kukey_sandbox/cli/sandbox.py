"""`kukey sandbox <name>`: run a local fake of an outside service. `kucoin` is the KuCoin sandbox."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from bot.errors import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sandbox", help="run a local sandbox of an outside service")
    parser.set_defaults(func=_need_target)
    targets = parser.add_subparsers(dest="sandbox", metavar="SANDBOX", parser_class=type(parser))
    kucoin = targets.add_parser("kucoin", help="a local KuCoin (sub-account API key endpoints)")
    kucoin.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    kucoin.add_argument("--seed", type=Path, default=None, help="seed JSON (default: the bundled seed)")
    kucoin.set_defaults(func=run_kucoin)


def _need_target(args: argparse.Namespace) -> int:
    raise UsageError("name the sandbox to run", usage="kukey sandbox kucoin [--port N] [--seed FILE]")


def run_kucoin(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C (or until `stop` is set); print the URL and the fake credentials it accepts."""
    from kukey_sandbox.kucoin import KucoinSandbox

    if args.seed is not None and not args.seed.is_file():
        raise UsageError(f"seed file {str(args.seed)!r} does not exist")
    stop = stop or threading.Event()
    try:  # Ctrl-C at any moment, even while the settings are printed (someone who read the first line), stops it
        with KucoinSandbox(seed=args.seed, port=args.port) as sandbox:
            print(f"KuCoin sandbox listening on {sandbox.url}")
            print("Sandbox-only fake credentials (use them as kukey's environment):")
            print(f"KUCOIN_API_URL={sandbox.url}")
            for creds in sandbox.all_master_credentials():
                print(f"KUCOIN_API_KEY={creds.api_key}")
                print(f"KUCOIN_API_SECRET={creds.api_secret.reveal()}")
                print(f"KUCOIN_API_PASSPHRASE={creds.api_passphrase.reveal()}")
            print("Press Ctrl-C to stop.", flush=True)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        print("KuCoin sandbox stopped.", flush=True)
    return 0
