"""What one person's Home tab shows, as plain values (bot.services.home reads it; bot.slack renders it), and
`HomeSurface`, the port that shows it.

Lists are whole here: how many items fit on the tab is the Slack layer's concern (Slack's 100 blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.keys import KeyState, Permission
from bot.services.checkpoints import Checkpoint
from bot.services.ports import RequestView


@dataclass(frozen=True)
class KeyRow:
    """A key kukey knows, with its age against its rule's rotation age (None: no rule covers it now)."""

    api_key: str
    sub_account: str
    permissions: frozenset[Permission]
    ips: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    age_days: int
    rotation_days: int | None
    state: str = KeyState.ACTIVE.value

    @property
    def due(self) -> bool:
        """Old enough that its rule wants it rotated."""
        return self.rotation_days is not None and self.age_days >= self.rotation_days

    @property
    def active(self) -> bool:
        """Can be rotated or revoked (not waiting for its deletion)."""
        return self.state == KeyState.ACTIVE


@dataclass(frozen=True)
class TotpStatus:
    """A person's authenticator as kukey knows it."""

    enrolled: bool
    started: bool = False  # an enrollment begun and not confirmed yet
    locked_until: datetime | None = None  # set while locked out after wrong codes


@dataclass(frozen=True)
class AdminHome:
    """What admins (the policy's `admins` group) also see."""

    pending: tuple[RequestView, ...]  # every request waiting for approval
    due: tuple[KeyRow, ...]  # kukey's keys older than their rule's rotation age
    external: tuple[KeyRow, ...]  # keys kukey did not create, found by reconciliation
    checkpoint: Checkpoint | None  # the last audit checkpoint


@dataclass(frozen=True)
class Home:
    user: str
    now: datetime
    keys: tuple[KeyRow, ...]  # the keys this person asked for, still at the exchange
    open_requests: tuple[RequestView, ...]  # their own, not resolved yet
    to_approve: tuple[RequestView, ...]  # others' requests waiting for their approval
    totp: TotpStatus
    admin: AdminHome | None = None


class HomeSurface(Protocol):
    """Where a Home is shown (Slack's Home tab: bot.slack.home)."""

    def publish(self, user: str, home: Home) -> None:
        """Show `home` to `user`. Best effort: a failure is logged, never raised (the next change or the
        next time the person opens the tab publishes it again)."""
        ...
