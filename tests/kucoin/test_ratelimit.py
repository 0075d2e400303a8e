"""The client-side rate gate and the backoff policy, driven by a FakeClock."""

from __future__ import annotations

import random
import threading

import pytest

from bot.domain.clock import FakeClock
from bot.kucoin.ratelimit import BudgetExceeded, RateGate, RateHeaders, RetryPolicy, seconds_for
from tests.kucoin.helpers import Sleeps


def _headers(remaining: int, reset_ms: int, limit: int = 2000) -> RateHeaders:
    return RateHeaders(limit=limit, remaining=remaining, reset_ms=reset_ms)


def test_reserve_spends_known_budget_then_waits_for_reset(clock: FakeClock, sleeps: Sleeps) -> None:
    """Weight is taken from the known budget; when too little is left, the gate sleeps until the reset."""
    gate = RateGate(clock, sleeps)
    assert gate.reserve(30, max_wait=60) == (0.0, True)
    gate.update(_headers(remaining=50, reset_ms=10_000), probe=True, weight=30)
    assert gate.reserve(30, max_wait=60) == (0.0, False)
    assert gate.snapshot()[0] == 20
    waited, probe = gate.reserve(30, max_wait=60)
    assert waited == pytest.approx(10.0) and probe and sleeps.waits == [pytest.approx(10.0)]


def test_reserve_refuses_a_wait_beyond_the_budget(clock: FakeClock, sleeps: Sleeps) -> None:
    """If the reset is further than max_wait, BudgetExceeded carries the wait and nothing sleeps."""
    gate = RateGate(clock, sleeps)
    gate.reserve(20, max_wait=60)
    gate.update(_headers(remaining=0, reset_ms=25_000), probe=True, weight=20)
    with pytest.raises(BudgetExceeded) as info:
        gate.reserve(20, max_wait=5)
    assert info.value.retry_after == pytest.approx(25.0) and sleeps.waits == []


def test_only_one_probe_while_the_budget_is_unknown(clock: FakeClock, sleeps: Sleeps) -> None:
    """While the first call is in flight, a second caller waits for its answer before spending."""
    gate = RateGate(clock, sleeps, probe_wait=0.01)
    assert gate.reserve(30, max_wait=60)[1] is True
    done = threading.Event()
    result: list[tuple[float, bool]] = []

    def second() -> None:
        result.append(gate.reserve(30, max_wait=60))
        done.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not done.wait(0.1)
    gate.update(_headers(remaining=100, reset_ms=30_000), probe=True, weight=30)
    assert done.wait(2)
    thread.join()
    assert result == [(0.0, False)] and gate.snapshot()[0] == 70


def test_stale_headers_never_raise_the_local_count(clock: FakeClock, sleeps: Sleeps) -> None:
    """An answer from earlier in the same window cannot give back weight already reserved, nor can one read
    after the window passed: only a probe's answer starts a new view."""
    gate = RateGate(clock, sleeps)
    gate.reserve(20, max_wait=1)
    gate.update(_headers(remaining=100, reset_ms=20_000), probe=True, weight=20)
    gate.reserve(20, max_wait=1)
    gate.reserve(20, max_wait=1)
    gate.update(_headers(remaining=80, reset_ms=19_990), probe=False, weight=20)
    assert gate.snapshot()[0] == 60
    clock.advance(21)
    gate.update(_headers(remaining=1980, reset_ms=30_000), probe=False, weight=20)
    assert gate.snapshot()[0] == 60
    assert gate.reserve(20, max_wait=1) == (0.0, True)  # the window passed: the next call probes


