"""The policy file: the example loads, every mistake is named by file and key, and nothing else escapes."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.keys import Permission
from bot.errors import PolicyError
from bot.policy_file import PolicyErrors, load_policy, load_policy_text, policy_from_dict

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "policy.example.toml"
FILE = "team.toml"
ANY_RULE = '[[rules]]\nmatch = "*"\n'


def doc(top: str = "", groups: str = "", defaults: str = "", rules: str = ANY_RULE,
        channel: str = 'approvals_channel = "C0APPROVALS"\n') -> str:
    """A small policy: the approvals channel, two approvers, one catch-all rule, plus the given lines."""
    text = channel + top + "\n[groups]\n" + (groups or 'approvers = ["U0BOB0001", "U0CAROL01"]') + "\n"
    if defaults:
        text += "[defaults]\n" + defaults + "\n"
    return text + rules


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(PolicyErrors) as caught:
        load_policy_text(text, file=FILE)
    for p in caught.value.problems:
        assert p.file == FILE
        assert str(p).startswith(f"{FILE}: {p.key}: " if p.key else f"{FILE}: ")
    return [(p.key, str(p)) for p in caught.value.problems]


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
    assert (rule.request_ttl_minutes, rule.reveal_window_minutes) == (30, 15)
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


def test_absurd_toml_is_a_policy_error() -> None:
    """Deep nesting and giant numbers, which make tomllib raise other errors, still become PolicyError."""
    for text in ["x = " + "[" * 5000 + "]" * 5000, "x = " + "9" * 5000]:
        with pytest.raises(PolicyError):
            load_policy_text(text)


# ---------------------------------------------------------------------------------------------------------
# Properties: the loader raises PolicyError and nothing else, whatever it is given.

KEYS = st.sampled_from(["approvals_channel", "incident_channels", "audit_channel", "checkpoint_minutes",
                        "totp_max_failures", "groups", "defaults", "rules", "match", "approvals",
                        "approver_group", "allowed_permissions", "max_expire_days", "max_keys",
                        "requesters", "approvers", "require_requester_totp", "x"])
SCALARS = st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.booleans(), st.datetimes(),
                    st.dates(), st.times(), st.sampled_from(["C0APPROVALS", "U0BOB0001", "S0OPS", "*",
                                                             "never", "Spot", "approvers", "Transfer"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), inner, max_size=5)),
    max_leaves=12)
DOCS = st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), VALUES, max_size=8)


@settings(max_examples=200, deadline=None)
@given(DOCS)
def test_arbitrary_documents_raise_only_policy_error(data: dict[str, object]) -> None:
    """Any dictionary of TOML-like values either validates or raises PolicyError, never anything else."""
    try:
        policy_from_dict(data, file=FILE)
    except PolicyError as exc:
        assert str(exc).startswith(FILE)


LINES = st.one_of(
    st.sampled_from(['approvals_channel = "C0APPROVALS"', "[groups]", 'approvers = ["U0BOB0001"]',
                     "[[rules]]", 'match = "*"', "[defaults]", "approvals = 2", "max_keys = 0",
                     'max_expire_days = "never"', "[rules]", "rules = []", "x = [1, [2]]", "= 3", "[",
                     'approver_group = ["U1"]', "allowed_permissions = [1, true]"]),
    st.text(max_size=30))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(LINES, max_size=12).map("\n".join)))
def test_arbitrary_text_raises_only_policy_error(text: str) -> None:
    """Any text, TOML or not, either validates or raises PolicyError, never anything else."""
    try:
        load_policy_text(text, file=FILE)
    except PolicyError as exc:
        assert exc.file == FILE


def _paths(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside a parsed TOML document."""
    out: list[tuple[object, ...]] = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*path, index))
    return out


EXAMPLE_DATA = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_paths(EXAMPLE_DATA)), VALUES)
def test_example_with_any_one_value_replaced_raises_only_policy_error(path: tuple[object, ...],
                                                                     value: object) -> None:
    """Replacing any single value of the valid example with anything validates or raises PolicyError."""
    data = copy.deepcopy(EXAMPLE_DATA)
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    try:
        policy_from_dict(data, file=FILE)
    except PolicyError as exc:
        assert all(p.key for p in getattr(exc, "problems", (exc,)))
