"""The TOTP codes the world types for a person on a real clock (a bot in another process): never one used
before, and never one that expires on its way to the bot.

A code of the step before is accepted only until the current step ends, so handed out late in a step it
arrived "not valid" at a bot slowed by a loaded machine (tests/replicas/test_socket_mode.py, 2026-12-02)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
import time_machine

from bot.domain.clock import SystemClock
from kukey_sandbox.world import APPROVER, KukeyWorld

STEP = 30
START = 1_790_000_010  # a multiple of 30 s from the epoch: step START // 30 begins here


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock()) as w:
        w.seeds[APPROVER] = pyotp.random_base32()
        yield w


def _at(step: int, world: KukeyWorld) -> str:
    return pyotp.TOTP(world.seeds[APPROVER]).at(step * STEP)


def _travel(seconds_into_step: float) -> time_machine.travel:
    assert START % STEP == 0
    return time_machine.travel(datetime.fromtimestamp(START + seconds_into_step, UTC), tick=True)


def test_early_in_a_step_the_third_code_is_the_previous_steps(world: KukeyWorld) -> None:
    """Now, then the next step, then (25 s of the step left) the step before: three codes at once."""
    step = START // STEP
    with _travel(5):
        codes = [world.code(APPROVER) for _ in range(3)]
    assert codes == [_at(step, world), _at(step + 1, world), _at(step - 1, world)]


def test_late_in_a_step_the_third_code_waits_for_the_next_step(world: KukeyWorld) -> None:
    """With under 10 s of the step left, the step before is not handed out: the world waits for the next
    step and types the code after it (the step it moved to is used already)."""
    step = START // STEP
    with _travel(STEP - 0.3):
        codes = [world.code(APPROVER) for _ in range(3)]
        assert world.clock.now().timestamp() >= START + STEP
    assert codes == [_at(step, world), _at(step + 1, world), _at(step + 2, world)]
