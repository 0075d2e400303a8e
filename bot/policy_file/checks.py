"""Checks across fields, which a per-field schema cannot make: approver groups and rules never reached.

They run on a valid [groups], [defaults] and [[rules]] (bot.policy_file.model.RulesSection) and the
domain rules built from it, and return problems as (location, text), like pydantic's errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.policy import Rule
from bot.policy_file.model import RulesSection
from bot.policy_file.problems import Loc, Problem
from bot.policy_file.shapes import USER_ID, got


def cross_field_problems(section: RulesSection, rules: Sequence[Rule]) -> list[Problem]:
    missing = _missing_groups(section)
    known = ", ".join(f"`{g}`" for g in section.groups) or "none"
    problems: list[Problem] = [(loc, f"names no group in [groups]: {got(group)} (groups: {known})")
                               for loc, group in missing]
    named = {group for _, group in missing}
    for rule in rules:
        problems += _approver_problems(rule, named) + _notice_problems(rule, section)
    return problems + _unreachable_rules(rules)


def _missing_groups(section: RulesSection) -> list[tuple[Loc, str]]:
    """Each approver_group that names no group in [groups], with where it is written."""
    written: list[tuple[Loc, object]] = []
    if "approver_group" in section.defaults.model_fields_set:
        written.append((("defaults", "approver_group"), section.defaults.approver_group))
    written += [(("rules", i, "approver_group"), entry.approver_group)
                for i, entry in enumerate(section.rules) if "approver_group" in entry.model_fields_set]
    return [(loc, group) for loc, group in written if isinstance(group, str) and group not in section.groups]


def _approver_problems(rule: Rule, missing: set[str]) -> list[Problem]:
    ids = rule.approver_ids
    if not ids:
        if rule.approver_group in missing:
            return []  # already reported where the group is named
        return [(("rules", rule.index, "approver_group"),
                 f"nobody could approve: the group `{rule.approver_group}` is missing or empty")]
    if all(USER_ID.fullmatch(i) for i in ids) and rule.approvals > len(ids):
        people = "person" if len(ids) == 1 else "people"
        return [(("rules", rule.index, "approvals"), f"needs {rule.approvals} approvals but the approver group "
                                                      f"`{rule.approver_group}` lists only {len(ids)} {people}")]
    return []


def _unreachable_rules(rules: Sequence[Rule]) -> list[Problem]:
    """A rule after a `*` rule, or with the same pattern as an earlier one, is never used."""
    problems: list[Problem] = []
    for position, later in enumerate(rules):
        for earlier in rules[:position]:
            if set(earlier.match) == {"*"}:
                why = f"rules[{earlier.index}] (`{earlier.match}`) matches every sub-account first"
            elif earlier.match.lower() == later.match.lower():
                why = f"rules[{earlier.index}] has the same pattern and comes first"
            else:
                continue
            problems.append((("rules", later.index, "match"), f"is never used: {why}"))
            break
    return problems



def _notice_problems(rule: Rule, section: RulesSection) -> list[Problem]:
    """Reminders and escalation that could never happen, or escalate to nobody."""
    at = ("rules", rule.index)
    problems: list[Problem] = []
    if rule.escalate_to is not None and rule.escalate_after_minutes is None:
        problems.append(((*at, "escalate_after_minutes"), f"is missing: after how many minutes to tell "
                                                          f"`{rule.escalate_to}` (escalate_to)"))
    if rule.escalate_after_minutes is not None and rule.escalate_to is None:
        problems.append(((*at, "escalate_to"), "is missing: the group from [groups] to tell after "
                                               "escalate_after_minutes"))
    if rule.escalate_to is not None and rule.escalate_to not in section.groups:
        known = ", ".join(f"`{g}`" for g in section.groups) or "none"
        problems.append(((*at, "escalate_to"), f"names no group in [groups]: {got(rule.escalate_to)} "
                                               f"(groups: {known})"))
    elif rule.escalate_to is not None and not section.groups[rule.escalate_to]:
        problems.append(((*at, "escalate_to"), f"nobody would be told: the group `{rule.escalate_to}` is empty"))
    for name, minutes in (("remind_after_minutes", rule.remind_after_minutes),
                          ("escalate_after_minutes", rule.escalate_after_minutes)):
        if minutes is not None and minutes >= rule.request_ttl_minutes:
            problems.append(((*at, name), f"must be less than request_ttl_minutes ({rule.request_ttl_minutes}): "
                                          f"requests expire first, got {minutes}"))
    return problems
