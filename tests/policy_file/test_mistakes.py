"""Every mistake in a policy file is named by file and key, worded in the file's terms, in file order."""

from __future__ import annotations

import pytest

from bot.errors import PolicyError
from bot.policy_file import load_policy_text
from tests.policy_file.documents import ANY_RULE, FILE, doc, problems

MISTAKES = [
    (doc(top='colour = "blue"\n'), "colour", "unknown key"),
    (doc(top="max_keys = 3\n"), "max_keys", "unknown key: it belongs in [defaults] or in a [[rules]] entry"),
    (doc(rules=ANY_RULE + "max_key = 3\n"), "rules[0].max_key", "unknown key (did you mean `max_keys`?)"),
    (doc(rules=ANY_RULE + "totp_max_failures = 3\n"), "rules[0].totp_max_failures",
     "unknown key: it is a top-level setting"),
    (doc(channel=""), "approvals_channel",
     "is missing: the Slack channel id (C...) where requests are posted"),
    (doc(channel='approvals_channel = "#trading"\n'), "approvals_channel",
     "must be a Slack channel id like C0123456789, got '#trading': use the channel id (C...), not its name"),
    (doc(top='incident_channels = "C0INCIDENT"\n'), "incident_channels",
     "must be a list of Slack channel ids, got 'C0INCIDENT'"),
    (doc(top='audit_channel = 42\n'), "audit_channel", "must be a Slack channel id like C0123456789, got 42"),
    (doc(top="checkpoint_minutes = 0\n"), "checkpoint_minutes", "must be from 1 to 10080, got 0"),
    (doc(groups='approvers = ["alice@example.com"]'), "groups.approvers[0]",
     "is not a Slack user id (U.../W...) or user-group id (S...): 'alice@example.com'; copy it from the "
     "profile's menu (Copy member ID)"),
    (doc(groups='approvers = "U0BOB0001"'), "groups.approvers",
     "must be a list of Slack user ids (U.../W...) or user-group ids (S...), got 'U0BOB0001'"),
    (doc(groups='approvers = ["U0BOB0001"]\n"Bad Name" = []'), 'groups."Bad Name"',
     "group names are lower-case letters, digits, `_` and `-`"),
    (doc(rules=ANY_RULE + 'approver_group = "treasury"\n'), "rules[0].approver_group",
     "names no group in [groups]: 'treasury' (groups: `approvers`)"),
    (doc(rules=ANY_RULE + "approvals = 3\n"), "rules[0].approvals",
     "needs 3 approvals but the approver group `approvers` lists only 2 people"),
    (doc(groups="approvers = []"), "rules[0].approver_group",
     "nobody could approve: the group `approvers` is missing or empty"),
    (doc(rules=ANY_RULE + 'allowed_permissions = ["Spot", "Transfer"]\n'),
     "rules[0].allowed_permissions[1]", "Transfer (withdrawal) can never be given to a sub-account key"),
    (doc(rules=ANY_RULE + 'allowed_permissions = ["Spot", "Options"]\n'),
     "rules[0].allowed_permissions[1]",
     "unknown permission 'Options': choose from General, Spot, Futures, Margin, InnerTransfer"),
    (doc(rules=ANY_RULE + 'allowed_permissions = "Spot"\n'), "rules[0].allowed_permissions",
     "must be a list of permissions, got 'Spot'"),
    (doc(rules=ANY_RULE + "max_expire_days = 45\n"), "rules[0].max_expire_days",
     'must be one of 30, 90, 180, 360 or "never", got 45'),
    (doc(rules=ANY_RULE + "max_expire_days = 30.0\n"), "rules[0].max_expire_days",
     'must be one of 30, 90, 180, 360 or "never", got 30.0'),
    (doc(rules=ANY_RULE + "max_expire_dayz = 30\n"), "rules[0].max_expire_dayz",
     "unknown key (did you mean `max_expire_days`?)"),
    (doc(rules=ANY_RULE + "approver_group = 42\n"), "rules[0].approver_group",
     "must be a group name from [groups] or a list of ids"),
    (doc(rules=ANY_RULE + 'approver_group = ["U0ERIN001", "erin"]\n'), "rules[0].approver_group[1]",
     "is not a Slack user id (U.../W...) or user-group id (S...): 'erin'; copy it from the profile's menu "
     "(Copy member ID)"),
    (doc(defaults='approver_group = "treasury"'), "defaults.approver_group",
     "names no group in [groups]: 'treasury' (groups: `approvers`)"),
    (doc(rules=ANY_RULE + "request_ttl_minutes = 10081\n"), "rules[0].request_ttl_minutes",
     "must be from 1 to 10080, got 10081"),
    (doc(top="[rules]\nmatch = '*'\n", rules=""), "rules",
     "must be an array of tables ([[rules]]), got a table"),
    (doc(top="audit_channel = \"C0AUDIT\"\n", rules="[[rules]]\nmatch = \"*\"\n[[rules]]\nmatch = 3\n"),
     "rules[1].match", "must be an fnmatch pattern (a string), got 3"),
    (doc(rules=ANY_RULE + "max_keys = 0\n"), "rules[0].max_keys", "must be from 1 to 20, got 0"),
    (doc(rules=ANY_RULE + 'max_keys = "5"\n'), "rules[0].max_keys",
     "must be a whole number from 1 to 20, got '5'"),
    (doc(rules=ANY_RULE + "approvals = true\n"), "rules[0].approvals",
     "must be a whole number from 1 to 10, got true"),
    (doc(rules=ANY_RULE + "rotation_days = 1.5\n"), "rules[0].rotation_days",
     "must be a whole number from 1 to 3650, got 1.5"),
    (doc(rules=ANY_RULE + "warn_before_expiry_days = -1\n"), "rules[0].warn_before_expiry_days",
     "must be from 0 to 365, got -1"),
    (doc(defaults='warn_before_expiry_days = "7"'), "defaults.warn_before_expiry_days",
     "must be a whole number from 0 to 365, got '7'"),
    (doc(rules=ANY_RULE + 'require_ip_whitelist_for_trading = "yes"\n'),
     "rules[0].require_ip_whitelist_for_trading", "must be true or false, got 'yes'"),
    (doc(defaults="reveal_window_minutes = 0"), "defaults.reveal_window_minutes",
     "must be from 1 to 1440, got 0"),
    (doc(defaults='match = "*"'), "defaults.match", "unknown key: each [[rules]] entry has its own `match`"),
    (doc(defaults="max_key = 3"), "defaults.max_key", "unknown key (did you mean `max_keys`?)"),
    (doc(rules="[[rules]]\nmax_keys = 2\n"), "rules[0].match",
     'is missing: an fnmatch pattern on the sub-account name ("*" for all)'),
    (doc(rules='[[rules]]\nmatch = "prod account"\n'), "rules[0].match",
     "can never match: sub-account names have only letters, digits and `_.-`, not ' '"),
    (doc(rules=f'[[rules]]\nmatch = "{"a" * 33}*"\n'), "rules[0].match",
     "can never match: it needs 33 characters, sub-account names have at most 32"),
    (doc(rules='[[rules]]\nmatch = "x[!a-z0-9_.-]"\n'), "rules[0].match",
     "can never match: `[!a-z0-9_.-]` matches no character of a sub-account name"),
    (doc(rules='[[rules]]\nmatch = ""\n'), "rules[0].match", "is empty"),
    (doc(rules=ANY_RULE + '[[rules]]\nmatch = "bot-*"\n'), "rules[1].match",
     "is never used: rules[0] (`*`) matches every sub-account first"),
    (doc(rules='[[rules]]\nmatch = "Bot-*"\n[[rules]]\nmatch = "bot-*"\n'), "rules[1].match",
     "is never used: rules[0] has the same pattern and comes first"),
    (doc(rules=""), "rules", 'no [[rules]]: every request would be refused; add one (match = "*" for all)'),
    (doc(top="rules = 3\n", rules=""), "rules", "must be an array of tables ([[rules]]), got 3"),
    ('approvals_channel = "C0APPROVALS"\n[groups\n', "line 2",
     "TOML syntax error: Expected ']' at the end of a table declaration (at line 2, column 8)"),
]


