"""Requests and their approval: submit, approve (TOTP), deny, cancel, expire, lapse.

Every state change is a compare-and-set plus its audit event in one transaction, and what people are told
about it is owed in that same transaction (the outbox, bot.services.outbox): nothing is reported before it
is durable, and nothing durable goes unreported, however Slack behaves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.domain import commands as cmds
from bot.domain import decisions
from bot.domain.actions import AuditAction
from bot.domain.jobs import WHILE_PENDING, JobKind
from bot.domain.keys import KeySpec, KeyState, format_permissions, parse_permissions
from bot.domain.outbox import GIVE_UP_AFTER
from bot.domain.requests import Kind, State
from bot.domain.timeutil import aware
from bot.errors import Refused
from bot.services.deps import Deps, view
from bot.services.enrollment import Lockout
from bot.services.notices import Notices
from bot.services.ports import Outcome, RequestView
from bot.services.rules import Rules, totp_state
from bot.services.update import update_spec, was
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import Request

Submittable = cmds.Create | cmds.Rotate | cmds.Revoke | cmds.Update
# The kinds with nothing to reveal: the last approval moves them to this state and runs this job at once.
_RUN_ON_APPROVAL = {Kind.REVOKE: (State.REVOKING, JobKind.REVOKE), Kind.UPDATE: (State.UPDATING, JobKind.UPDATE_KEY)}


@dataclass(frozen=True)
class Origin:
    """Where and how a command arrived: channel, and the delivery's de-duplication key."""

    channel: str
    dedupe_key: str | None = None


