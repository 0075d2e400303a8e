"""The policy file (TOML): read it, validate it with pydantic, and build the domain's `Policy`.

    load_policy(path) / load_policy_text(text) / policy_from_dict(data) -> Policy, or PolicyErrors
    shapes.py    Slack ids, group names, sub-account patterns, permissions, expiry
    model.py     the schema: which keys each table takes, their types and ranges
    problems.py  pydantic's errors located and worded in the file's terms; PolicyErrors
    checks.py    checks across fields: approver groups, rules never reached
    loader.py    TOML to Policy
"""

from bot.policy_file.loader import load_policy, load_policy_text, policy_from_dict
from bot.policy_file.problems import PolicyErrors

__all__ = ["PolicyErrors", "load_policy", "load_policy_text", "policy_from_dict"]
