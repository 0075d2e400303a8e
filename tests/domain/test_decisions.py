"""Pure policy decisions, each checked against a table of cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.decisions import (
    ApprovalRequest,
    Decision,
    TotpState,
    approvals_remaining,
    awaits_approval,
    check_spec,
    check_update,
    enough_approvers,
    explain_create,
    may_approve,
    may_audit,
    may_cancel,
    may_request,
    may_revoke_alone,
)
from bot.domain.keys import KeySpec, Permission
from bot.domain.policy import Policy, Rule
from bot.policy_file import load_policy_text

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
G, S, F, IT = Permission.GENERAL, Permission.SPOT, Permission.FUTURES, Permission.INNER_TRANSFER

POLICY_TEXT = """
approvals_channel = "C0APPROVALS"
incident_channels = ["C0INCIDENT"]
[groups]
requesters = ["U0ALICE", "S0TRADERS"]
approvers = ["U0ALICE", "U0BOB", "U0CAROL"]
responders = ["U0BOB"]
admins = ["U0CAROL"]
[[rules]]
match = "bot-*"
allowed_permissions = ["Spot", "Futures"]
max_expire_days = 90
max_keys = 2
[[rules]]
match = "treasury*"
allowed_permissions = ["InnerTransfer"]
require_ip_whitelist_for_trading = false
approvals = 2
"""
POLICY = load_policy_text(POLICY_TEXT)
BOT, TREASURY = POLICY.rules
OPEN_POLICY = load_policy_text(POLICY_TEXT.replace('requesters = ["U0ALICE", "S0TRADERS"]', ""))
REQUESTERS = frozenset({"U0ALICE", "U0DAN"})  # S0TRADERS resolved to U0DAN by the Slack layer


@pytest.mark.parametrize(("policy", "user", "sub", "reason"), [
    (POLICY, "U0ALICE", "bot-alpha", "ok"),
    (POLICY, "U0DAN", "treasury01", "ok"),
    (POLICY, "U0EVE", "bot-alpha", "not_requester"),
    (POLICY, "U0ALICE", "alice01", "no_rule"),
    (OPEN_POLICY, "U0EVE", "bot-alpha", "ok"),
    (OPEN_POLICY, "U0EVE", "alice01", "no_rule"),
])
def test_may_request(policy: Policy, user: str, sub: str, reason: str) -> None:
    """Requesting needs the requesters group (unless it is empty) and a rule for the sub-account."""
    decision = may_request(user=user, sub_account=sub, policy=policy, requesters=REQUESTERS)
    assert (decision.allowed, decision.reason) == (reason == "ok", reason)
    assert decision.message


def spec(perms: set[Permission], ips: tuple[str, ...] = (), expire: int | None = 90,
         sub: str = "bot-alpha") -> KeySpec:
    return KeySpec(sub, frozenset(perms), ips, expire)


@pytest.mark.parametrize(("key", "rule", "active", "reasons"), [
    (spec({S}, ("203.0.113.5",)), BOT, 0, []),
    (spec({S, F}, ("203.0.113.5",), 30), BOT, 1, []),
    (spec({S}, ()), BOT, 0, ["ip_whitelist_required"]),
    (spec({IT}, ("203.0.113.5",)), BOT, 0, ["permission_not_allowed"]),
    (spec({S}, ("203.0.113.5",), None), BOT, 0, ["expiry_too_long"]),
    (spec({S}, ("203.0.113.5",), 180), BOT, 0, ["expiry_too_long"]),
    (spec({S}, ("203.0.113.5",)), BOT, 2, ["too_many_keys"]),
    (spec({IT, S}, (), None), BOT, 5, ["permission_not_allowed", "ip_whitelist_required", "expiry_too_long",
                                       "too_many_keys"]),
    (spec({IT}, (), None, "treasury01"), TREASURY, 4, []),
    (spec({S}, (), None, "treasury01"), TREASURY, 0, ["permission_not_allowed"]),
])
def test_check_spec_lists_every_problem(key: KeySpec, rule: Rule, active: int, reasons: list[str]) -> None:
    """A key is checked for permissions, IP whitelist, expiry and key count, and every problem is listed."""
    decision = check_spec(key, rule, active_keys=active)
    assert decision.allowed == (not reasons)
    assert [part.reason for part in decision.parts] == reasons
    if reasons:
        assert decision.reason == reasons[0]
        assert all(part.message in decision.message for part in decision.parts)


def test_check_spec_messages_say_what_to_do() -> None:
    """Refusals name the limit and the fix (add ips=, add expire=N, revoke one first)."""
    decision = check_spec(spec({S}, (), None), BOT, active_keys=2)
    assert decision.message == (
        "A key with Spot needs an IP whitelist: add ips=... "
        "The key never expires; keys for `bot-alpha` must expire within 90 days: add expire=90. "
        "`bot-alpha` already has 2 keys, the most rules[0] allows is 2: revoke one first.")


@pytest.mark.parametrize(("key", "rule", "reasons"), [
    (spec({S}, ("203.0.113.5",)), BOT, []),
    (spec({S}, ("203.0.113.5",), None), BOT, []),  # the expiry is not changed by an update
    (spec({S}, ()), BOT, ["ip_whitelist_required"]),
    (spec({IT, S}, ()), BOT, ["permission_not_allowed", "ip_whitelist_required"]),
    (spec({IT}, (), None, "treasury01"), TREASURY, []),
    (spec({S}, (), None, "treasury01"), TREASURY, ["permission_not_allowed"]),
])
def test_check_update_applies_the_permission_and_ip_rules(key: KeySpec, rule: Rule, reasons: list[str]) -> None:
    """An update's new settings meet the create's permission and IP-whitelist rules; expiry and the key
    count (the key exists, its expiry stays) are not checked again."""
    decision = check_update(key, rule)
    assert decision.allowed == (not reasons)
    assert [part.reason for part in decision.parts] == reasons


REQ = ApprovalRequest("KK-7F3Q9C2M", requester="U0ALICE", state="pending",
                      expires_at=NOW + timedelta(minutes=5), approvals_needed=2,
                      approved_by=frozenset({"U0CAROL"}))
APPROVERS = frozenset({"U0ALICE", "U0BOB", "U0CAROL"})
ENROLLED = TotpState(enrolled=True)


@pytest.mark.parametrize(("approver", "request_", "totp", "now", "reason"), [
    ("U0BOB", REQ, ENROLLED, NOW, "ok"),
    ("U0ALICE", REQ, ENROLLED, NOW, "self_approval"),
    ("U0CAROL", REQ, ENROLLED, NOW, "already_approved"),
    ("U0EVE", REQ, ENROLLED, NOW, "not_approver"),
    ("U0BOB", REQ, TotpState(enrolled=False), NOW, "not_enrolled"),
    ("U0BOB", REQ, TotpState(True, locked_until=NOW + timedelta(minutes=1)), NOW, "locked_out"),
    ("U0BOB", REQ, TotpState(True, locked_until=NOW), NOW, "ok"),
    ("U0BOB", REQ, ENROLLED, NOW + timedelta(minutes=5), "expired"),
    ("U0BOB", replace(REQ, state="approved"), ENROLLED, NOW, "not_pending"),
    ("U0BOB", replace(REQ, state="cancelled"), ENROLLED, NOW, "not_pending"),
    ("U0ALICE", replace(REQ, state="denied"), ENROLLED, NOW, "not_pending"),
])
def test_may_approve(approver: str, request_: ApprovalRequest, totp: TotpState, now: datetime,
                     reason: str) -> None:
    """Approval needs a pending, unexpired request, another person in the group, enrolled and not locked."""
    decision = may_approve(approver=approver, request=request_, approvers=APPROVERS, totp=totp, now=now)
    assert (decision.allowed, decision.reason) == (reason == "ok", reason)


@pytest.mark.parametrize(("approver", "request_", "now", "reason"), [
    ("U0BOB", REQ, NOW, "ok"),
    ("U0ALICE", REQ, NOW, "self_approval"),
    ("U0CAROL", REQ, NOW, "already_approved"),
    ("U0EVE", REQ, NOW, "not_approver"),
    ("U0BOB", REQ, NOW + timedelta(minutes=5), "expired"),
    ("U0BOB", replace(REQ, state="approved"), NOW, "not_pending"),
])
def test_awaits_approval(approver: str, request_: ApprovalRequest, now: datetime, reason: str) -> None:
    """A request waits for an approver when approving it would pass every check but the approver's TOTP."""
    decision = awaits_approval(approver=approver, request=request_, approvers=APPROVERS, now=now)
    assert (decision.allowed, decision.reason) == (reason == "ok", reason)


