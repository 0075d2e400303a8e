"""`kukey policy check FILE`: validate a policy file, print a summary or every problem."""

from __future__ import annotations

import argparse

from bot.domain.keys import PERMISSION_ORDER
from bot.domain.policy import Policy, Rule
from bot.policy_file import PolicyErrors, load_policy


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("policy", help="work with the policy file")
    actions = parser.add_subparsers(dest="policy_action", metavar="ACTION", required=True,
                                    parser_class=type(parser))
    check = actions.add_parser("check", help="validate a policy file; exit 1 and list every problem")
    check.add_argument("file", metavar="FILE", help="the policy TOML file")
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.file)
    except PolicyErrors as exc:
        for problem in exc.problems:
            print(problem)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''} in {args.file}")
        return 1
    print(summary(policy))
    return 0


def summary(policy: Policy) -> str:
    """One OK line, then one line per rule."""
    count = len(policy.rules)
    lines = [f"OK: {policy.file}: {count} rule{'s' if count != 1 else ''}, "
             f"approvals channel {policy.approvals_channel}"]
    if policy.incident_channels:
        lines.append("  incident channels: " + ", ".join(policy.incident_channels))
    lines.append("  requesters: " + (", ".join(policy.group("requesters")) if not policy.everyone_may_request
                                     else "everyone"))
    lines.extend("  " + _rule_line(rule) for rule in policy.rules)
    return "\n".join(lines)


def _rule_line(rule: Rule) -> str:
    perms = ",".join(p.value for p in PERMISSION_ORDER if p in rule.allowed_permissions)
    days = rule.max_expire_days
    expiry = "no expiry limit" if days is None else f"expiry up to {days} days"
    return (f"{rule.key} {rule.match!r}: {perms}; {expiry}; at most {rule.max_keys} keys; "
            f"{rule.approvals} approval{'s' if rule.approvals != 1 else ''} from {rule.approver_group}"
            + _notices(rule))


def _notices(rule: Rule) -> str:
    """How approvers are told, when it is more than the channel post ("" otherwise)."""
    parts = [f"notify {rule.notify.value}"] if rule.notify.direct else []
    if rule.remind_after_minutes is not None:
        parts.append(f"approvers reminded from {rule.remind_after_minutes} min")
    if rule.escalate_to is not None:
        parts.append(f"escalated to {rule.escalate_to} after {rule.escalate_after_minutes} min")
    return "".join(f"; {p}" for p in parts)
