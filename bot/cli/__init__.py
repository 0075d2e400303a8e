"""`kukey` command line. Each module in this package registers its own subcommands.

A module exposes `register(subparsers)`; each parser it adds sets `func=handler`, where
`handler(args) -> int` returns the exit code. Expected failures are KukeyError and become one
clear message on stderr (exit 2); nothing prints a traceback to the user.

`kukey demo` and `kukey sandbox` come from the optional `kukey-sandbox` distribution (the extra
`kukey[sandbox]`), which declares its command modules under the entry-point group `kukey.cli`. kukey
itself never imports the sandboxes; without the extra, those commands say how to install it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from bot import __version__
from bot.errors import ConfigError, KukeyError

# Order is the order shown in --help.
COMMAND_MODULES = (
    "bot.cli.run",
    "bot.cli.doctor",
    "bot.cli.db",
    "bot.cli.policy",
    "bot.cli.audit",
    "bot.cli.keys",
    "bot.cli.totp",
    "bot.cli.reconcile",
)
# Commands the sandbox extra provides, and what they are for (shown when the extra is missing).
EXTRA_GROUP = "kukey.cli"
EXTRA_COMMANDS = {
    "demo": "play the whole kukey story against a built-in Slack and KuCoin sandbox",
    "sandbox": "run a local sandbox of an outside service",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise SystemExit(f"kukey: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kukey", description="Slack chat-ops for KuCoin sub-account API keys.")
    parser.add_argument("--version", action="version", version=f"kukey {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    found = {ep.name: ep for ep in entry_points(group=EXTRA_GROUP)}
    for name, about in EXTRA_COMMANDS.items():
        if name in found:
            found[name].load().register(sub)
        else:
            missing = sub.add_parser(name, help=f"{about} (needs kukey[sandbox])", add_help=False)
            missing.add_argument("rest", nargs=argparse.REMAINDER)
            missing.set_defaults(func=_needs_extra)
    return parser


def _needs_extra(args: argparse.Namespace) -> int:
    raise KukeyError(f"`kukey {args.command}` comes with the sandbox extra: pip install 'kukey[sandbox]'")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print("kukey: configuration problem:\n  " + str(exc).replace("\n", "\n  "), file=sys.stderr)
        return 2
    except KukeyError as exc:
        print(f"kukey: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
