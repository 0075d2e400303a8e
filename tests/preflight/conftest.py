"""A correct kukey installation on local stand-ins (KuCoin sandbox, Slack fake), for the preflight checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.clock import SystemClock
from bot.preflight import CheckResult, Report, Status
from kukey_sandbox.world import KukeyWorld

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "sandbox" / "kukey_sandbox" / "kucoin" / "seed.json"


def seed_with(permissions: list[str]) -> dict[str, Any]:
    """The sandbox's seed with the master key holding exactly `permissions`."""
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    seed["masters"][0]["permissions"] = permissions
    return dict(seed)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    """Everything as the README sets it up: the bot in its channels, a master key with General only,
    KuCoin and Slack on the real clock (the bot is not started: the preflight runs before it)."""
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock(),
                    sandbox_kwargs={"seed": seed_with(["General"])}) as w:
        yield w


@pytest.fixture
def env(world: KukeyWorld) -> dict[str, str]:
    return world.env()


def by_check(report: Report) -> dict[str, CheckResult]:
    return {r.check: r for r in report.results}


def not_ok(report: Report) -> list[CheckResult]:
    return [r for r in report.results if r.status != Status.OK]


def only_problem(report: Report) -> CheckResult:
    """The one result that is not OK (and it says what to do)."""
    found = not_ok(report)
    assert len(found) == 1, [r.lines() for r in found]
    assert found[0].fix, "a problem says what to do"
    return found[0]
