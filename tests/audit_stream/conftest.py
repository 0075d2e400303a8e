"""A database on each backend with its schema made, a fake clock, and receivers that are always released
and stopped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from bot.domain.clock import FakeClock
from tests.audit_stream.helpers import Log
from tests.audit_stream.receivers import SyslogReceiver, WebhookReceiver

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def log(engine: Engine, clock: FakeClock) -> Log:
    return Log(engine, clock)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.release()
    receiver.stop()


@pytest.fixture(params=["tcp", "udp"])
def syslog(request: pytest.FixtureRequest) -> Iterator[SyslogReceiver]:
    receiver = SyslogReceiver(request.param)
    yield receiver
    receiver.stop()
