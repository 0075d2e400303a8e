"""The Home tab: each person's keys, requests and what waits for them; for admins, what waits for anyone.

`HomeService.read(user)` builds the read model (bot.services.home_model) from kukey's database alone:
opening the tab costs no exchange call. `show(user)` publishes it through the HomeSurface port (Slack's
Home tab), when the person opens the tab. `changed(...)` publishes it again, later on the worker pool,
for the people a change concerns: the requester, the approvers while the request waits for them, the
owners of the keys it touched, and the admins. A refresh is cheap or skipped: only for people who opened
their Home in this process (someone who never looks at it costs nothing; after a restart, or on another
replica, the next open publishes it), at most REFRESH_MAX per change, and never two waiting for the same
person (the one waiting reads the newest state when it runs). The outbox calls `reported` after each
transaction that reported an event or an announcement commits.

Reading the Home writes no audit event, like `/kukey pending` and `/kukey status`: it changes nothing. Its
buttons go through the same services as the slash commands, policy checks and audit events included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.domain.keys import KeyOrigin, KeyState, parse_permissions
from bot.domain.policy import Policy
from bot.domain.requests import OPEN_STATES, State
from bot.domain.timeutil import aware, maybe_aware
from bot.services.checkpoints import Checkpoints
from bot.services.deps import Deps, view
from bot.services.home_model import AdminHome, Home, HomeSurface, KeyRow, TotpStatus
from bot.services.ports import RequestView
from bot.services.rules import Rules
from bot.storage import repos
from bot.storage.audit import SYSTEM_ACTOR
from bot.storage.db import session_scope
from bot.storage.tables import Enrollment, KeyRecord

LIMIT = 500  # requests read per list: far more than a Home shows (the Slack layer counts the rest)
REFRESH_MAX = 20  # people whose Home one change refreshes; the others see it when they open the tab
# Events after which the request's approvers see another "waiting for your approval" list.
_APPROVER_EVENTS = frozenset({"submitted", "approval_added", "approved", "denied", "expired", "cancelled"})
_LIVE = (KeyState.ACTIVE, KeyState.DELETE_PENDING)


class HomeService:
    def __init__(self, deps: Deps, rules: Rules, checkpoints: Checkpoints, surface: HomeSurface) -> None:
        self.d = deps
        self.rules = rules
        self.checkpoints = checkpoints
        self.surface = surface
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._viewers: set[str] = set()  # who opened their Home tab (in this process)
        self._queued: set[str] = set()  # whose refresh waits on the worker pool

    def read(self, user: str) -> Home:
        now, policy = self.d.clock.now(), self.d.policy()
        with session_scope(self.d.engine) as s:
            keys = tuple(key_row(k, now, policy) for k in repos.keys_of(s, requested_by=user, states=_LIVE))
            mine = tuple(view(s, r) for r in repos.requests_in(s, states=sorted(OPEN_STATES), requester=user,
                                                               limit=LIMIT))
            pending = tuple(view(s, r) for r in repos.requests_in(s, states=[State.PENDING], limit=LIMIT))
            totp = _totp(s.get(Enrollment, user), now)
        waiting = tuple(sorted((r for r in pending if self.rules.awaits(r, user, now=now)),
                               key=lambda r: r.expires_at))
        admin = self._admin(pending, now, policy) if user in self.rules.group("admins") else None
        return Home(user, now, keys, mine, waiting, totp, admin)

    def _admin(self, pending: tuple[RequestView, ...], now: datetime, policy: Policy) -> AdminHome:
        youngest_due = min((r.rotation_days for r in policy.rules), default=None)
        with session_scope(self.d.engine) as s:
            old = [] if youngest_due is None else repos.keys_of(
                s, states=(KeyState.ACTIVE,), created_until=now - timedelta(days=youngest_due))
            due = tuple(row for k in old if k.origin == KeyOrigin.KUKEY and (row := key_row(k, now, policy)).due)
            external = tuple(key_row(k, now, policy) for k in repos.keys_of(s, states=(KeyState.EXTERNAL,)))
        return AdminHome(pending, due, external, self.checkpoints.last())

    def admin_view(self) -> AdminHome:
        """What the admins' part of the Home shows now (the weekly digest reads it too)."""
        now, policy = self.d.clock.now(), self.d.policy()
        with session_scope(self.d.engine) as s:
            pending = tuple(view(s, r) for r in repos.requests_in(s, states=[State.PENDING], limit=LIMIT))
        return self._admin(pending, now, policy)

    def show(self, user: str) -> None:
        """The person opened their Home tab: publish it now. From then on this process also refreshes it after
        changes that concern them."""
        with self._guard:
            self._viewers.add(user)
        self._publish(user)

    def refresh(self, users: Iterable[str]) -> None:
        """Publish these people's Homes again, on the worker pool (after a change only they see)."""
        self._queue(users)

    def reported(self, name: str, req: RequestView | None, fields: Mapping[str, Any]) -> None:
        """The outbox's watcher (bot.services.outbox.Watcher): an event of a request, or an announcement."""
        if req is None:
            self.changed_for_admins()
        else:
            self.changed(name, req, fields)

    def changed(self, name: str, req: RequestView, fields: Mapping[str, Any]) -> None:
        """After event `name` of `req`: publish again, on the worker pool, the Homes of the people it concerns."""
        if self._anyone_looking():
            self.d.later(lambda: self._queue(self.concerned(name, req, fields)))

    def changed_for_admins(self) -> None:
        """After an announcement (a reconciliation report, a checkpoint, a revoke): the admins' Homes."""
        if self._anyone_looking():
            self.d.later(lambda: self._queue(sorted(self.rules.group("admins"))))

    def concerned(self, name: str, req: RequestView, fields: Mapping[str, Any]) -> list[str]:
        """Whose Home event `name` of `req` changes (requester first): the approvers while it waits for them,
        the owners of the keys it touched, the admins."""
        people = [req.requester]
        rule = self.d.policy().rule_for(req.sub_account)
        if name in _APPROVER_EVENTS and rule is not None and not req.incident:
            people += sorted(self.rules.approvers_for(rule))
        touched = [k for k in (req.target_api_key, *(fields.get("deleted") or ())) if isinstance(k, str)]
        if touched:
            with session_scope(self.d.engine) as s:
                people += [row.requested_by for k in touched
                           if (row := repos.get_key(s, api_key=k)) is not None and row.requested_by]
        people += sorted(self.rules.group("admins"))
        return [p for p in dict.fromkeys(people) if p != SYSTEM_ACTOR]

    def _anyone_looking(self) -> bool:
        with self._guard:
            return bool(self._viewers)

    def _queue(self, users: Iterable[str]) -> None:
        """A refresh for each of `users` who opened their Home here, at most REFRESH_MAX; none for someone
        whose refresh waits already (it will read the newest state when it runs)."""
        with self._guard:
            new = [u for u in dict.fromkeys(users) if u in self._viewers and u not in self._queued][:REFRESH_MAX]
            self._queued.update(new)
        for user in new:
            self.d.later(self._publish, user)

    def _publish(self, user: str) -> None:
        """Read and publish `user`'s Home; one at a time per person, so the newest reading is shown last."""
        with self._lock(user):
            with self._guard:
                self._queued.discard(user)
            self.surface.publish(user, self.read(user))

    def _lock(self, user: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(user, threading.Lock())


def key_row(key: KeyRecord, now: datetime, policy: Policy) -> KeyRow:
    rule = policy.rule_for(key.sub_account)
    created = aware(key.created_at)
    return KeyRow(api_key=key.api_key, sub_account=key.sub_account, permissions=parse_permissions(key.permissions),
                  ips=tuple(i for i in key.ips.split(",") if i), created_at=created,
                  expires_at=maybe_aware(key.expires_at), age_days=max(0, (now - created).days),
                  rotation_days=rule.rotation_days if rule else None, state=key.state)


def _totp(row: Enrollment | None, now: datetime) -> TotpStatus:
    if row is None:
        return TotpStatus(enrolled=False)
    locked = maybe_aware(row.locked_until)
    return TotpStatus(enrolled=row.active, started=not row.active or row.pending_seed_enc is not None,
                      locked_until=locked if locked is not None and locked > now else None)
