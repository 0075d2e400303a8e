"""`kukey demo`: see kukey work with no Slack workspace and no KuCoin account.

Until the full Slack story lands, this runs a sandbox smoke: it starts the KuCoin sandbox and, through
kukey's own KuCoin client, creates a sub-account key, lists it and deletes it.
"""

from __future__ import annotations

import argparse

from bot.domain.clock import SystemClock
from bot.domain.keys import KeySpec, Permission


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="run kukey against its built-in KuCoin sandbox")
    p.set_defaults(func=demo)


def demo(args: argparse.Namespace) -> int:
    from bot.kucoin.client import KucoinClient
    from bot.kucoin.models import generate_passphrase
    from bot.sandbox.kucoin.sandbox import KucoinSandbox

    print("kukey demo (sandbox smoke): KuCoin sandbox + kukey's KuCoin client; the Slack story comes later.")
    with KucoinSandbox() as sandbox:
        creds = sandbox.master_credentials
        client = KucoinClient(base_url=sandbox.url, api_key=creds.api_key, api_secret=creds.api_secret,
                              api_passphrase=creds.api_passphrase, clock=SystemClock())
        try:
            me = client.whoami()
            print(f"  sandbox at {sandbox.url}; master key ok (isMaster={me.is_master})")
            subs = [s.name for s in client.list_sub_accounts()]
            print(f"  sub-accounts: {', '.join(subs)}")
            spec = KeySpec(subs[0], frozenset({Permission.SPOT}), ("203.0.113.5",), 30)
            created = client.create_key(spec, passphrase=generate_passphrase(), remark="KK-DEMO0001")
            print(f"  created key {created.api_key} on {spec.sub_account} with "
                  f"{','.join(sorted(p.value for p in created.permissions))} (secret not printed)")
            listed = [k.api_key for k in client.list_keys(spec.sub_account)]
            print(f"  listed {len(listed)} key(s): {', '.join(listed)}")
            client.delete_key(spec.sub_account, created.api_key, created.passphrase)
            left = [k.api_key for k in client.list_keys(spec.sub_account)]
            print(f"  deleted it; {len(left)} key(s) left")
        finally:
            client.close()
    print("kukey demo: OK")
    return 0
