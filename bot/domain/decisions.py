"""Pure policy decisions: functions of data that say yes or no, with a stable reason code and a sentence.

A "no" is a value, never an exception. Group membership comes in already resolved: each function takes a
`frozenset[str]` of user ids (the Slack layer expands user groups), so nothing here does I/O.

    may_request(user, sub_account, policy, requesters)   requesters group + a rule for the sub-account
    check_spec(spec, rule, active_keys)                   permissions, IP whitelist, expiry, key count
    check_update(spec, rule)                              an update's permissions and IP whitelist
    enough_approvers(requester, rule, approvers)          can anyone but the requester approve?
    awaits_approval(approver, request, approvers, now)    may this person approve it (before TOTP)?
    may_approve(approver, request, approvers, totp, now)  the two-person rule, TOTP enrollment, lockout
    approvals_remaining(request)                          how many approvals are still needed
    may_revoke_alone(user, channel, policy, responders)   break glass: incident channel + responder
    may_audit(user, admins) / may_cancel(user, requester, admins)
    explain_create(...)                                   the dry-run: rule, approvers, what is refused
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.keys import PERMISSION_ORDER, TRADING_PERMISSIONS, KeySpec, Permission, format_permissions
from bot.domain.policy import Policy, Rule
from bot.domain.requests import State
from bot.domain.text import noun


@dataclass(frozen=True)
class Decision:
    """allowed, a stable reason code (e.g. "self_approval"), a sentence; `parts` lists each refusal."""

    allowed: bool
    reason: str
    message: str
    parts: tuple[Decision, ...] = ()

    @classmethod
    def yes(cls, message: str = "", reason: str = "ok") -> Decision:
        return cls(True, reason, message)

    @classmethod
    def no(cls, reason: str, message: str) -> Decision:
        return cls(False, reason, message)

    @classmethod
    def all_of(cls, decisions: Iterable[Decision], ok: str = "") -> Decision:
        """Yes when every decision is yes; otherwise no, with the first reason and every message."""
        refused = tuple(part for d in decisions if not d.allowed for part in (d.parts or (d,)))
        if not refused:
            return cls.yes(ok)
        return cls(False, refused[0].reason, " ".join(d.message for d in refused), refused)


@dataclass(frozen=True)
class ApprovalRequest:
    """What an approval decision needs to know about a request."""

    request_id: str
    requester: str
    state: str
    expires_at: datetime
    approvals_needed: int = 1
    approved_by: frozenset[str] = frozenset()
    reveal_deadline: datetime | None = None


@dataclass(frozen=True)
class TotpState:
    """A person's TOTP enrollment as far as decisions care."""

    enrolled: bool
    locked_until: datetime | None = None


def _perms(perms: Iterable[Permission]) -> str:
    return ", ".join(p.value for p in PERMISSION_ORDER if p in set(perms))


def may_request(*, user: str, sub_account: str, policy: Policy, requesters: frozenset[str]) -> Decision:
    """May `user` ask for a key on `sub_account`? `requesters`: the resolved requesters group."""
    if not policy.everyone_may_request and user not in requesters:
        return Decision.no("not_requester", "You are not in the requesters group of the kukey policy.")
    rule = policy.rule_for(sub_account)
    if rule is None:
        return Decision.no("no_rule", f"No policy rule covers sub-account `{sub_account}`, "
                                      "so kukey cannot issue keys for it.")
    return Decision.yes(f"{rule.key} (`{rule.match}`) applies to `{sub_account}`.")


def _access_checks(spec: KeySpec, rule: Rule) -> list[Decision]:
    """What a key may do: its permissions and the IP whitelist they need (a create's and an update's)."""
    checks: list[Decision] = []
    extra = spec.permissions - rule.allowed_permissions
    if extra:
        checks.append(Decision.no("permission_not_allowed",
                                  f"{_perms(extra)} is not allowed for `{spec.sub_account}` "
                                  f"({rule.key} allows {_perms(rule.allowed_permissions)})."))
    trading = spec.permissions & TRADING_PERMISSIONS
    if trading and rule.require_ip_whitelist_for_trading and not spec.ips:
        checks.append(Decision.no("ip_whitelist_required",
                                  f"A key with {_perms(trading)} needs an IP whitelist: add ips=..."))
    return checks


