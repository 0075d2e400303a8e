"""`kukey reconcile`: compare KuCoin's keys with kukey's inventory now, print and post the findings."""

from __future__ import annotations

import argparse

from bot import config


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("reconcile", help="compare KuCoin's keys with kukey's inventory, report key ages")
    p.add_argument("--no-post", action="store_true", help="print only; do not post to the approvals channel")
    p.set_defaults(func=reconcile)


def reconcile(args: argparse.Namespace) -> int:
    from bot.app import build

    need = [config.KUCOIN, config.MASTER_KEY, config.POLICY]
    if not args.no_post:
        need.append(config.SLACK_API)
    settings = config.Settings.from_env(need=need)
    kukey = build(settings)
    if not args.no_post:
        kukey.dispatcher.start()  # the report is owed in the outbox: sent from here, before stop() returns
    try:
        findings = kukey.services.reconciler.run(post=not args.no_post, actor="cli")
    finally:
        kukey.stop()
    print(findings.text().replace("*", ""))
    return 0