def test_an_approver_without_totp_is_still_awaited() -> None:
    """Not being enrolled does not hide a request from its approver (they are told to enroll when they
    approve); may_approve still refuses them."""
    assert awaits_approval(approver="U0BOB", request=REQ, approvers=APPROVERS, now=NOW).allowed
    assert not may_approve(approver="U0BOB", request=REQ, approvers=APPROVERS, totp=TotpState(enrolled=False),
                           now=NOW).allowed


def test_self_approval_is_refused_even_for_an_approver() -> None:
    """The requester is in the approver group, and still cannot approve their own request."""
    assert "U0ALICE" in APPROVERS
    decision = may_approve(approver="U0ALICE", request=REQ, approvers=APPROVERS, totp=ENROLLED, now=NOW)
    assert decision == Decision.no("self_approval",
                                   "You cannot approve your own request: another person must.")


@pytest.mark.parametrize(("needed", "approved", "remaining", "message"), [
    (1, set(), 1, "That approval completes the request."),
    (2, set(), 2, "1 more approval needed after yours."),
    (2, {"U0CAROL"}, 1, "That approval completes the request."),
    (3, {"U0CAROL", "U0DAN"}, 1, "That approval completes the request."),
])
def test_approvals_remaining(needed: int, approved: set[str], remaining: int, message: str) -> None:
    """approvals_remaining counts what is still needed; the yes says whether this approval completes it."""
    request_ = replace(REQ, approvals_needed=needed, approved_by=frozenset(approved))
    assert approvals_remaining(request_) == remaining
    assert may_approve(approver="U0BOB", request=request_, approvers=APPROVERS, totp=ENROLLED,
                       now=NOW).message == message