def check_update(spec: KeySpec, rule: Rule) -> Decision:
    """Check a key's new settings (an update) against its rule: permissions and IP whitelist. Its expiry
    does not change and it already exists, so neither the expiry limit nor the key count applies."""
    return Decision.all_of(_access_checks(spec, rule), ok="The new settings fit the policy.")


def check_spec(spec: KeySpec, rule: Rule, *, active_keys: int) -> Decision:
    """Check a key against its rule; a refusal lists every problem (see `parts`)."""
    checks = _access_checks(spec, rule)
    limit = rule.max_expire_days
    if limit is not None and (spec.expire_days is None or spec.expire_days > limit):
        asked = "never expires" if spec.expire_days is None else f"expires after {spec.expire_days} days"
        checks.append(Decision.no("expiry_too_long", f"The key {asked}; keys for `{spec.sub_account}` "
                                                     f"must expire within {limit} days: add expire={limit}."))
    if active_keys >= rule.max_keys:
        checks.append(Decision.no("too_many_keys", f"`{spec.sub_account}` already has {active_keys} keys, "
                                                   f"the most {rule.key} allows is {rule.max_keys}: "
                                                   "revoke one first."))
    return Decision.all_of(checks, ok="The key fits the policy.")


def enough_approvers(*, requester: str, rule: Rule, approvers: frozenset[str]) -> Decision:
    """Are there at least `rule.approvals` people, other than the requester, who may approve?"""
    others = approvers - {requester}
    if len(others) < rule.approvals:
        return Decision.no("not_enough_approvers",
                           f"{rule.key} needs {rule.approvals} {noun(rule.approvals, 'approval')} but only "
                           f"{len(others)} {noun(len(others), 'person', 'people')} other than you may approve.")
    return Decision.yes()


def approvals_remaining(request: ApprovalRequest) -> int:
    return max(0, request.approvals_needed - len(request.approved_by))


def _is_open(request: ApprovalRequest, state: State) -> Decision:
    if request.state != state:
        return Decision.no("not_" + state, f"Request {request.request_id} is {request.state}, "
                                           f"not {state} any more.")
    return Decision.yes()


def _totp_ready(totp: TotpState, now: datetime, who: str) -> Decision:
    if not totp.enrolled:
        return Decision.no("not_enrolled", f"{who} to set up an authenticator first: `/kukey enroll`.")
    if totp.locked_until is not None and now < totp.locked_until:
        until = totp.locked_until.strftime("%H:%M UTC")
        return Decision.no("locked_out", f"Too many wrong codes: locked out until {until}.")
    return Decision.yes()


def awaits_approval(*, approver: str, request: ApprovalRequest, approvers: frozenset[str],
                    now: datetime) -> Decision:
    """Does `request` wait for `approver`: pending, not expired, someone else's, in their approver group, and
    not approved by them yet? (Their TOTP is checked when they approve: `may_approve`.)"""
    state = _is_open(request, State.PENDING)
    if not state.allowed:
        return state
    if now >= request.expires_at:
        return Decision.no("expired", f"Request {request.request_id} has expired.")
    if approver == request.requester:
        return Decision.no("self_approval", "You cannot approve your own request: another person must.")
    if approver in request.approved_by:
        return Decision.no("already_approved", f"You already approved {request.request_id}.")
    if approver not in approvers:
        return Decision.no("not_approver", f"You are not in the approver group for {request.request_id}.")
    return Decision.yes()


