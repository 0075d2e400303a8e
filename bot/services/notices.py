"""Approvers told about a request, reminded while it waits, and the escalation group told once
(bot.domain.notify says how, per rule).

At submit, in the request's own transaction: the eligible approvers (the approver group's members, resolved
then, minus the requester) are recorded (table `notice`), sent a direct message with the Approve button
when the rule's `notify` says so, and the reminder and escalation jobs are scheduled. Each job finds the
request again; once it is resolved or expired the job does nothing (resolving also cancels it). A
reminder or escalation is recorded under a unique (request, kind, seq) in the transaction that owes its
messages (the outbox), so it goes out once, whatever retries, replicas or restarts do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from bot.domain.actions import AuditAction
from bot.domain.jobs import JobKind
from bot.domain.notify import NoticeKind, reminder_at
from bot.domain.policy import Rule
from bot.domain.requests import State
from bot.domain.timeutil import aware
from bot.services.deps import Deps, view
from bot.services.rules import Rules
from bot.storage import notices, repos
from bot.storage.db import session_scope
from bot.storage.tables import Request


class Notices:
    def __init__(self, deps: Deps, rules: Rules) -> None:
        self.d = deps
        self.rules = rules

    def recipients(self, requester: str, rule: Rule) -> list[str]:
        """Who gets a direct message about a new request (before its transaction: it may ask Slack)."""
        if not rule.notify.direct:
            return []
        return sorted(self.rules.approvers_for(rule) - {requester})

    def on_submit(self, s: Session, row: Request, rule: Rule, recipients: list[str]) -> None:
        """In the submit transaction: the direct messages, and the reminder and escalation jobs."""
        created, expires = aware(row.created_at), aware(row.expires_at)
        if recipients:
            notices.add(s, request_id=row.id, kind=NoticeKind.APPROVERS, users=recipients, at=created)
            self.d.audit.record(s, AuditAction.REQUEST_NOTIFIED, actor="kukey", request_id=row.id,
                                sub_account=row.sub_account, detail={"to": recipients, "via": rule.notify.value})
            self.d.outbox.event(s, "approvers_notified", view(s, row), users=recipients)
        if rule.remind_after_minutes is not None:
            _schedule_before(s, JobKind.REMIND_APPROVERS, row.id, reminder_at(created, rule.remind_after_minutes, 0),
                             expires)
        if rule.escalate_after_minutes is not None and rule.escalate_to is not None:
            _schedule_before(s, JobKind.ESCALATE_REQUEST, row.id,
                             created + timedelta(minutes=rule.escalate_after_minutes), expires)

    # --- jobs --------------------------------------------------------------------------------------
    def remind(self, request_id: str) -> None:
        """The job: remind whoever has not approved yet, once per reminder, and schedule the next one."""
        now = self.d.clock.now()
        with session_scope(self.d.engine) as s:
            row, rule = self._pending(s, request_id, now)
            if row is None or rule is None or rule.remind_after_minutes is None:
                return
            created, first = aware(row.created_at), rule.remind_after_minutes
            number = notices.count(s, request_id=row.id, kind=NoticeKind.REMINDER)
            due = reminder_at(created, first, number)
            if due > now:  # early: this reminder's time has not come yet
                repos.schedule(s, kind=JobKind.REMIND_APPROVERS, ref=row.id, run_at=due)
                return
            snapshot = view(s, row)
            users = [u for u in notices.users(s, request_id=row.id, kind=NoticeKind.APPROVERS)
                     if u not in snapshot.approvers] if rule.notify.direct else []
            if not notices.add(s, request_id=row.id, kind=NoticeKind.REMINDER, seq=number, users=users, at=now):
                return  # another run recorded this reminder
            self.d.audit.record(s, AuditAction.REQUEST_REMINDED, actor="kukey", request_id=row.id,
                                sub_account=row.sub_account,
                                detail={"number": number + 1, "to": users, "via": rule.notify.value})
            self.d.outbox.event(s, "approvers_reminded", snapshot, users=users, number=number + 1,
                                in_thread=rule.notify.in_thread, group=list(rule.approver_ids))
            _schedule_before(s, JobKind.REMIND_APPROVERS, row.id, reminder_at(created, first, number + 1),
                             aware(row.expires_at))

    def escalate(self, request_id: str) -> None:
        """The job: tell the rule's escalate_to group (minus the requester) once, while the request waits."""
        now = self.d.clock.now()
        with session_scope(self.d.engine) as s:
            row, rule = self._pending(s, request_id, now)
            requester = row.requester if row is not None else ""
        if row is None or rule is None or rule.escalate_to is None:
            return
        users = sorted(self.d.directory.members(frozenset(rule.escalate_ids)) - {requester})  # may ask Slack
        approvers = sorted(self.rules.approvers_for(rule).intersection(users))
        with session_scope(self.d.engine) as s:
            row, _ = self._pending(s, request_id, now)
            if row is None or not notices.add(s, request_id=row.id, kind=NoticeKind.ESCALATION, users=users,
                                              at=now):
                return
            self.d.audit.record(s, AuditAction.REQUEST_ESCALATED, actor="kukey", request_id=row.id,
                                sub_account=row.sub_account, detail={"group": rule.escalate_to, "to": users})
            self.d.outbox.event(s, "escalated", view(s, row), users=users, approvers=approvers,
                                group=rule.escalate_to, minutes=rule.escalate_after_minutes)

    def _pending(self, s: Session, request_id: str, now: datetime) -> tuple[Request | None, Rule | None]:
        """The request and its rule while it still waits for approval (else nothing: the job is moot)."""
        row = repos.get_request(s, request_id=request_id)
        if row is None or row.state != State.PENDING or aware(row.expires_at) <= now:
            return None, None
        return row, self.rules.policy.rule_for(row.sub_account)


def _schedule_before(s: Session, kind: JobKind, ref: str, at: datetime, expires: datetime) -> None:
    """Schedule the job at `at` if that is before the request expires (else there is nothing to do)."""
    if at < expires:
        repos.schedule(s, kind=kind, ref=ref, run_at=at)
