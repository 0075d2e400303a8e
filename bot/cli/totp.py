"""`kukey totp reset <user-id>`: an admin removes a user's TOTP enrollment (they must enroll again)."""

from __future__ import annotations

import argparse
import getpass
import re

from bot import config
from bot.errors import UsageError

_USER = re.compile(r"[UW][A-Z0-9]{2,}")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("totp", help="manage TOTP enrollments")
    tsub = p.add_subparsers(dest="totp_command", metavar="ACTION", required=True)
    reset = tsub.add_parser("reset", help="remove a user's enrollment so they enroll again")
    reset.add_argument("user_id", help="the Slack user id (U... or W...)")
    reset.add_argument("--by", default="", help="who is resetting (recorded in the audit log)")
    reset.set_defaults(func=reset_cmd)


def reset_cmd(args: argparse.Namespace) -> int:
    from bot.domain.clock import SystemClock
    from bot.security.crypto import SecretBox
    from bot.services.enrollment import EnrollmentService
    from bot.storage.audit import AuditLog
    from bot.storage.db import init_db, make_engine

    if not _USER.fullmatch(args.user_id):
        raise UsageError(f"{args.user_id!r} is not a Slack user id (like U012AB3CD)",
                         usage="kukey totp reset <user-id>")
    settings = config.Settings.from_env(need=[config.MASTER_KEY])
    engine = make_engine(settings.database_url)
    init_db(engine, auto_migrate=settings.auto_migrate)
    master = settings.master_key_bytes()
    service = EnrollmentService(engine=engine, audit=AuditLog(master, SystemClock()), box=SecretBox(master),
                                clock=SystemClock())
    actor = args.by or f"cli:{getpass.getuser()}"
    done = service.reset(args.user_id, actor=actor)
    engine.dispose()
    print(f"kukey: {'reset' if done else 'no enrollment for'} {args.user_id}")
    return 0 if done else 1
