"""The services, wired by the composition root against a real SQLite file, a FakeClock, the Slack fake,
and an exchange: each test runs twice, once on the KuCoin sandbox through the real KuCoin client and
once on the in-memory exchange (tests/services/memory_exchange.py)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from bot.app import Kukey, build
from bot.config import Settings
from bot.domain.clock import FakeClock
from bot.domain.keys import Permission
from bot.kucoin.client import KucoinClient
from bot.kucoin.exchange import KucoinExchange
from bot.kucoin.ratelimit import RetryPolicy
from bot.services.ports import Delivery, Exchange
from bot.services.registry import Services
from kukey_sandbox.kucoin import KucoinSandbox
from kukey_sandbox.slack.fake import SlackFake
from kukey_sandbox.slack.model import Ref
from kukey_sandbox.world import (
    APPROVALS,
    APPROVER,
    APPROVER2,
    APPROVER_GROUP,
    INCIDENT,
    NAMES,
    REQUESTER,
    RESPONDER,
    TRADING,
    default_policy,
)
from tests.services.memory_exchange import MemoryExchange

SUB = "alpha-trading"
ALL = frozenset(Permission)


@dataclass
class Backend:
    """An exchange plus what happens to it from outside kukey."""

    name: str
    exchange: Exchange
    remove_out_of_band: Callable[[str, str], bool]
    busy: Callable[[], None]  # the next create fails as "busy, try again later"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture(params=["kucoin", "memory"])
def backend(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Backend]:
    if request.param == "memory":
        memory = MemoryExchange(clock, {SUB: ALL, "beta-spot": frozenset({Permission.SPOT})})
        yield Backend("memory", memory, memory.remove_out_of_band, memory.outage)
        return
    with KucoinSandbox(clock=clock) as sandbox:
        creds = sandbox.master_credentials
        # One attempt per call: a busy answer reaches the service at once instead of after backoffs.
        with KucoinClient(base_url=sandbox.url, api_key=creds.api_key, api_secret=creds.api_secret,
                          api_passphrase=creds.api_passphrase, clock=clock,
                          policy=RetryPolicy(max_attempts=1)) as client:
            yield Backend("kucoin", KucoinExchange(client), sandbox.remove_key_out_of_band,
                          lambda: sandbox.rate_limit_next(1, headers=False, path="/api/v1/sub/api-key",
                                                          method="POST"))


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[SlackFake]:
    with SlackFake(clock=clock) as fake:
        for uid, name in NAMES.items():
            fake.add_user(uid, name)
        for channel, name in ((APPROVALS, "kukey-approvals"), (INCIDENT, "incident"), (TRADING, "trading")):
            fake.add_channel(channel, name, members=list(NAMES))
        fake.add_usergroup(APPROVER_GROUP, "approvers", users=[APPROVER, APPROVER2])
        yield fake


@pytest.fixture
def kukey(tmp_path: Path, clock: FakeClock, slack: SlackFake, backend: Backend) -> Iterator[Kukey]:
    policy = tmp_path / "policy.toml"
    policy.write_text(default_policy())
    env = {"SLACK_API_URL": slack.api_url, "SLACK_BOT_TOKEN": slack.bot_token,
           "SLACK_SIGNING_SECRET": slack.signing_secret, "KUKEY_DATABASE_URL": f"sqlite:///{tmp_path / 'kukey.db'}",
           "KUKEY_POLICY": str(policy), "KUKEY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    bot = build(Settings.from_env(env, need=["master_key", "policy", "slack_http"]), clock=clock,
                exchange=backend.exchange, scheduler_interval=0.05)
    bot.dispatcher.start()  # what the services owe people goes out through the outbox (no scheduler here)
    yield bot
    bot.stop()


class People:
    """Enrolled users with their authenticators, at the FakeClock's time."""

    def __init__(self, services: Services, clock: FakeClock, slack: SlackFake) -> None:
        self.svc, self.clock, self.slack = services, clock, slack
        self.seeds: dict[str, str] = {}
        for user in (REQUESTER, APPROVER, RESPONDER):
            seed = services.enrollment.start(user, account=NAMES[user]).seed.reveal()
            self.seeds[user] = seed
            services.enrollment.confirm(user, self.code(user))

    def code(self, user: str) -> str:
        """A fresh code: the clock moves to the next 30 s step first (a code is never accepted twice)."""
        self.clock.advance(timedelta(seconds=30))
        return pyotp.TOTP(self.seeds[user]).at(self.clock.now())

    def delivery(self, user: str = REQUESTER) -> Delivery:
        """The response_url Slack gives the click on the newest Reveal button offered to `user`."""
        offer = self.slack.wait_for(lambda: next((e for e in reversed(self.slack.ephemerals(user))
                                                  if "Reveal key" in e.button_labels), None), what="reveal offer")
        with self.slack.world.transaction() as w:
            url = w.issue_response_url(self.slack.base_url, user, offer.channel, Ref(offer.channel, offer.ts, True))
        return Delivery(url.url, user)


@pytest.fixture
def people(kukey: Kukey, clock: FakeClock, slack: SlackFake) -> People:
    return People(kukey.services, clock, slack)
