"""Act as a demo user of a running `kukey demo --keep` and see what they see.

    python -m kukey_sandbox.demo.send [--url URL] USER COMMAND...   one command, e.g. alice /kukey pending
    python -m kukey_sandbox.demo.send [--url URL]                   a prompt: one `USER COMMAND` per line

URL is the "demo control" address `kukey demo --keep` prints (or $KUKEY_DEMO_URL). Exit code 1 when the
command could not be done (the reason is printed), 2 when the demo cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

TIMEOUT_S = 30.0
DESCRIPTION = "Act as a demo user of a running `kukey demo --keep` and see what they see."


class Unreachable(Exception):
    """The demo is not running at that URL."""


def send(url: str, user: str, command: str) -> tuple[bool, list[str]]:
    """(done, lines): POST one command to the demo's control endpoint."""
    if not url.startswith("http://127.0.0.1:"):
        raise Unreachable(f"{url!r} is not a kukey demo control URL (http://127.0.0.1:PORT/TOKEN)")
    body = json.dumps({"user": user, "command": command}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"},  # noqa: S310
                                     method="POST")  # (the URL was checked above: http to 127.0.0.1 only)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 (checked above)
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            answer = json.loads(exc.read() or b"{}")
        return False, [str(answer.get("error", f"HTTP {exc.code}"))]
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(f"cannot reach the demo at {url}: is `kukey demo --keep` still running? ({exc})") from None
    return True, [str(line) for line in answer.get("lines", [])]


def one(url: str, words: Sequence[str]) -> int:
    if len(words) < 2:
        print("give a user and a command, e.g.: alice /kukey help", file=sys.stderr)
        return 1
    done, lines = send(url, words[0], " ".join(words[1:]))
    for line in lines:
        print(line if done else f"kukey demo: {line}")
    return 0 if done else 1


def prompt(url: str) -> int:
    print("Type `USER COMMAND`, e.g. `alice /kukey help` or `bob click Approve`; Ctrl-D to leave.")
    while True:
        try:
            line = input("kukey-demo> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line:
            one(url, line.split(" ", 1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kukey_sandbox.demo.send", description=DESCRIPTION)
    parser.add_argument("--url", default=os.environ.get("KUKEY_DEMO_URL"),
                        help="the demo control URL (default: $KUKEY_DEMO_URL)")
    parser.add_argument("words", nargs=argparse.REMAINDER, help="USER COMMAND...")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no --url and no KUKEY_DEMO_URL: copy the 'demo control' URL `kukey demo --keep` printed")
    try:
        return one(args.url, args.words) if args.words else prompt(args.url)
    except Unreachable as exc:
        print(f"kukey demo: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