class Workflow:
    def __init__(self, deps: Deps, rules: Rules) -> None:
        self.d = deps
        self.rules = rules
        self.notices = Notices(deps, rules)

    # --- submit -----------------------------------------------------------------------------------
    def submit(self, actor: str, cmd: Submittable, origin: Origin) -> Outcome:
        """Check a create/rotate/revoke/update against the policy and the exchange, then post it for approval."""
        try:
            spec, kind, target = self._spec_for(actor, cmd)
            rule = self.rules.check_request(actor, spec, kind=kind)
        except Refused as exc:
            self._refused(actor, cmd, exc, origin)
            return Outcome(False, str(exc), exc.reason)
        recipients = self.notices.recipients(actor, rule)
        now = self.d.clock.now()
        row = Request(
            id=cmds.new_request_id(), kind=kind.value, state=State.PENDING.value, requester=actor,
            sub_account=spec.sub_account, permissions=format_permissions(spec.permissions),
            ips=",".join(spec.ips), expire_days=spec.expire_days, reason=getattr(cmd, "reason", ""),
            approvals_needed=rule.approvals, target_api_key=target,
            revoke_all=bool(getattr(cmd, "all", False)), grace_minutes=getattr(cmd, "grace_minutes", None),
            origin_channel=origin.channel, dedupe_key=origin.dedupe_key, created_at=now,
            expires_at=now + timedelta(minutes=rule.request_ttl_minutes),
        )
        try:
            with session_scope(self.d.engine) as s:
                s.add(row)
                s.flush()
                repos.schedule(s, kind=JobKind.EXPIRE_REQUEST, ref=row.id, run_at=aware(row.expires_at))
                snapshot = view(s, row)
                self.d.audit.record(s, AuditAction.REQUEST_CREATED, actor=actor, request_id=row.id,
                                    sub_account=row.sub_account, api_key=target,
                                    detail={"kind": row.kind, "permissions": row.permissions, "ips": row.ips,
                                            "expire_days": row.expire_days, "reason": row.reason,
                                            "approvals_needed": row.approvals_needed, **was(snapshot)})
                # the post to the approvals channel, then the requester's link to it: owed from now on,
                # and given up (the request cancelled) halfway to its expiry at the latest
                self.d.outbox.event(s, "submitted", snapshot,
                                    give_up_at=now + min(GIVE_UP_AFTER, (row.expires_at - now) / 2))
                self.notices.on_submit(s, row, rule, recipients)  # after the post: the DMs link to it
        except IntegrityError:
            with session_scope(self.d.engine) as s:
                dup = repos.find_by_dedupe(s, dedupe_key=origin.dedupe_key or "")
            return Outcome(True, "duplicate delivery", "duplicate", {"request_id": dup.id if dup else None})
        return Outcome(True, "", "recorded", {"request_id": row.id})

    def _spec_for(self, actor: str, cmd: Submittable) -> tuple[KeySpec, Kind, str | None]:
        if isinstance(cmd, cmds.Create):
            assert cmd.spec is not None
            return cmd.spec, Kind.CREATE, None
        if isinstance(cmd, cmds.Update):
            with session_scope(self.d.engine) as s:
                return update_spec(s, cmd), Kind.UPDATE, cmd.api_key
        if isinstance(cmd, cmds.Rotate):
            with session_scope(self.d.engine) as s:
                key = repos.get_key(s, api_key=cmd.api_key)
                if key is None or key.sub_account != cmd.sub_account or key.state != KeyState.ACTIVE:
                    raise Refused(f"kukey holds no active key {cmd.api_key} in {cmd.sub_account}; it can rotate "
                                  "only keys it created. See `/kukey list " + cmd.sub_account + "`.",
                                  reason="unknown_key")
                spec = KeySpec(cmd.sub_account, parse_permissions(key.permissions),
                               tuple(i for i in key.ips.split(",") if i), key.expire_days)
            return spec, Kind.ROTATE, cmd.api_key
        spec = KeySpec(cmd.sub_account)
        if not cmd.all:
            with session_scope(self.d.engine) as s:
                key = repos.get_key(s, api_key=cmd.api_key or "")
                if key is None or key.sub_account != cmd.sub_account or key.state != KeyState.ACTIVE:
                    raise Refused(f"kukey holds no active key {cmd.api_key} in {cmd.sub_account} (it can revoke "
                                  "only keys it holds a passphrase for).", reason="unknown_key")
        return spec, Kind.REVOKE, cmd.api_key

    def _refused(self, actor: str, cmd: object, exc: Refused, origin: Origin) -> None:
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, AuditAction.COMMAND_REFUSED, actor=actor, outcome="refused",
                                sub_account=getattr(cmd, "sub_account", None) or getattr(
                                    getattr(cmd, "spec", None), "sub_account", None),
                                detail={"command": type(cmd).__name__.lower(), "why": exc.reason,
                                        "message": str(exc), "channel": origin.channel})

    # --- approve ----------------------------------------------------------------------------------
    def may_start_approval(self, request_id: str, user: str) -> Outcome:
        """Cheap checks when Approve is clicked, before the TOTP modal opens."""
        with session_scope(self.d.engine) as s:
            return self._may_approve(s, request_id, user)

    def _may_approve(self, s: Session, request_id: str, user: str) -> Outcome:
        """The request, its approvals and the approver's TOTP state, read in `s`; a refusal is put on record
        in `s`."""
        row = repos.get_request(s, request_id=request_id)
        if row is None:
            return Outcome(False, f"Request {request_id} does not exist.", "unknown_request")
        snapshot = view(s, row)
        decision = self.rules.may_approve(snapshot, user, now=self.d.clock.now(), totp=totp_state(s, user))
        if not decision.allowed:
            self.d.audit.record(s, AuditAction.APPROVE_REFUSED, actor=user, request_id=request_id, outcome="refused",
                                sub_account=snapshot.sub_account,
                                detail={"why": decision.reason, "message": decision.message})
            return Outcome(False, decision.message, decision.reason)
        return Outcome(True)

    def approve(self, request_id: str, user: str, code: str) -> Outcome:
        """Approve with a TOTP code. Raises Refused for an inline modal error (wrong code, locked).

        ONE transaction, under kukey's write lock, holds the checks, the code's judgement and the approval:
        nothing can change the request between them, and a refusal (a wrong code counted, a lockout) is
        committed with its audit event before it is raised."""
        lockout = Lockout(*self.rules.totp_lockout())
        with session_scope(self.d.engine) as s:
            outcome = self._may_approve(s, request_id, user)
            if not outcome.ok:
                return outcome
            verdict = self.d.enrollment.judge(s, user, code, purpose="approve", lockout=lockout,
                                              request_id=request_id)
            if not isinstance(verdict, Refused):
                outcome, runs = self._add_approval(s, request_id, user, verdict)
        if isinstance(verdict, Refused):
            if verdict.reason == "locked_now":
                self._event(request_id, "locked_out", user=user)
            raise verdict
        if runs is not None:
            self.d.later(self.d.jobs.run_now, runs, request_id)
        return outcome

    def _add_approval(self, s: Session, request_id: str, user: str, step: int) -> tuple[Outcome, JobKind | None]:
        """Record `user`'s approval (their code's `step`) in `s`, and complete the request if it was the last;
        with the job to start once `s` has committed (a revoke or an update approved)."""
        now = self.d.clock.now()
        row = repos.get_request(s, request_id=request_id)
        assert row is not None
        if row.state != State.PENDING or aware(row.expires_at) <= now:
            return Outcome(False, f"Request {request_id} is no longer pending ({row.state}).", "not_pending"), None
        if not repos.add_approval(s, request_id=request_id, approver=user, step=step, at=now):
            return Outcome(False, "You have already approved this request.", "already_approved"), None
        approvers = tuple(a.approver for a in repos.approvals_of(s, request_id=request_id))
        self.d.audit.record(s, AuditAction.REQUEST_APPROVAL, actor=user, request_id=request_id,
                            sub_account=row.sub_account,
                            detail={"second_factor": "totp", "step": step, "count": len(approvers),
                                    "needed": row.approvals_needed})
        complete = len(approvers) >= row.approvals_needed
        if complete:
            self._complete_approval(s, row, now)
        self.d.outbox.event(s, "approved" if complete else "approval_added", view(s, row, approvers=approvers),
                            user=user)
        if not complete:
            return Outcome(True, "Approval recorded.", "partial", {"request_id": request_id}), None
        runs = _RUN_ON_APPROVAL[Kind(row.kind)][1] if row.kind in _RUN_ON_APPROVAL else None
        return Outcome(True, "Approved.", "approved", {"request_id": request_id}), runs

    def _complete_approval(self, s: Session, row: Request, now: datetime) -> None:
        rule = self.rules.rule(row.sub_account)
        if row.kind in _RUN_ON_APPROVAL:  # nothing to reveal: the job starts at once
            state, job = _RUN_ON_APPROVAL[Kind(row.kind)]
            ok = repos.transition(s, request_id=row.id, src=State.PENDING, dst=state, approved_at=now)
            if ok:
                repos.schedule(s, kind=job, ref=row.id, run_at=now)
        else:
            deadline = now + timedelta(minutes=rule.reveal_window_minutes)
            ok = repos.transition(s, request_id=row.id, src=State.PENDING, dst=State.APPROVED,
                                  approved_at=now, reveal_deadline=deadline)
            if ok:
                repos.schedule(s, kind=JobKind.LAPSE_APPROVAL, ref=row.id, run_at=deadline)
        if not ok:
            raise Refused("This request was resolved a moment ago.", reason="not_pending")
        repos.cancel_jobs(s, kinds=WHILE_PENDING, ref=row.id)
        self.d.audit.record(s, AuditAction.REQUEST_APPROVED, actor="kukey", request_id=row.id,
                            sub_account=row.sub_account, detail={"kind": row.kind})

    # --- deny / cancel / expire / lapse -------------------------------------------------------------
    def deny(self, request_id: str, user: str, reason: str) -> Outcome:
        return self._decide(request_id, user, AuditAction.DENY_REFUSED, self.rules.may_deny, State.DENIED,
                            AuditAction.REQUEST_DENIED, src=(State.PENDING,), note=reason[:300])

    def cancel(self, request_id: str, user: str) -> Outcome:
        return self._decide(request_id, user, AuditAction.CANCEL_REFUSED, self.rules.may_cancel, State.CANCELLED,
                            AuditAction.REQUEST_CANCELLED, src=(State.PENDING, State.APPROVED))

    def _decide(self, request_id: str, user: str, refusal: AuditAction,
                rule: Callable[[RequestView, str], decisions.Decision], dst: State, action: AuditAction, *,
                src: tuple[State, ...], note: str = "") -> Outcome:
        """A person resolves a request (deny, cancel) if the policy lets them; a refusal is on record."""
        with session_scope(self.d.engine) as s:
            row = repos.get_request(s, request_id=request_id)
            if row is None:
                return Outcome(False, f"Request {request_id} does not exist.", "unknown_request")
            decision = rule(view(s, row), user)
        if not decision.allowed:
            self._record_refusal(user, refusal, None, decision.reason, decision.message, request_id=request_id)
            return Outcome(False, decision.message, decision.reason)
        return self._resolve(request_id, user, dst, action, note=note, src=src)

    def expire(self, request_id: str) -> None:
        self._resolve(request_id, "kukey", State.EXPIRED, AuditAction.REQUEST_EXPIRED, src=(State.PENDING,),
                      only_if_due=True)

    def lapse(self, request_id: str) -> None:
        self._resolve(request_id, "kukey", State.LAPSED, AuditAction.REQUEST_LAPSED, src=(State.APPROVED,),
                      only_if_due=True)

    def _resolve(self, request_id: str, actor: str, dst: State, action: AuditAction, *, src: tuple[State, ...],
                 note: str = "", only_if_due: bool = False) -> Outcome:
        now = self.d.clock.now()
        with session_scope(self.d.engine) as s:
            row = repos.get_request(s, request_id=request_id)
            if row is None:
                return Outcome(False, f"Request {request_id} does not exist.", "unknown_request")
            if only_if_due:
                due = row.expires_at if dst == State.EXPIRED else row.reveal_deadline
                if due is None or aware(due) > now:
                    return Outcome(False, "not due", "not_due")
            if not repos.transition(s, request_id=request_id, src=src, dst=dst, resolved_at=now,
                                    resolved_by=actor, resolution_note=note):
                return Outcome(False, f"Request {request_id} is already {row.state}.", "not_open")
            repos.cancel_jobs(s, kinds=(*WHILE_PENDING, JobKind.LAPSE_APPROVAL), ref=request_id)
            self.d.audit.record(s, action, actor=actor, request_id=request_id, sub_account=row.sub_account,
                                detail={"note": note} if note else None)
            self.d.outbox.event(s, dst.value, view(s, row), user=actor)
        return Outcome(True, f"Request {request_id} {dst.value}.", dst.value)

    def _record_refusal(self, user: str, action: AuditAction, req: object, reason: str, message: str, *,
                        request_id: str | None = None) -> None:
        rid = request_id or getattr(req, "id", None)
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, action, actor=user, request_id=rid, outcome="refused",
                                sub_account=getattr(req, "sub_account", None),
                                detail={"why": reason, "message": message})

    def _event(self, request_id: str, name: str, *, user: str) -> None:
        with session_scope(self.d.engine) as s:
            row = repos.get_request(s, request_id=request_id)
            if row is not None:
                self.d.outbox.event(s, name, view(s, row), user=user)

