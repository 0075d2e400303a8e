"""The policy file loads into the domain's Policy: the example as written, defaults layered under rules,
approver lists in place; missing and undecodable files are policy errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.keys import Permission
from bot.policy_file import PolicyErrors, load_policy, load_policy_text
from tests.policy_file.documents import ANY_RULE, EXAMPLE, doc


def test_example_policy_loads_with_its_rules_and_groups() -> None:
    """The shipped example is valid and its rules, defaults and groups come through as written."""
    policy = load_policy(EXAMPLE)
    assert policy.file == str(EXAMPLE)
    assert policy.approvals_channel == "C0APPROVALS" and policy.incident_channels == ("C0INCIDENT",)
    assert [r.match for r in policy.rules] == ["treasury*", "bot-*", "*"]
    treasury, bots, rest = policy.rules
    assert treasury.approvals == 2 and treasury.approver_group == "treasury"
    assert treasury.approver_ids == ("U0ERIN001", "U0FRANK01", "U0GRACE01")
    assert treasury.allowed_permissions == {Permission.GENERAL, Permission.INNER_TRANSFER}
    assert bots.max_expire_days == 180 and bots.rotation_days == 90 and bots.max_keys == 5
    assert (treasury.warn_before_expiry_days, bots.warn_before_expiry_days) == (14, 7)
    assert rest.max_expire_days is None and rest.request_ttl_minutes == 60
    assert rest.approver_ids == ("U0BOB0001", "U0CAROL01", "U0DAVE001")
    assert policy.group("admins") == ("U0CAROL01",) and not policy.everyone_may_request


@pytest.mark.parametrize(("sub", "match"), [("treasury01", "treasury*"), ("TREASURY02", "treasury*"),
                                            ("bot-alpha", "bot-*"), ("alice01", "*")])
def test_rule_for_takes_the_first_matching_rule_case_insensitively(sub: str, match: str) -> None:
    """rule_for returns the first rule whose pattern matches the name, ignoring case."""
    rule = load_policy(EXAMPLE).rule_for(sub)
    assert rule is not None and rule.match == match


def test_a_sub_account_no_rule_matches_gets_no_rule() -> None:
    """Without a catch-all, a sub-account that matches no pattern has no rule."""
    policy = load_policy_text(doc(rules='[[rules]]\nmatch = "bot-*"\n'))
    assert policy.rule_for("alice01") is None and policy.rule_for("bot-1") is not None


def test_defaults_and_built_in_values_apply_and_rules_override_them() -> None:
    """A rule takes [defaults] over the built-in defaults, and its own values over both."""
    policy = load_policy_text(doc(defaults="max_keys = 3\nmax_expire_days = 90",
                                  rules=ANY_RULE + "max_keys = 2\n"))
    rule = policy.rules[0]
    assert (rule.max_keys, rule.max_expire_days, rule.approvals, rule.rotation_days) == (2, 90, 1, 90)
    assert (rule.request_ttl_minutes, rule.reveal_window_minutes, rule.warn_before_expiry_days) == (30, 15, 7)
    assert rule.require_ip_whitelist_for_trading and rule.require_requester_totp
    assert rule.allowed_permissions == {Permission.GENERAL}
    assert (policy.checkpoint_minutes, policy.totp_max_failures, policy.totp_lockout_minutes) == (60, 5, 15)
    assert policy.everyone_may_request and policy.audit_channel is None


def test_inline_approver_list_is_used_for_the_rule() -> None:
    """approver_group may be a list of ids instead of a group name."""
    rule = ANY_RULE + 'approver_group = ["U0ERIN001", "S0SECOPS"]\napprovals = 2\n'
    policy = load_policy_text(doc(rules=rule))
    assert policy.rules[0].approver_ids == ("U0ERIN001", "S0SECOPS")
    assert policy.rules[0].approver_group == "rules[0].approver_group"


def test_inline_approver_list_in_defaults_is_named_after_defaults() -> None:
    """A list of ids written in [defaults] applies to every rule that does not name its own approvers."""
    policy = load_policy_text(doc(defaults='approver_group = ["U0ERIN001", "U0ERIN001"]',
                                  rules=ANY_RULE.replace("*", "bot-*") + ANY_RULE + 'approver_group = "approvers"\n'))
    first, second = policy.rules
    assert (first.approver_group, first.approver_ids) == ("defaults.approver_group", ("U0ERIN001",))
    assert (second.approver_group, second.approver_ids) == ("approvers", ("U0BOB0001", "U0CAROL01"))


def test_missing_and_undecodable_files_are_policy_errors(tmp_path: Path) -> None:
    """A missing file and a file that is not UTF-8 are reported as problems of that file."""
    with pytest.raises(PolicyErrors, match="cannot read the file"):
        load_policy(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'approvals_channel = "C\xe9"\n')
    with pytest.raises(PolicyErrors, match="is not UTF-8 text") as caught:
        load_policy(bad)
    assert caught.value.file == str(bad)
