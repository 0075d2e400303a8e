"""Applies the policy: resolves groups through the Directory, feeds the pure decisions, and turns a
"no" into Refused where a workflow needs to stop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.domain import commands as cmds
from bot.domain import decisions as dec
from bot.domain.keys import KeySpec
from bot.domain.policy import Policy, Rule
from bot.domain.requests import Kind, State
from bot.domain.timeutil import aware, maybe_aware
from bot.errors import Refused
from bot.services.ports import Directory, Exchange, Outcome, RequestView
from bot.storage.db import session_scope
from bot.storage.tables import Enrollment


class Rules:
    def __init__(self, *, policy: Callable[[], Policy], directory: Directory, exchange: Exchange,
                 engine: Engine, clock: object) -> None:
        self._policy = policy
        self._directory = directory
        self._exchange = exchange
        self._engine = engine
        self._clock = clock

    @property
    def policy(self) -> Policy:
        return self._policy()

    def group(self, name: str) -> frozenset[str]:
        return self._directory.members(frozenset(self.policy.group(name)))

    def approvers_for(self, rule: Rule) -> frozenset[str]:
        return self._directory.members(frozenset(rule.approver_ids))

    def rule(self, sub_account: str) -> Rule:
        rule = self.policy.rule_for(sub_account)
        if rule is None:
            raise Refused(f"No policy rule covers sub-account `{sub_account}`.", reason="no_rule")
        return rule

    def totp_lockout(self) -> tuple[int, int]:
        return self.policy.totp_max_failures, self.policy.totp_lockout_minutes

    def check_request(self, actor: str, spec: KeySpec, *, kind: Kind) -> Rule:
        """Everything that must hold before a request is posted; raises Refused listing every problem."""
        policy = self.policy
        allowed = dec.may_request(user=actor, sub_account=spec.sub_account, policy=policy,
                                  requesters=self.group("requesters"))
        if not allowed.allowed:
            raise Refused(allowed.message, reason=allowed.reason)
        rule = self.rule(spec.sub_account)
        checks = [dec.enough_approvers(requester=actor, rule=rule, approvers=self.approvers_for(rule))]
        if kind == Kind.CREATE:
            active = len(self._exchange.list_keys(spec.sub_account))
            checks.append(dec.check_spec(spec, rule, active_keys=active))
        elif kind == Kind.UPDATE:
            checks.append(dec.check_update(spec, rule))
        decision = dec.Decision.all_of(checks, ok="ok")
        if not decision.allowed:
            text = "\n".join(f"• {d.message}" for d in decision.parts) if decision.parts else decision.message
            raise Refused(text, reason=decision.reason)
        return rule

    def may_approve(self, req: RequestView, user: str, *, now: datetime, totp: dec.TotpState) -> dec.Decision:
        """May `user` approve `req` (its snapshot, with the approvals so far)? `totp`: their enrollment, read
        in the caller's transaction (`totp_state`)."""
        rule = self.policy.rule_for(req.sub_account)
        if rule is None:
            return dec.Decision.no("no_rule", f"No policy rule covers `{req.sub_account}` any more.")
        return dec.may_approve(approver=user, request=_approval(req, req.approvers),
                               approvers=self.approvers_for(rule), totp=totp, now=now)

    def awaits(self, req: RequestView, user: str, *, now: datetime) -> bool:
        """Does `req` wait for `user`'s approval (every check but their TOTP would let them approve)?"""
        rule = self.policy.rule_for(req.sub_account)
        return rule is not None and dec.awaits_approval(approver=user, request=_approval(req, req.approvers),
                                                        approvers=self.approvers_for(rule), now=now).allowed

    def may_deny(self, req: RequestView, user: str) -> dec.Decision:
        """Deny: the requester withdraws with `cancel`; approvers (not the requester) deny."""
        if req.state != State.PENDING:
            return dec.Decision.no("not_pending", f"Request {req.id} is {req.state}, not pending any more.")
        rule = self.policy.rule_for(req.sub_account)
        approvers = self.approvers_for(rule) if rule else frozenset()
        if user == req.requester:
            return dec.Decision.no("self_deny", "Use `/kukey cancel " + req.id + "` to withdraw your own request.")
        if user not in approvers and user not in self.group("admins"):
            return dec.Decision.no("not_approver", f"You are not in the approver group for {req.id}.")
        return dec.Decision.yes()

    def may_deny_now(self, request_id: str, user: str) -> Outcome:
        from bot.services.deps import view
        from bot.storage import repos

        with session_scope(self._engine) as s:
            row = repos.get_request(s, request_id=request_id)
            if row is None:
                return Outcome(False, f"Request {request_id} does not exist.", "unknown_request")
            d = self.may_deny(view(s, row), user)
        return Outcome(d.allowed, d.message, d.reason)

    def may_cancel(self, req: RequestView, user: str) -> dec.Decision:
        return dec.may_cancel(user=user, requester=req.requester, admins=self.group("admins"))

    def may_audit(self, user: str) -> dec.Decision:
        return dec.may_audit(user=user, admins=self.group("admins"))

    def may_revoke_alone(self, user: str, channel: str) -> dec.Decision:
        policy = self.policy
        if channel not in policy.incident_channels:  # no Slack lookup outside incident channels
            return dec.Decision.no("needs_approval", "Outside an incident channel a revoke needs approval.")
        return dec.may_revoke_alone(user=user, channel=channel, policy=policy, responders=self.group("responders"))

    def explain(self, user: str, cmd: cmds.Create) -> str:
        assert cmd.spec is not None
        rule = self.policy.rule_for(cmd.spec.sub_account)
        active = len(self._exchange.list_keys(cmd.spec.sub_account)) if rule else 0
        dry = dec.explain_create(requester=user, spec=cmd.spec, policy=self.policy,
                                 requesters=self.group("requesters"),
                                 approvers=self.approvers_for(rule) if rule else frozenset(), active_keys=active)
        return dry.text


def _approval(req: RequestView, approved_by: tuple[str, ...]) -> dec.ApprovalRequest:
    """What an approval decision needs to know about `req`, approved so far by `approved_by`."""
    return dec.ApprovalRequest(request_id=req.id, requester=req.requester, state=req.state,
                               expires_at=aware(req.expires_at), approvals_needed=req.approvals_needed,
                               approved_by=frozenset(approved_by), reveal_deadline=req.reveal_deadline)


def totp_state(session: Session, user: str) -> dec.TotpState:
    """`user`'s TOTP enrollment and lockout, read in the caller's transaction."""
    row = session.get(Enrollment, user)
    return dec.TotpState(enrolled=bool(row and row.active), locked_until=maybe_aware(row.locked_until) if row else None)
