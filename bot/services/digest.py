"""The admins' weekly digest: keys due for rotation, keys expiring soon, requests waiting for approval and
keys kukey did not create, as a direct message to each member of the policy's `admins` group.

A weekly job (one for every replica, scheduled with `schedule_once` like the checkpoint's) sends it. Its
audit event, the admins' messages in the outbox and the next week's run are one transaction: a restart, a
run repeated after a crash or a second replica never sends a week's digest twice.

"Expiring soon" is within the key's rule's `warn_before_expiry_days` or before the next digest, whichever
is later: every key that expires is in at least one digest before it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.actions import AuditAction
from bot.domain.jobs import JobKind
from bot.domain.keys import KeyOrigin, KeyState
from bot.domain.reminders import expiring_within
from bot.services.deps import Deps
from bot.services.home import HomeService, key_row
from bot.services.home_model import KeyRow
from bot.services.ports import RequestView
from bot.services.rules import Rules
from bot.storage import repos
from bot.storage.db import session_scope

GLOBAL = "global"
EVERY = timedelta(days=7)


@dataclass(frozen=True)
class Digest:
    """One week's digest, as plain values (bot.slack renders it)."""

    now: datetime
    due: tuple[KeyRow, ...]  # kukey's keys older than their rule's rotation age
    expiring: tuple[KeyRow, ...]  # kukey's keys that expire soon (see the module's docstring)
    pending: tuple[RequestView, ...]  # requests waiting for approval
    external: tuple[KeyRow, ...]  # keys kukey did not create, found by reconciliation


class WeeklyDigest:
    def __init__(self, deps: Deps, rules: Rules, home: HomeService) -> None:
        self.d = deps
        self.rules = rules
        self.home = home

    def ensure_scheduled(self) -> None:
        """At start: the one weekly job for every replica (see Checkpoints.ensure_scheduled)."""
        with session_scope(self.d.engine) as s:
            repos.schedule_once(s, kind=JobKind.WEEKLY_DIGEST, ref=GLOBAL, run_at=self.d.clock.now() + EVERY)

    def job(self, _: str) -> None:
        """Owe every admin this week's digest (nobody when the group is empty), with its audit event, and
        schedule the next one: one transaction."""
        digest, admins = self.read(), self.rules.group("admins")
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, AuditAction.DIGEST_SENT, actor="kukey",
                                detail={"admins": sorted(admins), "due": len(digest.due),
                                        "expiring": len(digest.expiring), "pending": len(digest.pending),
                                        "external": len(digest.external)})
            self.d.outbox.add(s, self.d.notifier.plan_digest(admins, digest))
            repos.schedule(s, kind=JobKind.WEEKLY_DIGEST, ref=GLOBAL, run_at=digest.now + EVERY)

    def read(self) -> Digest:
        """The digest as of now."""
        admin = self.home.admin_view()
        now, policy = self.d.clock.now(), self.d.policy()
        with session_scope(self.d.engine) as s:
            rows = [key_row(k, now, policy) for k in repos.keys_of(s, states=(KeyState.ACTIVE,))
                    if k.origin == KeyOrigin.KUKEY]
        expiring = [r for r in rows if expiring_within(expires_at=r.expires_at, now=now,
                                                       days=max(EVERY.days, self._warn_days(r.sub_account)))]
        return Digest(now=now, due=admin.due, expiring=tuple(sorted(expiring, key=lambda r: r.expires_at or now)),
                      pending=admin.pending, external=admin.external)

    def _warn_days(self, sub_account: str) -> int:
        rule = self.d.policy().rule_for(sub_account)
        return rule.warn_before_expiry_days if rule else 0
