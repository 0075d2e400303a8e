"""Problems with a policy file, each located in the file's terms and worded for the person who wrote it.

Pydantic reports an error as (type, location tuple, input); `from_validation` turns each into
(`Loc`, text), e.g. (("rules", 2, "max_expire_days"), 'must be one of 30, 90, 180, 360 or "never", got 45'),
and `PolicyErrors` prints them, in file order, as `FILE: rules[2].max_expire_days: ...`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Final

from annotated_types import Ge, Le
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.errors import PolicyError
from bot.policy_file.model import GROUP_TAG, IDS_TAG, PolicyDocument, RuleEntry, RuleSettings
from bot.policy_file.shapes import got

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

_MISSING: Final = {
    "approvals_channel": "is missing: the Slack channel id (C...) where requests are posted",
    "match": 'is missing: an fnmatch pattern on the sub-account name ("*" for all)',
    "rules": 'no [[rules]]: every request would be refused; add one (match = "*" for all)',
}
_EXPECTED: Final = {"int_type": "a whole number", "bool_type": "true or false", "string_type": "a string",
                    "dict_type": "a table", "model_type": "a table", "list_type": "a list"}
_LISTS: Final = {"rules": "an array of tables ([[rules]])", "incident_channels": "a list of Slack channel ids",
                 "allowed_permissions": "a list of permissions"}
_GROUP_LIST: Final = "a list of Slack user ids (U.../W...) or user-group ids (S...)"


class PolicyErrors(PolicyError):
    """Every problem found in one policy file; `problems` holds one PolicyError per problem."""

    def __init__(self, problems: list[PolicyError]) -> None:
        super().__init__("\n".join(str(p) for p in problems), file=problems[0].file, key=problems[0].key)
        self.problems = tuple(problems)


def problem(file: str, key: str, text: str) -> PolicyError:
    """One problem, printed as `FILE: KEY: text` (or `FILE: text` for the file as a whole)."""
    return PolicyError(f"{file}: {key}: {text}" if key else f"{file}: {text}", file=file, key=key)


def policy_errors(file: str, problems: Sequence[Problem], data: object) -> PolicyErrors:
    """The problems as one PolicyErrors, in the order their keys appear in the file."""
    ordered = sorted(problems, key=lambda p: _position(data, p[0]))
    return PolicyErrors([problem(file, location(loc), text) for loc, text in ordered])


def location(loc: Loc) -> str:
    """("rules", 2, "max_keys") -> "rules[2].max_keys"; keys that are not bare TOML keys are quoted."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{_name(part)}" if out else _name(part)
    return out


def _name(key: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", key):
        return key
    return '"' + key[:30].replace('"', '\\"') + ('\u2026"' if len(key) > 30 else '"')


def from_validation(exc: ValidationError) -> list[Problem]:
    """One problem per pydantic error, located without pydantic's own markers."""
    out: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = _file_loc(error["loc"])
        out.append((loc, _text(error, loc)))
    return out


def _file_loc(loc: tuple[str | int, ...]) -> Loc:
    """Drop what pydantic adds: the `[key]` of a bad table key, the shape tag of an approver group."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if i == 2 and loc[0] == "groups" and part == "[key]":  # the only table with free keys
            continue
        if i and loc[i - 1] == "approver_group" and part in (GROUP_TAG, IDS_TAG):
            continue
        out.append(part)
    return tuple(out)


def _text(error: ErrorDetails, loc: Loc) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    name = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        return "unknown key" + _unknown_key_hint(loc)
    if kind == "missing" or (kind == "too_short" and loc == ("rules",)):
        return _MISSING.get(str(name), "is missing")
    if kind in ("greater_than_equal", "less_than_equal"):
        limit = _range(loc) or (f"at least {ctx['ge']}" if "ge" in ctx else f"at most {ctx['le']}")
        return f"must be {limit}, got {got(error['input'])}"
    if kind == "int_type" and (limit := _range(loc)):
        return f"must be a whole number {limit}, got {got(error['input'])}"
    if not loc and kind in ("model_type", "dict_type"):
        return "the document must be a TOML table"
    if kind in _EXPECTED:
        return f"must be {_expected(kind, loc)}, got {got(error['input'])}"
    return error["msg"]  # the shapes' own problems are already worded in the file's terms


def _expected(kind: str, loc: Loc) -> str:
    if kind != "list_type":
        return _EXPECTED[kind]
    if len(loc) == 2 and loc[0] == "groups":
        return _GROUP_LIST
    return _LISTS.get(str(loc[-1]) if loc else "", _EXPECTED[kind])


def _unknown_key_hint(loc: Loc) -> str:
    key, table = str(loc[-1]), loc[:-1]
    if table == ("defaults",) and key == "match":
        return ": each [[rules]] entry has its own `match`"
    if not table and key in RuleEntry.model_fields:
        return ": it belongs in [defaults] or in a [[rules]] entry"
    if table and key in PolicyDocument.model_fields:
        return ": it is a top-level setting"
    near = difflib.get_close_matches(key, sorted(_table_model(table).model_fields), n=1)
    return f" (did you mean `{near[0]}`?)" if near else ""


def _table_model(table: Loc) -> type[BaseModel]:
    """The model of the table at `table`: the document, [defaults] or a [[rules]] entry."""
    return PolicyDocument if not table else RuleSettings if table == ("defaults",) else RuleEntry


def _range(loc: Loc) -> str:
    """"from 1 to 20" for a whole-number setting with both limits in the schema, else ""."""
    field = _table_model(loc[:-1]).model_fields.get(str(loc[-1])) if loc else None
    low = next((m.ge for m in field.metadata if isinstance(m, Ge)), None) if field else None
    high = next((m.le for m in field.metadata if isinstance(m, Le)), None) if field else None
    return f"from {low} to {high}" if low is not None and high is not None else ""


def _position(data: object, loc: Loc) -> tuple[int, ...]:
    """Where `loc` is in the parsed file: indices of its keys in file order (a missing key comes last)."""
    out: list[int] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping):
            keys = list(node)
            out.append(keys.index(part) if part in node else len(keys))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        else:
            break
    return tuple(out)
