"""The rule fields saying how approvers are told: notify, reminders and escalation; their defaults, their
values, and every mistake as one line naming the key."""

from __future__ import annotations

import pytest

from bot.domain.notify import Notify
from bot.policy_file import load_policy_text
from tests.policy_file.documents import ANY_RULE, FILE, doc, problems

GROUPS = 'approvers = ["U0BOB0001", "U0CAROL01"]\nmanagers = ["U0ERIN001", "S0LEADS"]\nnobody = []'


def test_defaults_keep_the_channel_only_behaviour() -> None:
    """Without the new fields a rule notifies the channel only, never reminds and never escalates."""
    rule = load_policy_text(doc()).rules[0]
    assert (rule.notify, rule.remind_after_minutes, rule.escalate_to, rule.escalate_after_minutes) == (
        Notify.CHANNEL, None, None, None)


def test_fields_from_defaults_and_rule_with_the_escalation_group_resolved() -> None:
    """[defaults] sets notify and reminders for every rule; a rule adds its escalation group, whose ids
    come from [groups]."""
    rules = ANY_RULE + 'escalate_to = "managers"\nescalate_after_minutes = 20\n'
    rule = load_policy_text(doc(groups=GROUPS, defaults='notify = "both"\nremind_after_minutes = 5',
                                rules=rules)).rules[0]
    assert (rule.notify, rule.remind_after_minutes) == (Notify.BOTH, 5)
    assert (rule.escalate_to, rule.escalate_ids, rule.escalate_after_minutes) == (
        "managers", ("U0ERIN001", "S0LEADS"), 20)


MISTAKES = [
    (ANY_RULE + 'notify = "email"\n', "rules[0].notify", 'must be one of "channel", "dm", "both", got \'email\''),
    (ANY_RULE + "notify = true\n", "rules[0].notify", 'must be one of "channel", "dm", "both", got true'),
    (ANY_RULE + "remind_after_minutes = 0\n", "rules[0].remind_after_minutes", "must be from 1 to 10080, got 0"),
    (ANY_RULE + 'remind_after_minutes = "5"\n', "rules[0].remind_after_minutes",
     "must be a whole number from 1 to 10080, got '5'"),
    (ANY_RULE + "remind_after_minutes = 30\n", "rules[0].remind_after_minutes",
     "must be less than request_ttl_minutes (30): requests expire first, got 30"),
    (ANY_RULE + 'escalate_to = "bosses"\nescalate_after_minutes = 10\n', "rules[0].escalate_to",
     "names no group in [groups]: 'bosses' (groups: `approvers`, `managers`, `nobody`)"),
    (ANY_RULE + 'escalate_to = "nobody"\nescalate_after_minutes = 10\n', "rules[0].escalate_to",
     "nobody would be told: the group `nobody` is empty"),
    (ANY_RULE + 'escalate_to = "managers"\n', "rules[0].escalate_after_minutes",
     "is missing: after how many minutes to tell `managers` (escalate_to)"),
    (ANY_RULE + "escalate_after_minutes = 10\n", "rules[0].escalate_to",
     "is missing: the group from [groups] to tell after escalate_after_minutes"),
    (ANY_RULE + 'escalate_to = "managers"\nescalate_after_minutes = 0\n', "rules[0].escalate_after_minutes",
     "must be from 1 to 10080, got 0"),
    (ANY_RULE + 'request_ttl_minutes = 60\nescalate_to = "managers"\nescalate_after_minutes = 90\n',
     "rules[0].escalate_after_minutes", "must be less than request_ttl_minutes (60): requests expire first, got 90"),
    (ANY_RULE + 'escalate_to = "Managers"\nescalate_after_minutes = 10\n', "rules[0].escalate_to",
     "group names are lower-case letters, digits, `_` and `-`"),
    (ANY_RULE + "remind_after_minute = 5\n", "rules[0].remind_after_minute",
     "unknown key (did you mean `remind_after_minutes`?)"),
]


@pytest.mark.parametrize(("rules", "key", "message"), MISTAKES)
def test_each_mistake_is_one_line_naming_the_key(rules: str, key: str, message: str) -> None:
    """Each mistake in the new fields is reported once, as FILE: KEY: problem."""
    found = problems(doc(groups=GROUPS, rules=rules))
    assert found == [(key, f"{FILE}: {key}: {message}")]


def test_reminder_in_defaults_past_a_rules_expiry_is_named_at_that_rule() -> None:
    """A reminder time set in [defaults] that a rule's shorter expiry never reaches is reported at the rule."""
    rules = '[[rules]]\nmatch = "bot-*"\nrequest_ttl_minutes = 10\n' + ANY_RULE
    found = problems(doc(groups=GROUPS, defaults="remind_after_minutes = 15", rules=rules))
    assert [k for k, _ in found] == ["rules[0].remind_after_minutes"]