@pytest.mark.parametrize(("text", "key", "message"), MISTAKES)
def test_each_mistake_is_named_by_file_and_key(text: str, key: str, message: str) -> None:
    """Each kind of mistake yields its own problem, printed as FILE: KEY: problem."""
    assert (key, f"{FILE}: {key}: {message}") in problems(text)


def test_every_problem_is_reported_not_just_the_first() -> None:
    """A file with several mistakes lists all of them, in file order, in one PolicyError."""
    text = doc(top="max_keys = 3\n", rules=ANY_RULE + "max_expire_days = 7\napprovals = 0\n")
    keys = [k for k, _ in problems(text)]
    assert keys == ["max_keys", "rules[0].max_expire_days", "rules[0].approvals"]
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, file=FILE)
    assert str(caught.value).count(FILE) == 3 and caught.value.key == "max_keys"


def test_checks_across_fields_run_beside_a_wrong_top_level_setting() -> None:
    """A wrong channel does not hide an approver group problem: both are reported, in file order."""
    text = doc(channel='approvals_channel = "#trading"\n', groups="approvers = []")
    assert [k for k, _ in problems(text)] == ["approvals_channel", "rules[0].approver_group"]


def test_checks_across_fields_wait_for_valid_rules() -> None:
    """While a rule has a wrong value, only that value is reported, not guesses about approvers built on it."""
    text = doc(groups="approvers = []", rules=ANY_RULE + "max_keys = 0\n")
    assert [k for k, _ in problems(text)] == ["rules[0].max_keys"]
