"""A database with an audit log to stream, forwarders built the way `kukey run` builds them (with short
intervals), and waiting on conditions."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine

from bot.audit_stream.forwarder import Backoff, Forwarder, from_settings
from bot.cli import main
from bot.config import Settings
from bot.domain.clock import FakeClock
from bot.ops.metrics import Metrics
from bot.storage.audit import AuditLog
from tests.storage.audit_helpers import fill

T = TypeVar("T")
WAIT_S = 30


def wait_until(condition: Callable[[], T], what: str, timeout: float = WAIT_S) -> T:
    """Poll `condition` until it returns something truthy; return that, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return value


def settings(database_url: str, target: str, secret: str = "", lease_seconds: int = 30) -> Settings:
    return Settings.from_env({"KUKEY_DATABASE_URL": database_url, "KUKEY_AUDIT_FORWARD": target,
                              "KUKEY_AUDIT_FORWARD_SECRET": secret, "KUKEY_LEASE_SECONDS": str(lease_seconds)})


def forwarder(database_url: str, target: str, *, clock: FakeClock, secret: str = "", metrics: Metrics | None = None,
              lease_seconds: int = 30) -> Forwarder:
    """A forwarder as `kukey run` makes it, polling every 50 ms and retrying after 50-200 ms; not started."""
    made = from_settings(settings(database_url, target, secret, lease_seconds), clock=clock,
                         observer=metrics or Metrics(), interval=0.05, backoff=Backoff(0.05, 0.2))
    assert made is not None
    return made


@contextmanager
def streaming(database_url: str, target: str, **options: Any) -> Iterator[Forwarder]:
    """A forwarder (as `forwarder` makes it) running for the block, and stopped after it."""
    stream = forwarder(database_url, target, **options).start()
    try:
        yield stream
    finally:
        stream.stop()


class Log:
    """The audit log of a database, written as kukey writes it."""

    def __init__(self, engine: Engine, clock: FakeClock) -> None:
        self.engine, self.clock = engine, clock
        self.audit = AuditLog(os.urandom(32), clock)

    def write(self, count: int, sub_account: str = "sub-a") -> None:
        fill(self.engine, self.audit, self.clock, count, sub_account=sub_account)


def exported(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The lines `kukey audit export --format jsonl` prints for the database."""
    monkeypatch.setenv("KUKEY_DATABASE_URL", database_url)
    monkeypatch.setenv("KUKEY_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    capsys.readouterr()
    assert main(["audit", "export", "--format", "jsonl"]) == 0
    return capsys.readouterr().out.splitlines()


def seqs_of(lines: list[str]) -> list[int]:
    return [json.loads(line)["seq"] for line in lines]
