"""Reminders to the owners of kukey's keys: a key about to expire (its rule's `warn_before_expiry_days`) or
due for rotation (`rotation_days`), each told once per key and reason (bot.domain.reminders).

An hourly job (one for every replica, like reconciliation's) finds kukey's active keys that need one. For
each, one transaction records the reminder (table `key_reminder`, unique per key and reason), its audit
event and the owner's direct message in the outbox: a restart, a job run again after a crash, or a second
replica never sends it twice, and a reminder recorded is a reminder delivered. A key no longer active
(rotated, revoked, gone) is never reminded, nor one a rotate or revoke request is already open for (it is
reminded later if that request ends without replacing it). The message's Rotate button files what
`/kukey rotate <sub-account> <apiKey>` files (bot.slack.listeners.home).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.actions import AuditAction
from bot.domain.jobs import JobKind
from bot.domain.keys import KeyOrigin, KeyState
from bot.domain.reminders import KeyReminder, days_until, reasons_due
from bot.domain.timeutil import aware, fmt, maybe_aware
from bot.services.deps import Deps
from bot.storage import reminders as sent
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import KeyRecord

GLOBAL = "global"
EVERY = timedelta(hours=1)


class KeyReminders:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    def ensure_scheduled(self) -> None:
        """At start: the one periodic job for every replica (see Checkpoints.ensure_scheduled)."""
        with session_scope(self.d.engine) as s:
            repos.schedule_once(s, kind=JobKind.KEY_REMINDERS, ref=GLOBAL, run_at=self.d.clock.now() + EVERY)

    def job(self, _: str) -> None:
        self.run()
        with session_scope(self.d.engine) as s:
            repos.schedule(s, kind=JobKind.KEY_REMINDERS, ref=GLOBAL, run_at=self.d.clock.now() + EVERY)

    def run(self) -> list[KeyReminder]:
        """Tell each owner what is due about their keys and was not told before; the reminders sent now."""
        now = self.d.clock.now()
        with session_scope(self.d.engine) as s:
            keys = [k for k in repos.keys_of(s, states=(KeyState.ACTIVE,))
                    if k.origin == KeyOrigin.KUKEY and k.requested_by]
            busy_keys, busy_subs = sent.open_targets(s)
        due = [r for k in keys if k.api_key not in busy_keys and k.sub_account not in busy_subs
               for r in self._due(k, now)]
        return [r for r in due if self._send(r, now)]

    def _due(self, key: KeyRecord, now: datetime) -> list[KeyReminder]:
        rule = self.d.policy().rule_for(key.sub_account)
        if rule is None or not key.requested_by:
            return []
        created, expires = aware(key.created_at), maybe_aware(key.expires_at)
        return [KeyReminder(reason=reason, owner=key.requested_by, api_key=key.api_key, sub_account=key.sub_account,
                            expires_at=expires, days_left=days_until(expires, now), age_days=(now - created).days,
                            rotation_days=rule.rotation_days)
                for reason in reasons_due(rule, created_at=created, expires_at=expires, now=now)]

    def _send(self, reminder: KeyReminder, now: datetime) -> bool:
        """Record and owe one reminder, unless it was sent before or the key left `active` meanwhile."""
        with session_scope(self.d.engine) as s:
            key = repos.get_key(s, api_key=reminder.api_key)
            if key is None or key.state != KeyState.ACTIVE:
                return False
            if not sent.remember(s, api_key=reminder.api_key, reason=reminder.reason, owner=reminder.owner, at=now):
                return False
            self.d.audit.record(s, AuditAction.KEY_REMINDED, actor="kukey", sub_account=reminder.sub_account,
                                api_key=reminder.api_key,
                                detail={"reason": reminder.reason.value, "owner": reminder.owner,
                                        "age_days": reminder.age_days, "rotation_days": reminder.rotation_days,
                                        "expires_at": fmt(reminder.expires_at) if reminder.expires_at else None})
            self.d.outbox.add(s, self.d.notifier.plan_reminder(reminder))
        return True

