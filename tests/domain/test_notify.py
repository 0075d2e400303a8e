"""When reminders are due: the first gap, doubled each time, never more than a day (bot.domain.notify)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.notify import REMIND_GAP_MAX, Notify, reminder_at, reminder_gap

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("first", "number", "minutes_after_start"), [
    (5, 0, 5), (5, 1, 15), (5, 2, 35), (5, 3, 75),
    (600, 0, 600), (600, 1, 600 + 1200), (600, 2, 600 + 1200 + 1440), (600, 3, 600 + 1200 + 2 * 1440),
    (1440, 5, 6 * 1440),
])
def test_reminders_back_off_to_a_daily_cap(first: int, number: int, minutes_after_start: int) -> None:
    """Reminder n comes after the first gap doubled n times, each gap capped at 24 hours."""
    assert reminder_at(START, first, number) == START + timedelta(minutes=minutes_after_start)


def test_far_reminders_stay_at_the_cap() -> None:
    """A reminder far along (no overflow of the doubling) waits exactly the cap."""
    assert reminder_gap(10_000, 1) == REMIND_GAP_MAX


@pytest.mark.parametrize(("mode", "direct", "in_thread"), [
    (Notify.CHANNEL, False, True), (Notify.DM, True, False), (Notify.BOTH, True, True)])
def test_modes_say_where_approvers_are_told(mode: Notify, direct: bool, in_thread: bool) -> None:
    """channel: thread only; dm: direct messages only; both: both."""
    assert (mode.direct, mode.in_thread) == (direct, in_thread)
