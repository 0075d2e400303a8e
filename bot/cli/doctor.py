"""`kukey doctor`: every preflight check (bot.preflight), one line each, plus a `fix:` line when one is not OK.

    OK slack bot token: bot kukey (user id U0KUKEYBOT) in workspace acme (T0123)
    FAIL kucoin key: KuCoin refused GET /api/v1/user/api-key: KuCoin rejected the API passphrase (code 400004).
      fix: check KUCOIN_API_KEY, KUCOIN_API_SECRET and KUCOIN_API_PASSPHRASE (and the key's IP whitelist) ...

It reads the configuration exactly as `kukey run` does (environment, NAME_FILE files, .env) and runs the
same checks `kukey run` runs before it starts. Exit 0 when nothing failed (a WARN does not fail), 1 otherwise.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check settings, policy, database, master key, Slack (tokens, channels, groups), KuCoin, "
                       "clocks")
    parser.add_argument("--http", action="store_true",
                        help="check for HTTP mode (a signing secret instead of an app-level token)")
    parser.set_defaults(func=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    from bot.preflight import run_preflight  # every layer: imported only when the doctor runs

    report = run_preflight(http_mode=args.http)
    for result in report.results:
        print("\n".join(result.lines()), flush=True)
    print(f"kukey doctor: {report.summary()}")
    return 1 if report.failed else 0
