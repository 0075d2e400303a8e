"""`kukey` command line. Each module in this package registers its own subcommands.

A module exposes `register(subparsers)`; each parser it adds sets `func=handler`, where
`handler(args) -> int` returns the exit code. Before a handler runs, the preflight checks it needs run
(bot.cli.startup); a FAIL stops it with one line per problem (exit 2). Expected failures are KukeyError
and become one clear message on stderr (exit 2). Nothing prints a traceback to the user: anything
unexpected becomes one line naming a file that holds the (redacted) traceback for a bug report (exit 70).

`kukey demo` and `kukey sandbox` come from the optional `kukey-sandbox` distribution (the extra
`kukey[sandbox]`), which declares its command modules under the entry-point group `kukey.cli`. kukey
itself never imports the sandboxes; without the extra, those commands say how to install it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from importlib.metadata import entry_points

from bot import __version__, config
from bot.cli import startup
from bot.errors import ConfigError, KukeyError
from bot.logs import Redactor

# Order is the order shown in --help.
COMMAND_MODULES = (
    "bot.cli.run",
    "bot.cli.worker",
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
        if startup.refuses(args):
            return startup.REFUSED
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print("kukey: configuration problem:\n  " + str(exc).replace("\n", "\n  "), file=sys.stderr)
        return 2
    except KukeyError as exc:
        print(f"kukey: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: one line for the person, the traceback in a file
        print(f"kukey: unexpected error: {_describe(exc)}; {_save_traceback(exc)}", file=sys.stderr)
        return UNEXPECTED


UNEXPECTED = 70  # EX_SOFTWARE: a bug in kukey, not a problem with its input or configuration


def _redactor() -> Redactor:
    """Masks the configured secrets when the configuration can be read, and secret shapes always."""
    try:
        return Redactor.for_settings(config.Settings.from_env())
    except KukeyError:
        return Redactor()


def _describe(exc: Exception) -> str:
    """One line: a database driver's own message (SQLAlchemy wraps it in several lines), else the first line."""
    inner = getattr(exc, "orig", None)
    text = str(inner if isinstance(inner, Exception) else exc).strip()
    return _redactor().redact(text.splitlines()[0]) if text else type(exc).__name__


def _save_traceback(exc: BaseException) -> str:
    """Write the redacted traceback to a private temporary file; say where (or that it could not)."""
    text = _redactor().redact("".join(traceback.format_exception(exc)))
    try:
        handle, path = tempfile.mkstemp(prefix="kukey-error-", suffix=".txt")  # mode 0600
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as write_error:
        return f"the details could not be saved ({write_error.strerror or write_error})"
    return f"the details for a bug report are in {path}"
