"""Helpers shared by the KuCoin client and sandbox tests."""

from __future__ import annotations

import random
from typing import Any

import httpx

from bot.domain.clock import Clock, FakeClock
from bot.kucoin import KucoinClient, RetryPolicy
from kukey_sandbox.kucoin import KucoinSandbox

FAST = RetryPolicy(timeout=2.0, recheck_delay=0.5)


class Sleeps:
    """A `sleep` that records each wait and moves the FakeClock instead of blocking."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def client_for(sandbox: KucoinSandbox, clock: Clock, http: httpx.Client | None = None,
               **overrides: Any) -> KucoinClient:
    """A client with the sandbox's master key, for tests that build their own sandbox."""
    creds = sandbox.master_credentials
    kwargs: dict[str, Any] = {
        "base_url": sandbox.url, "api_key": creds.api_key, "api_secret": creds.api_secret,
        "api_passphrase": creds.api_passphrase, "clock": clock, "http": http, "policy": FAST,
        "rng": random.Random(7),
    }
    kwargs.update(overrides)
    return KucoinClient(**kwargs)
