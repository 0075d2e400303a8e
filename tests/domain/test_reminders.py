"""Which reminders a key's owner is due (bot.domain.reminders), checked against a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.policy import Rule
from bot.domain.reminders import Reason, days_until, expiring_within, reasons_due

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RULE = Rule(index=0, match="*", rotation_days=90, warn_before_expiry_days=7)


@pytest.mark.parametrize(("age", "expires_in", "rule", "due"), [
    (DAY, None, RULE, []),  # young, never expires
    (DAY, 8 * DAY, RULE, []),  # expires after the warning window
    (DAY, 7 * DAY, RULE, [Reason.EXPIRY]),  # the window's first moment
    (DAY, timedelta(hours=1), RULE, [Reason.EXPIRY]),  # its last hour
    (DAY, timedelta(0), RULE, []),  # expired: it stopped working already
    (DAY, 3 * DAY, Rule(index=0, match="*", warn_before_expiry_days=0), []),  # 0 turns the warning off
    (89 * DAY, None, RULE, []),  # a day short of its rotation age
    (90 * DAY, None, RULE, [Reason.ROTATION]),  # at its rotation age
    (95 * DAY, 2 * DAY, RULE, [Reason.EXPIRY, Reason.ROTATION]),  # both at once
])
def test_reasons_due(age: timedelta, expires_in: timedelta | None, rule: Rule, due: list[Reason]) -> None:
    """A key is due an expiry reminder inside its rule's warning window (not once expired, never with 0) and a
    rotation reminder from its rotation age on."""
    expires = NOW + expires_in if expires_in is not None else None
    assert reasons_due(rule, created_at=NOW - age, expires_at=expires, now=NOW) == due


@pytest.mark.parametrize(("when", "days"), [(None, 0), (NOW - DAY, 0), (NOW + 7 * DAY, 7),
                                            (NOW + 6 * DAY + timedelta(hours=1), 7), (NOW + timedelta(minutes=5), 1)])
def test_days_until_rounds_up(when: datetime | None, days: int) -> None:
    """Days left are rounded up (a key expiring in 6 days and an hour expires in 7), 0 when never or past."""
    assert days_until(when, NOW) == days


def test_expiring_within_includes_keys_already_expired() -> None:
    """A key expiring within the window, or expired already, is expiring; one that never expires is not."""
    assert expiring_within(expires_at=NOW + 7 * DAY, now=NOW, days=7)
    assert expiring_within(expires_at=NOW - DAY, now=NOW, days=7)
    assert not expiring_within(expires_at=NOW + 8 * DAY, now=NOW, days=7)
    assert not expiring_within(expires_at=None, now=NOW, days=7)
