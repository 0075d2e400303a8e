"""`kukey demo [--keep] [--dir DIR]`: see kukey work in seconds, with no Slack workspace and no KuCoin account.

It starts the KuCoin sandbox and the Slack fake on 127.0.0.1, runs the real bot against them over real
HTTP, plays the whole story with demo users and prints what each person sees in Slack (secrets masked).
The database stays in DIR (default: a new temporary folder), which is printed at the end. With --keep,
everything keeps running and `python -m kukey_sandbox.demo.send` acts as any demo user until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import KukeyError

if TYPE_CHECKING:
    from kukey_sandbox.demo.story import DemoStory
    from kukey_sandbox.world import KukeyWorld


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="play the whole kukey story against a built-in Slack and KuCoin sandbox")
    p.add_argument("--keep", action="store_true",
                   help="leave the sandbox, the Slack fake and the bot running afterwards (Ctrl-C stops)")
    p.add_argument("--dir", type=Path, metavar="DIR",
                   help="where to keep the database and policy (default: a new folder under the temp dir)")
    p.set_defaults(func=demo)


def _say(line: str = "") -> None:
    print(line, flush=True)


def demo(args: argparse.Namespace) -> int:
    from kukey_sandbox.demo.clock import RunningClock
    from kukey_sandbox.demo.story import DemoStory, demo_policy
    from kukey_sandbox.world import KukeyWorld

    home = _home(args.dir)
    started = time.monotonic()
    _say("kukey demo: a KuCoin sandbox, a Slack fake and the real kukey bot on 127.0.0.1; alice asks for keys,")
    _say("bob and carol approve, dave handles incidents. > lines: what people do; [where] lines: what they see.")
    with KukeyWorld(home=home, clock=RunningClock(), policy_text=demo_policy()) as world:
        story = DemoStory(world, _say)
        try:
            outcome = story.play()
        except KukeyError as exc:
            _say(f"kukey demo: FAILED: {exc}")
            _say(f"The database is kept in {home} for a look.")
            return 1
        _say(f"Database: {world.db_path} (kept after the run; delete {home} when done)")
        _say(f"  read its audit log: KUKEY_DATABASE_URL=sqlite:///{world.db_path} kukey audit tail")
        _say(f"kukey demo: OK in {time.monotonic() - started:.1f} s: 3 keys created and each shown once, one rotated, "
             "its IP whitelist changed under approval, one approved from a DM after a reminder, a self-approval "
             f"refused, the last {outcome.revoked} deleted by the kill switch, {outcome.audit_events} audit events "
             "verified.")
        if args.keep:
            return _keep_running(world, story)
    return 0


def _home(chosen: Path | None) -> Path:
    if chosen is None:
        return Path(tempfile.mkdtemp(prefix="kukey-demo-"))
    chosen.mkdir(parents=True, exist_ok=True)
    if (chosen / "kukey.db").exists():
        raise KukeyError(f"{chosen} already holds a kukey.db; choose an empty folder for the demo")
    return chosen


def _keep_running(world: KukeyWorld, story: DemoStory) -> int:
    from kukey_sandbox.demo.control import ControlServer, instructions

    # the suppress: also a Ctrl-C that comes before the wait begins (someone who read the first line)
    with contextlib.suppress(KeyboardInterrupt), ControlServer(world, story, echo=_say) as control:
        for line in instructions(world, control.url):
            _say(line)
        _say("kukey demo: running. Press Ctrl-C to stop.")
        _wait_forever(threading.Event().wait)
    _say("kukey demo: stopped.")
    return 0


def _wait_forever(wait: Callable[[float], bool]) -> None:
    """Until Ctrl-C (or SIGTERM, as `docker stop` and service managers send)."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        while not wait(1.0):
            pass
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
