"""Preflight: the one set of checks that kukey's configuration works against the real services.

    settings              the .env file and the settings no other check reads
    policy                the policy file is valid
    database              the database is writable (and at the current schema), or its directory is
    master key            valid, and the key the database was written with (audit log, stored secrets)
    slack bot token       auth.test accepts the bot token; reports the bot's user id
    slack app token       Socket Mode: apps.connections.open issues a URL (nothing is connected)
    slack signing secret  HTTP mode: set and of Slack's shape (Slack offers no call to prove it)
    slack clock           the host's clock against the Date header of Slack's answer
    channels              each policy channel exists, is not archived, and has the bot as a member
    user groups           each user group in the policy resolves and has members
    kucoin key            the master key works, is the master account's, has General and no more
    kucoin clock          the host's clock against KuCoin's /api/v1/timestamp

Each check returns CheckResults (OK, WARN, FAIL, or SKIP when what it needs failed and was reported by
its own check). Every check reads the configuration `kukey run` reads (bot.preflight.context). `kukey
doctor` prints every result; `kukey run` and the commands that write with the master key refuse to start
on any FAIL (bot.cli.startup).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager

from bot.domain.clock import Clock, SystemClock
from bot.errors import ConfigError
from bot.preflight.context import Configuration, Context
from bot.preflight.kucoin_checks import check_kucoin_clock, check_kucoin_key
from bot.preflight.local_checks import check_database, check_master_key, check_policy, check_settings
from bot.preflight.results import CheckResult, Report, Status, fail
from bot.preflight.slack_checks import (
    check_app_token,
    check_bot_scopes,
    check_bot_token,
    check_channels,
    check_signing_secret,
    check_slack_clock,
    check_user_groups,
)

__all__ = ["CHECKS", "EVERY_CHECK", "CheckResult", "Report", "Status", "run_preflight"]

Check = Callable[[Context], CheckResult | Sequence[CheckResult]]
# In the order they run and are printed; a check that needs another's answer comes after it.
CHECKS: dict[str, Check] = {
    "settings": check_settings,
    "policy": check_policy,
    "database": check_database,
    "master key": check_master_key,
    "slack bot token": check_bot_token,
    "slack scopes": check_bot_scopes,
    "slack app token": check_app_token,
    "slack signing secret": check_signing_secret,
    "slack clock": check_slack_clock,
    "channels": check_channels,
    "user groups": check_user_groups,
    "kucoin key": check_kucoin_key,
    "kucoin clock": check_kucoin_clock,
}
EVERY_CHECK = tuple(CHECKS)
_SOCKET_ONLY, _HTTP_ONLY = "slack app token", "slack signing secret"
ENV_FIX = "set the variable as .env.example describes it (in the environment, a NAME_FILE, or .env)"


def run_preflight(*, http_mode: bool = False, checks: Collection[str] = EVERY_CHECK,
                  env: Mapping[str, str] | None = None, clock: Clock | None = None) -> Report:
    """Run `checks` (all by default) for Socket Mode or HTTP mode; `env` None reads what `kukey run` reads."""
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise ValueError(f"no such preflight check: {', '.join(sorted(unknown))}")
    skipped = _SOCKET_ONLY if http_mode else _HTTP_ONLY
    ctx = Context(Configuration(env), http_mode=http_mode, clock=clock or SystemClock())
    try:
        with _quiet_kucoin_log():
            results = [r for name, check in CHECKS.items() if name in checks and name != skipped
                       for r in _guarded(name, check, ctx)]
    finally:
        ctx.close()
    answer = ctx.bot_answer.get() if ctx.bot_answer.done else None
    bot_user_id = str(answer.data.get("user_id")) if answer is not None and answer.ok else None
    return Report(tuple(results), bot_user_id)


def _guarded(name: str, check: Check, ctx: Context) -> list[CheckResult]:
    """Run one check; each configuration problem becomes a FAIL line, anything unexpected one FAIL line."""
    try:
        found = check(ctx)
    except ConfigError as exc:
        return [fail(name, problem, ENV_FIX) for problem in str(exc).splitlines()]
    except Exception as exc:  # a check reports every failure as a result, never as a traceback
        return [fail(name, f"unexpected {type(exc).__name__}: {exc}", "report this with the line above")]
    return [found] if isinstance(found, CheckResult) else list(found)


@contextmanager
def _quiet_kucoin_log() -> Iterator[None]:
    """While nothing else handles them, keep the KuCoin client's retry warnings from Python's last-resort
    handler (stderr): a check's result says what went wrong."""
    kucoin_log = logging.getLogger("bot.kucoin")
    if kucoin_log.hasHandlers():
        yield
        return
    null = logging.NullHandler()
    kucoin_log.addHandler(null)
    try:
        yield
    finally:
        kucoin_log.removeHandler(null)
