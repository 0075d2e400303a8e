"""Reminders about a key kukey holds: it expires soon, or it is due for rotation. Each is sent to the key's
owner once per key and reason (bot.services.reminders remembers what was sent, in table `key_reminder`).

    expiry    the key expires within its rule's `warn_before_expiry_days` (0: never warned), not yet expired
    rotation  the key is at least its rule's `rotation_days` old

The values are stored: a value never changes once released.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.policy import Rule


class Reason(StrEnum):
    EXPIRY = "expiry"
    ROTATION = "rotation"


@dataclass(frozen=True)
class KeyReminder:
    """What the owner of a key is told, and why (the reason's facts: its expiry, its age and rule)."""

    reason: Reason
    owner: str
    api_key: str
    sub_account: str
    expires_at: datetime | None
    days_left: int  # whole days until it expires, rounded up (0 for a key that never expires)
    age_days: int
    rotation_days: int


def days_until(when: datetime | None, now: datetime) -> int:
    """Days from `now` to `when`, rounded up (a key expiring in 6 days and 1 hour expires in 7); 0 if None or past."""
    if when is None or when <= now:
        return 0
    return math.ceil((when - now) / timedelta(days=1))


def reasons_due(rule: Rule, *, created_at: datetime, expires_at: datetime | None, now: datetime) -> list[Reason]:
    """Why the owner of a key created at `created_at` (expiring at `expires_at`) should be reminded now."""
    reasons = []
    warn = timedelta(days=rule.warn_before_expiry_days)
    if expires_at is not None and rule.warn_before_expiry_days > 0 and now < expires_at <= now + warn:
        reasons.append(Reason.EXPIRY)
    if (now - created_at).days >= rule.rotation_days:
        reasons.append(Reason.ROTATION)
    return reasons


def expiring_within(*, expires_at: datetime | None, now: datetime, days: int) -> bool:
    """Does a key expiring at `expires_at` expire (or has it expired) within `days` from `now`?"""
    return expires_at is not None and expires_at <= now + timedelta(days=days)
