"""What must be in order before a command runs: the preflight checks it needs, and how a refusal reads.

`kukey run` runs every check itself. The commands below write with the master key, or talk to the
services, so they first run the checks they depend on; a wrong master key on an existing database is
refused here rather than silently used (it would sign the audit log with another key). The other commands
(`audit tail|export`, `policy check`, `keygen`) read only what they name and report on their own terms.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a command needs it: the checks pull in every layer
    from bot.preflight import Report

REFUSED = 2  # the exit code of a command that did not start

Needs = Callable[[argparse.Namespace], tuple[str, ...]]
_STORE = ("database", "master key")
NEEDS: dict[tuple[str, ...], Needs] = {
    ("audit", "verify"): lambda args: ("master key",),
    ("totp", "reset"): lambda args: _STORE,
    ("rekey",): lambda args: _STORE,
    ("reconcile",): lambda args: ("policy", *_STORE, "kucoin key")
    + (() if args.no_post else ("slack bot token", "channels")),
}


def command_path(args: argparse.Namespace) -> tuple[str, ...]:
    """("audit", "verify"), ("rekey",), ...: the command and its action, as parsed."""
    action = next((getattr(args, a) for a in ("audit_action", "totp_command", "policy_action") if
                   getattr(args, a, None)), None)
    return (args.command, action) if action else (args.command,)


def refuses(args: argparse.Namespace) -> bool:
    """Run the checks this command needs (if any); print and return True when one failed."""
    needs = NEEDS.get(command_path(args))
    if needs is None:
        return False
    from bot.preflight import run_preflight

    return not ready(run_preflight(checks=needs(args)), " ".join(command_path(args)))


def ready(report: Report, command: str) -> bool:
    """Print each WARN and each FAIL as one line on stderr, then that `command` did not start; False when
    something failed."""
    from bot.preflight import Status

    for result in report.having(Status.WARN):
        print(f"kukey: warning: {result.one_line()}", file=sys.stderr)
    failed = report.having(Status.FAIL)
    for result in failed:
        print(f"kukey: {result.one_line()}", file=sys.stderr)
    if failed:
        count = f"{len(failed)} problem{'s' if len(failed) != 1 else ''}"
        print(f"kukey: {command} did not start ({count}); `kukey doctor` runs every check", file=sys.stderr,
              flush=True)
    return not failed
