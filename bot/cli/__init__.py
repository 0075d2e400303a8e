"""`kukey` command line. Each module in this package registers its own subcommands.

A module exposes `register(subparsers)`; each parser it adds sets `func=handler`, where
`handler(args) -> int` returns the exit code. Expected failures are KukeyError and become one
clear message on stderr (exit 2); nothing prints a traceback to the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bot import __version__
from bot.errors import ConfigError, KukeyError

# Order is the order shown in --help.
COMMAND_MODULES = (
    "bot.cli.run",
    "bot.cli.demo",
    "bot.cli.doctor",
    "bot.cli.policy",
    "bot.cli.audit",
    "bot.cli.keys",
    "bot.cli.totp",
    "bot.cli.reconcile",
    "bot.cli.sandbox",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise SystemExit(f"kukey: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kukey", description="Slack chat-ops for KuCoin sub-account API keys.")
    parser.add_argument("--version", action="version", version=f"kukey {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


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