@pytest.mark.parametrize(("rule", "approvers", "allowed"), [
    (BOT, frozenset({"U0ALICE", "U0BOB"}), True),
    (BOT, frozenset({"U0ALICE"}), False),
    (TREASURY, frozenset({"U0ALICE", "U0BOB", "U0CAROL"}), True),
    (TREASURY, frozenset({"U0ALICE", "U0BOB"}), False),
])
def test_enough_approvers_excludes_the_requester(rule: Rule, approvers: frozenset[str],
                                                 allowed: bool) -> None:
    """A request is approvable only if enough people other than the requester may approve."""
    decision = enough_approvers(requester="U0ALICE", rule=rule, approvers=approvers)
    assert decision.allowed == allowed
    assert decision.reason == ("ok" if allowed else "not_enough_approvers")


RESPONDERS = frozenset({"U0BOB"})


@pytest.mark.parametrize(("user", "channel", "reason"), [
    ("U0BOB", "C0INCIDENT", "incident"),
    ("U0BOB", "C0APPROVALS", "needs_approval"),
    ("U0ALICE", "C0INCIDENT", "not_responder"),
    ("U0ALICE", "C0OTHER", "needs_approval"),
])
def test_may_revoke_alone(user: str, channel: str, reason: str) -> None:
    """Only a responder in an incident channel revokes without a second person."""
    decision = may_revoke_alone(user=user, channel=channel, policy=POLICY, responders=RESPONDERS)
    assert (decision.allowed, decision.reason) == (reason == "incident", reason)


ADMINS = frozenset({"U0CAROL"})


@pytest.mark.parametrize(("user", "requester", "audit", "cancel"), [
    ("U0CAROL", "U0ALICE", True, True),
    ("U0ALICE", "U0ALICE", False, True),
    ("U0BOB", "U0ALICE", False, False),
])
def test_may_audit_and_may_cancel(user: str, requester: str, audit: bool, cancel: bool) -> None:
    """Admins audit; the requester or an admin cancels."""
    assert may_audit(user=user, admins=ADMINS).allowed == audit
    decision = may_cancel(user=user, requester=requester, admins=ADMINS)
    assert decision.allowed == cancel
    assert decision.reason == ("ok" if cancel else "not_requester_or_admin")


def test_dry_run_explains_rule_approvers_and_refusals() -> None:
    """The dry run names the rule, the possible approvers (never the requester) and every refusal."""
    run = explain_create(requester="U0ALICE", spec=spec({S}, (), 180), policy=POLICY, requesters=REQUESTERS,
                         approvers=APPROVERS, active_keys=0)
    assert run.rule is BOT and run.approvers == ("U0BOB", "U0CAROL") and run.approvals == 1
    assert not run.decision.allowed
    assert [p.reason for p in run.decision.parts] == ["ip_whitelist_required", "expiry_too_long"]
    assert run.text.splitlines() == [
        "*Dry run*: `bot-alpha` General,Spot, IPs none, expires 180 days. Nothing was sent.",
        "• Rule: rules[0] `bot-*`",
        "• Approval: 1 of <@U0BOB>, <@U0CAROL>, in <#C0APPROVALS>, within 30 minutes",
        "• Reveal: within 15 minutes of approval, with your TOTP code",
        "• Would be refused (ip_whitelist_required): A key with Spot needs an IP whitelist: add ips=...",
        "• Would be refused (expiry_too_long): The key expires after 180 days; keys for `bot-alpha` must "
        "expire within 90 days: add expire=90.",
    ]


def test_dry_run_of_an_acceptable_create_says_nothing_is_refused() -> None:
    """A create that fits the policy is explained with no refusal."""
    run = explain_create(requester="U0ALICE", spec=spec({S}, ("203.0.113.5",)), policy=POLICY,
                         requesters=REQUESTERS, approvers=APPROVERS, active_keys=1)
    assert run.decision.allowed and run.text.endswith("• Nothing would be refused.")


@pytest.mark.parametrize(("requester", "sub", "approvers", "reasons"), [
    ("U0EVE", "bot-alpha", APPROVERS, ["not_requester"]),
    ("U0ALICE", "alice01", APPROVERS, ["no_rule"]),
    ("U0DAN", "treasury01", frozenset({"U0DAN", "U0BOB"}), ["not_enough_approvers"]),
])
def test_dry_run_reports_who_cannot_request_and_unapprovable_requests(
        requester: str, sub: str, approvers: frozenset[str], reasons: list[str]) -> None:
    """The dry run also says when the requester may not ask, no rule applies, or too few may approve."""
    key = spec({S}, ("203.0.113.5",), 90, sub) if sub.startswith("bot") else spec({IT}, (), None, sub)
    run = explain_create(requester=requester, spec=key, policy=POLICY,
                         requesters=REQUESTERS, approvers=approvers, active_keys=0)
    assert [p.reason for p in run.decision.parts] == reasons
    assert all(f"Would be refused ({r})" in run.text for r in reasons)
