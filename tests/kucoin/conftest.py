"""Fixtures for the KuCoin client tests: a real sandbox on 127.0.0.1 and clients pointed at it.

The sandbox and the client share one FakeClock, and the client's `sleep` advances that clock, so waits
for rate-limit windows and backoffs are exact and instant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.clock import FakeClock
from bot.kucoin import KucoinClient
from kukey_sandbox.kucoin import KucoinSandbox
from tests.kucoin.helpers import Sleeps, client_for


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def sleeps(clock: FakeClock) -> Sleeps:
    return Sleeps(clock)


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[KucoinSandbox]:
    with KucoinSandbox(clock=clock) as sb:
        yield sb


MakeClient = Callable[..., KucoinClient]


@pytest.fixture
def make_client(sandbox: KucoinSandbox, clock: FakeClock, sleeps: Sleeps) -> Iterator[MakeClient]:
    """Build clients for the sandbox; overrides: api_key, api_secret, api_passphrase, clock, sleep..."""
    made: list[KucoinClient] = []

    def make(**overrides: Any) -> KucoinClient:
        overrides.setdefault("sleep", sleeps)
        client = client_for(sandbox, overrides.pop("clock", clock), **overrides)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> KucoinClient:
    return make_client()
