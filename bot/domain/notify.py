"""How a rule's approvers are told about a request, and when they are reminded (bot.services.notices).

    notify = "channel"  the post in the approvals channel only (kukey's behaviour before this setting);
                        reminders are notes in the request's thread mentioning the approver group
    notify = "dm"       the post, and a direct message to each eligible approver with the Approve button;
                        reminders are direct messages to those who have not approved yet
    notify = "both"     the post and the direct messages; reminders in the thread and by direct message

The first reminder comes `remind_after_minutes` after the request was made; each next one after twice the
previous gap, a gap never longer than REMIND_GAP_MAX; none once the request is resolved or expired.
The values are stored (policy files, the `notice` table): a value never changes once released.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

REMIND_GAP_MAX: Final = timedelta(hours=24)  # the backoff's cap: at least one reminder a day


class Notify(StrEnum):
    CHANNEL = "channel"
    DM = "dm"
    BOTH = "both"

    @property
    def direct(self) -> bool:
        """Approvers get direct messages (the request, then reminders)."""
        return self in (Notify.DM, Notify.BOTH)

    @property
    def in_thread(self) -> bool:
        """Reminders are notes in the request's thread."""
        return self in (Notify.CHANNEL, Notify.BOTH)


class NoticeKind(StrEnum):
    """What a row of the `notice` table records: one per kind and number, so each goes out once."""

    APPROVERS = "approvers"  # the eligible approvers sent a direct message when the request was made
    REMINDER = "reminder"  # reminder number `seq` (0, 1, ...)
    ESCALATION = "escalation"  # the `escalate_to` group told


def reminder_gap(number: int, first_minutes: int) -> timedelta:
    """The gap before reminder `number` (0-based): the first gap, doubled each time, at most REMIND_GAP_MAX."""
    if number >= 32:  # far past the cap (2**32 first gaps): no need to compute the power
        return REMIND_GAP_MAX
    gap = timedelta(minutes=first_minutes * (1 << number))
    return min(gap, REMIND_GAP_MAX)


def reminder_at(created_at: datetime, first_minutes: int, number: int) -> datetime:
    """When reminder `number` (0-based) of a request made at `created_at` is due."""
    return created_at + sum((reminder_gap(n, first_minutes) for n in range(number + 1)), timedelta())
