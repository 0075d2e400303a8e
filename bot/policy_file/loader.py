"""Read a policy file, validate it, and build the domain's `Policy`; or raise PolicyErrors with every problem.

Every problem of type, range and shape is reported at once. The checks across fields (approver groups,
rules never reached) need valid [groups], [defaults] and [[rules]]; they run whenever those are valid,
even when a top-level setting is not.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from bot.domain.keys import Permission
from bot.domain.policy import Policy, Rule
from bot.policy_file.checks import cross_field_problems
from bot.policy_file.model import SECTION_KEYS, PolicyDocument, RulesSection
from bot.policy_file.problems import PolicyErrors, Problem, from_validation, policy_errors, problem


def load_policy(path: str | Path) -> Policy:
    """Read, parse and validate the policy file."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyErrors([problem(file, "", f"cannot read the file ({exc.strerror or exc})")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyErrors([problem(file, "", "is not UTF-8 text")]) from None
    return load_policy_text(text, file=file)


def load_policy_text(text: str, *, file: str = "<policy>") -> Policy:
    """Parse and validate policy TOML given as text."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise PolicyErrors([problem(file, "", "TOML nested too deeply")]) from None
    except ValueError as exc:  # TOMLDecodeError, and int() refusing a 5000-digit number
        found = re.search(r"at line (\d+)", str(exc))
        line = found.group(1) if found else str(max(1, len(text.splitlines())))
        key = f"line {line}" if found or "end of document" in str(exc) else ""
        raise PolicyErrors([problem(file, key, f"TOML syntax error: {exc}")]) from None
    return policy_from_dict(data, file=file)


def policy_from_dict(data: Mapping[str, object], *, file: str = "<policy>") -> Policy:
    """Validate an already parsed policy document."""
    problems: list[Problem] = []
    document: PolicyDocument | None = None
    try:
        document = PolicyDocument.model_validate(data)
    except ValidationError as exc:
        problems = from_validation(exc)
    section = document or _valid_section(data, problems)
    if section is not None:
        problems += cross_field_problems(section, _rules(section))
    if problems or document is None:
        raise policy_errors(file, problems, data)
    return _policy(document, file)


def _valid_section(data: object, problems: list[Problem]) -> RulesSection | None:
    """[groups], [defaults] and [[rules]] alone, when none of the problems is in them."""
    if not isinstance(data, Mapping) or any(not loc or loc[0] in SECTION_KEYS for loc, _ in problems):
        return None
    try:
        return RulesSection.model_validate({k: data[k] for k in SECTION_KEYS if k in data})
    except ValidationError:
        return None


def _policy(document: PolicyDocument, file: str) -> Policy:
    return Policy(
        approvals_channel=document.approvals_channel, rules=_rules(document),
        groups=MappingProxyType(_groups(document)),
        incident_channels=tuple(dict.fromkeys(document.incident_channels)), audit_channel=document.audit_channel,
        checkpoint_minutes=document.checkpoint_minutes, totp_max_failures=document.totp_max_failures,
        totp_lockout_minutes=document.totp_lockout_minutes, file=file)


def _groups(section: RulesSection) -> dict[str, tuple[str, ...]]:
    """[groups], each list without repeated ids."""
    return {name: tuple(dict.fromkeys(ids)) for name, ids in section.groups.items()}


def _rules(section: RulesSection) -> tuple[Rule, ...]:
    """Each [[rules]] entry over [defaults] over the built-in defaults (Rule's own)."""
    groups = _groups(section)
    rules = []
    for index, entry in enumerate(section.rules):
        fields: dict[str, Any] = {**section.defaults.chosen(), **entry.chosen()}
        if "allowed_permissions" in fields:
            fields["allowed_permissions"] = frozenset({Permission.GENERAL, *fields["allowed_permissions"]})
        group = fields.pop("approver_group", Rule.approver_group)
        if isinstance(group, list):  # written in place: named after where it is written
            table = f"rules[{index}]" if "approver_group" in entry.model_fields_set else "defaults"
            fields.update(approver_group=f"{table}.approver_group", approver_ids=tuple(dict.fromkeys(group)))
        else:
            fields.update(approver_group=group, approver_ids=groups.get(group, ()))
        if fields.get("escalate_to") is not None:
            fields["escalate_ids"] = groups.get(fields["escalate_to"], ())
        rules.append(Rule(index=index, **fields))
    return tuple(rules)