def may_approve(*, approver: str, request: ApprovalRequest, approvers: frozenset[str], totp: TotpState,
                now: datetime) -> Decision:
    """The two-person rule: someone else, in the rule's approver group, enrolled and not locked out."""
    waits = awaits_approval(approver=approver, request=request, approvers=approvers, now=now)
    if not waits.allowed:
        return waits
    ready = _totp_ready(totp, now, "You need")
    if not ready.allowed:
        return ready
    left = approvals_remaining(request) - 1
    return Decision.yes("That approval completes the request." if left <= 0
                        else f"{left} more {noun(left, 'approval')} needed after yours.")


def may_revoke_alone(*, user: str, channel: str, policy: Policy, responders: frozenset[str]) -> Decision:
    """Break glass: a responder in an incident channel revokes without a second person."""
    if channel not in policy.incident_channels:
        return Decision.no("needs_approval", "Outside an incident channel a revoke needs a second "
                                             "person's approval, like a create.")
    if user not in responders:
        return Decision.no("not_responder", "Only responders may revoke alone in an incident channel; "
                                            "this revoke needs a second person's approval.")
    return Decision.yes("Incident revoke: no approval needed.", reason="incident")


def may_audit(*, user: str, admins: frozenset[str]) -> Decision:
    if user not in admins:
        return Decision.no("not_admin", "Only kukey admins may read the audit log.")
    return Decision.yes()


def may_cancel(*, user: str, requester: str, admins: frozenset[str]) -> Decision:
    if user != requester and user not in admins:
        return Decision.no("not_requester_or_admin", "Only the requester or a kukey admin may cancel it.")
    return Decision.yes()


@dataclass(frozen=True)
class DryRun:
    """What `create ... dry-run` would do. `text` is for people (Slack mrkdwn)."""

    decision: Decision
    rule: Rule | None
    approvers: tuple[str, ...]
    approvals: int
    text: str


def explain_create(*, requester: str, spec: KeySpec, policy: Policy, requesters: frozenset[str],
                   approvers: frozenset[str], active_keys: int) -> DryRun:
    """Dry run of a create: the rule, who may approve, how many approvals, and what would be refused."""
    allowed = may_request(user=requester, sub_account=spec.sub_account, policy=policy, requesters=requesters)
    rule = policy.rule_for(spec.sub_account)
    who = tuple(sorted(approvers - {requester}))
    checks = [allowed]
    if rule is not None:
        checks += [check_spec(spec, rule, active_keys=active_keys),
                   enough_approvers(requester=requester, rule=rule, approvers=approvers)]
    decision = Decision.all_of(checks, ok="Nothing would be refused.")
    return DryRun(decision, rule, who, rule.approvals if rule else 0,
                  _dry_run_text(spec, policy, rule, who, decision))


def _dry_run_text(spec: KeySpec, policy: Policy, rule: Rule | None, who: tuple[str, ...],
                  decision: Decision) -> str:
    expiry = "never" if spec.expire_days is None else f"{spec.expire_days} days"
    lines = [f"*Dry run*: `{spec.sub_account}` {format_permissions(spec.permissions)}, "
             f"IPs {', '.join(spec.ips) or 'none'}, expires {expiry}. Nothing was sent."]
    if rule is not None:
        people = ", ".join(f"<@{u}>" for u in who) or "nobody"
        lines.append(f"• Rule: {rule.key} `{rule.match}`")
        lines.append(f"• Approval: {rule.approvals} of {people}, in <#{policy.approvals_channel}>, "
                     f"within {rule.request_ttl_minutes} minutes")
        lines.append(f"• Reveal: within {rule.reveal_window_minutes} minutes of approval"
                     + (", with your TOTP code" if rule.require_requester_totp else ""))
    if decision.allowed:
        lines.append("• Nothing would be refused.")
    else:
        lines.extend(f"• Would be refused ({d.reason}): {d.message}" for d in decision.parts)
    return "\n".join(lines)
