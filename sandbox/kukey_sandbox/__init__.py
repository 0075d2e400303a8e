"""kukey's local stand-ins for the two outside services, and what is built on them.

    kucoin/    a faithful KuCoin sandbox (signing, field rules, rate pools, fault injection)
    slack/     a Slack fake (Web API, interactivity, Socket Mode) and a driver that acts like Slack
    world.py   `KukeyWorld`: the sandbox, the fake and the real bot on 127.0.0.1, for tests and the demo
    demo/      `kukey demo`: the whole story as a transcript
    cli/       the `kukey demo` and `kukey sandbox` subcommands (entry-point group `kukey.cli`)

An optional extra (`pip install 'kukey[sandbox]'`): kukey's production code never imports it.
"""

__version__ = "0.2.0"  # always kukey's version (tests/test_packaging.py checks)