def test_an_answer_read_late_does_not_give_back_a_spent_window(clock: FakeClock, sleeps: Sleeps) -> None:
    """A window spent to its last call (66 deletes of 30): the first delete's answer, read half a second late
    by a busy process, shows a reset later than the probe's and the count as it stood when that delete
    arrived. It is the same window: the budget stays spent until the reset (taking it for a new window
    sent 18 to 20 deletes more into a spent window: KuCoin's 429)."""
    gate = RateGate(clock, sleeps)
    assert gate.reserve(30, max_wait=60) == (0.0, True)
    gate.update(_headers(remaining=1970, reset_ms=3_000), probe=True, weight=30)
    for _ in range(65):
        assert gate.reserve(30, max_wait=0) == (0.0, False)
    assert gate.snapshot()[0] == 20
    clock.advance(0.5)
    gate.update(_headers(remaining=1940, reset_ms=2_900), probe=False, weight=30)
    assert gate.snapshot()[0] == 20
    with pytest.raises(BudgetExceeded):
        gate.reserve(30, max_wait=0.1)


def test_an_older_windows_answer_read_after_it_passed_starts_no_view(clock: FakeClock, sleeps: Sleeps) -> None:
    """The window passed and the next call probes; a call of the old window answers before the probe: its
    count is the old window's, so the budget stays unknown (the others wait for the probe), and once the
    probe answers, the weight of that window's calls still in flight is taken from the probe's count (they
    may reach KuCoin within the new window, after the probe)."""
    gate = RateGate(clock, sleeps)
    gate.reserve(30, max_wait=1)
    gate.update(_headers(remaining=100, reset_ms=10_000), probe=True, weight=30)
    gate.reserve(30, max_wait=1)
    gate.reserve(30, max_wait=1)  # two calls of the old window in flight
    clock.advance(11)
    assert gate.reserve(30, max_wait=1) == (0.0, True)
    gate.update(_headers(remaining=70, reset_ms=50), probe=False, weight=30)
    assert gate.snapshot()[0] is None
    gate.update(_headers(remaining=1970, reset_ms=30_000), probe=True, weight=30)
    assert gate.snapshot()[0] == 1970 - 30  # the other old call is still in flight
    gate.update(_headers(remaining=1940, reset_ms=29_990), probe=False, weight=30)
    assert gate.snapshot()[0] == 1940


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0),
                                                       (5, 4.0, 8.0), (9, 4.0, 8.0)])
def test_backoff_grows_with_jitter_and_is_capped(attempt: int, low: float, high: float) -> None:
    """Backoff doubles per attempt, stays within [ceiling/2, ceiling], and is capped at max_delay."""
    policy = RetryPolicy()
    rng = random.Random(attempt)
    delays = [policy.backoff(attempt, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize(("calls", "remaining", "reset_in", "expected"), [
    (66, None, 0.0, 0.0),  # a fresh window pays for 66 deletes at once
    (67, None, 0.0, 30.0),  # the 67th waits for the next window
    (500, None, 0.0, 7 * 30.0),  # ceil(500 / 66) = 8 windows: the last one starts 7 windows on
    (10, 300, 12.0, 0.0),  # the budget left pays for them
    (11, 300, 12.0, 12.0),  # one more waits for the reset
    (200, 0, 5.0, 5.0 + 3 * 30.0),  # nothing left: four windows after the reset
])
def test_seconds_for_a_number_of_calls(calls: int, remaining: int | None, reset_in: float, expected: float) -> None:
    """The least time for N deletes follows the fixed window: what the budget left pays for, then 66 per window."""
    assert seconds_for(calls, weight=30, remaining=remaining, reset_in=reset_in, budget=2000,
                       window=30.0) == pytest.approx(expected)


def test_the_gate_estimates_from_what_the_answers_said(clock: FakeClock, sleeps: Sleeps) -> None:
    """The gate's estimate uses the budget left, the reset and the window length the answers showed (a shorter
    window than KuCoin's, as a sandbox may run)."""
    gate = RateGate(clock, sleeps)
    assert gate.seconds_for(67, 30) == pytest.approx(30.0)  # nothing heard yet: KuCoin's own window
    gate.reserve(30, max_wait=60)
    gate.update(_headers(remaining=1970, reset_ms=5_000), probe=True, weight=30)
    assert gate.seconds_for(65, 30) == 0.0
    assert gate.seconds_for(66 + 66, 30) == pytest.approx(5.0 + 5.0)
