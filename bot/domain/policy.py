"""The policy file (TOML): who may request, approve, respond and audit; what each sub-account's keys may be.

`load_policy(path)` validates everything and raises PolicyErrors (a PolicyError listing every problem,
each naming the file and the dotted key, e.g. `rules[2].max_expire_days`). Fields: docs/policy.md.

Decisions of note:
- An empty or missing `requesters` group means everyone in the workspace may request.
- Rules match sub-account names with fnmatch patterns, case-insensitively; the first match wins; a
  sub-account no rule matches is refused.
- TOTP lockout counts a person's failures across all requests, so `totp_max_failures` and
  `totp_lockout_minutes` are top-level settings, not per rule.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from bot.domain.keys import Permission
from bot.errors import PolicyError

WELL_KNOWN_GROUPS: Final = ("requesters", "approvers", "responders", "admins")
EXPIRE_CHOICES: Final = (30, 90, 180, 360)
USER_ID: Final = re.compile(r"[UW][A-Z0-9]{2,20}")
GROUP_ID: Final = re.compile(r"S[A-Z0-9]{2,20}")
CHANNEL_ID: Final = re.compile(r"[CG][A-Z0-9]{2,20}")


@dataclass(frozen=True)
class Rule:
    """Limits for the sub-accounts whose name matches `match` (first matching rule wins)."""

    index: int
    match: str
    allowed_permissions: frozenset[Permission] = frozenset({Permission.GENERAL})
    require_ip_whitelist_for_trading: bool = True
    max_expire_days: int | None = None  # None: "never" (keys may be permanent)
    max_keys: int = 5
    rotation_days: int = 90
    approvals: int = 1
    approver_group: str = "approvers"  # for people: a group name, or the key of an inline list
    approver_ids: tuple[str, ...] = ()  # Slack user (U/W) and user-group (S) ids, to resolve
    request_ttl_minutes: int = 30
    reveal_window_minutes: int = 15
    require_requester_totp: bool = True

    @property
    def key(self) -> str:
        return f"rules[{self.index}]"

    def matches(self, sub_account: str) -> bool:
        return fnmatchcase(sub_account.lower(), self.match.lower())


@dataclass(frozen=True)
class Policy:
    approvals_channel: str
    rules: tuple[Rule, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    incident_channels: tuple[str, ...] = ()
    audit_channel: str | None = None
    checkpoint_minutes: int = 60
    totp_max_failures: int = 5
    totp_lockout_minutes: int = 15
    file: str = ""

    def rule_for(self, sub_account: str) -> Rule | None:
        """The first rule whose pattern matches, or None (the request is refused)."""
        return next((r for r in self.rules if r.matches(sub_account)), None)

    def group(self, name: str) -> tuple[str, ...]:
        """The ids listed in a group (empty when the group is missing)."""
        return self.groups.get(name, ())

    @property
    def everyone_may_request(self) -> bool:
        """True when the `requesters` group is missing or empty."""
        return not self.group("requesters")


class PolicyErrors(PolicyError):
    """Every problem found in one policy file; `problems` holds one PolicyError per problem."""

    def __init__(self, problems: list[PolicyError]) -> None:
        super().__init__("\n".join(str(p) for p in problems), file=problems[0].file, key=problems[0].key)
        self.problems = tuple(problems)


def problem(file: str, key: str, text: str) -> PolicyError:
    return PolicyError(f"{file}: {key}: {text}" if key else f"{file}: {text}", file=file, key=key)


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
    reader = _Reader()
    policy = reader.policy(data, file)
    if reader.problems or policy is None:
        raise PolicyErrors([problem(file, key, text) for key, text in reader.problems])
    return policy


# ---------------------------------------------------------------------------------------------------------
# Validation: a reader that collects every problem as (dotted key, text) and carries on.

_MISSING: Final = object()
_RULE_INTS: Final[Mapping[str, tuple[int, int]]] = {
    "max_keys": (1, 20), "rotation_days": (1, 3650), "approvals": (1, 10),
    "request_ttl_minutes": (1, 7 * 24 * 60), "reveal_window_minutes": (1, 24 * 60)}
_RULE_BOOLS: Final = ("require_ip_whitelist_for_trading", "require_requester_totp")
_RULE_KEYS: Final = frozenset({"match", "allowed_permissions", "max_expire_days", "approver_group",
                               *_RULE_INTS, *_RULE_BOOLS})
_TOP_INTS: Final[Mapping[str, tuple[int, int, int]]] = {
    "checkpoint_minutes": (1, 7 * 24 * 60, 60), "totp_max_failures": (1, 100, 5),
    "totp_lockout_minutes": (1, 7 * 24 * 60, 15)}
_TOP_KEYS: Final = frozenset({"approvals_channel", "incident_channels", "audit_channel", "groups",
                              "defaults", "rules", *_TOP_INTS})
_GROUP_NAME: Final = re.compile(r"[a-z][a-z0-9_-]{0,40}")
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")  # sub-account names, lowered
_NAME_MAX: Final = 32


def _got(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "\u2026"


def _name(key: str) -> str:
    """A TOML key as shown in a dotted path."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", key):
        return key
    return '"' + key[:30].replace('"', '\\"') + ('\u2026"' if len(key) > 30 else '"')


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{_name(key)}" if prefix else _name(key)


def _class_end(pattern: str, start: int) -> int:
    """Index just past the `]` of the bracket expression at `start`, or -1 (fnmatch's own rules)."""
    j = start + 1
    if j < len(pattern) and pattern[j] == "!":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    end = pattern.find("]", j)
    return -1 if end < 0 else end + 1


def pattern_problem(pattern: str) -> str | None:
    """Why an fnmatch pattern can never match a sub-account name, or None."""
    pattern = pattern.lower()
    if not pattern:
        return "is empty"
    if len(pattern) > 200:
        return "is too long (at most 200 characters)"
    need, i = 0, 0
    while i < len(pattern):
        ch = pattern[i]
        end = _class_end(pattern, i) if ch == "[" else -1
        if end > 0:
            if not any(fnmatchcase(c, pattern[i:end]) for c in _NAME_CHARS):
                return f"can never match: `{pattern[i:end]}` matches no character of a sub-account name"
            need, i = need + 1, end
            continue
        if ch not in "*?" and ch not in _NAME_CHARS:
            return (f"can never match: sub-account names have only letters, digits and `_.-`, "
                    f"not {ch!r}")
        need, i = need + (ch != "*"), i + 1
    if need > _NAME_MAX:
        return f"can never match: it needs {need} characters, sub-account names have at most {_NAME_MAX}"
    return None


class _Reader:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.missing_groups: set[str] = set()  # named but absent, reported where named

    def add(self, key: str, text: str) -> None:
        self.problems.append((key, text))

    def policy(self, data: Mapping[str, object], file: str) -> Policy | None:
        if not isinstance(data, Mapping):
            self.add("", "the document must be a TOML table")
            return None
        self.unknown(data, _TOP_KEYS, "")
        channel = self.channel(data.get("approvals_channel", _MISSING), "approvals_channel")
        if channel is None and "approvals_channel" not in data:
            self.add("approvals_channel", "is missing: the Slack channel id (C...) where requests are posted")
        incident = self.channels(data.get("incident_channels", []), "incident_channels")
        audit = self.channel(data.get("audit_channel", _MISSING), "audit_channel")
        ints = {name: self.integer(data.get(name, _MISSING), name, low, high, default)
                for name, (low, high, default) in _TOP_INTS.items()}
        groups = self.groups(data.get("groups", {}))
        rules = self.rules(data.get("rules", _MISSING), data.get("defaults", {}), groups)
        if self.problems or channel is None:
            return None
        return Policy(approvals_channel=channel, rules=rules, groups=MappingProxyType(groups),
                      incident_channels=incident, audit_channel=audit, file=file, **ints)

    def unknown(self, table: Mapping[str, object], allowed: frozenset[str], prefix: str) -> None:
        for key in table:
            if key in allowed:
                continue
            if prefix == "defaults" and key == "match":
                hint = ": each [[rules]] entry has its own `match`"
            elif not prefix and key in _RULE_KEYS:
                hint = ": it belongs in [defaults] or in a [[rules]] entry"
            elif prefix and key in _TOP_KEYS:
                hint = ": it is a top-level setting"
            else:
                near = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f" (did you mean `{near[0]}`?)" if near else ""
            self.add(_join(prefix, str(key)), f"unknown key{hint}")

    def table(self, value: object, key: str) -> Mapping[str, object]:
        if isinstance(value, Mapping):
            return value
        self.add(key, f"must be a table, got {_got(value)}")
        return {}

    def integer(self, value: object, key: str, low: int, high: int, default: int) -> int:
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(key, f"must be a whole number from {low} to {high}, got {_got(value)}")
        elif not low <= value <= high:
            self.add(key, f"must be from {low} to {high}, got {value}")
        else:
            return value
        return default

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            self.add(key, f"must be true or false, got {_got(value)}")
            return True
        return value

    def channel(self, value: object, key: str) -> str | None:
        if value is _MISSING:
            return None
        if isinstance(value, str) and CHANNEL_ID.fullmatch(value):
            return value
        hint = ": use the channel id (C...), not its name" if isinstance(value, str) and \
            value.startswith("#") else ""
        self.add(key, f"must be a Slack channel id like C0123456789, got {_got(value)}{hint}")
        return None

    def channels(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.add(key, f"must be a list of Slack channel ids, got {_got(value)}")
            return ()
        found = (self.channel(item, f"{key}[{i}]") for i, item in enumerate(value))
        return tuple(dict.fromkeys(c for c in found if c))

    def ids(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.add(key, f"must be a list of Slack user ids (U.../W...) or user-group ids (S...), "
                          f"got {_got(value)}")
            return ()
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str) and (USER_ID.fullmatch(item) or GROUP_ID.fullmatch(item)):
                out.append(item)
            else:
                self.add(f"{key}[{i}]", f"is not a Slack user id (U.../W...) or user-group id (S...): "
                                        f"{_got(item)}; copy it from the profile's menu (Copy member ID)")
        return tuple(dict.fromkeys(out))

    def groups(self, value: object) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for name, ids in self.table(value, "groups").items():
            key = _join("groups", str(name))
            if not _GROUP_NAME.fullmatch(str(name)):
                self.add(key, "group names are lower-case letters, digits, `_` and `-`")
                continue
            out[name] = self.ids(ids, key)
        return out

    def rules(self, value: object, defaults_value: object, groups: Mapping[str, tuple[str, ...]]
              ) -> tuple[Rule, ...]:
        defaults_table = self.table(defaults_value, "defaults")
        self.unknown(defaults_table, _RULE_KEYS - {"match"}, "defaults")
        defaults = self.rule_fields(defaults_table, "defaults", groups)
        if value is _MISSING or value == []:
            self.add("rules", 'no [[rules]]: every request would be refused; add one (match = "*" for all)')
            return ()
        if not isinstance(value, list):
            self.add("rules", f"must be an array of tables ([[rules]]), got {_got(value)}")
            return ()
        rules: list[Rule] = []
        for index, entry in enumerate(value):
            key = f"rules[{index}]"
            if not isinstance(entry, Mapping):
                self.add(key, f"must be a table, got {_got(entry)}")
                continue
            self.unknown(entry, _RULE_KEYS, key)
            match = self.pattern(entry.get("match", _MISSING), f"{key}.match")
            fields = {**defaults, **self.rule_fields(entry, key, groups)}
            fields.setdefault("approver_ids", groups.get(fields.get("approver_group", "approvers"), ()))
            rule = Rule(index=index, match=match, **fields)
            self.check_approvers(rule)
            rules.append(rule)
        self.check_shadowing(rules)
        return tuple(rules)

    def rule_fields(self, table: Mapping[str, object], prefix: str,
                    groups: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
        """The rule settings present in `table`, validated, in file order."""
        out: dict[str, Any] = {}
        for name, value in table.items():
            key = f"{prefix}.{name}"
            if name in _RULE_INTS:
                out[name] = self.integer(value, key, *_RULE_INTS[name], default=1)
            elif name in _RULE_BOOLS:
                out[name] = self.boolean(value, key)
            elif name == "allowed_permissions":
                out[name] = self.permissions(value, key)
            elif name == "max_expire_days":
                out[name] = self.expiry(value, key)
            elif name == "approver_group":
                out["approver_group"], out["approver_ids"] = self.approver_group(value, key, groups)
        return out

    def pattern(self, value: object, key: str) -> str:
        if value is _MISSING:
            self.add(key, 'is missing: an fnmatch pattern on the sub-account name ("*" for all)')
        elif not isinstance(value, str):
            self.add(key, f"must be an fnmatch pattern (a string), got {_got(value)}")
        elif (why := pattern_problem(value)) is not None:
            self.add(key, why)
        else:
            return value
        return ""

    def permissions(self, value: object, key: str) -> frozenset[Permission]:
        if not isinstance(value, list):
            self.add(key, f"must be a list of permissions, got {_got(value)}")
            return frozenset({Permission.GENERAL})
        out = {Permission.GENERAL}
        for i, item in enumerate(value):
            if isinstance(item, str) and item.strip().lower() in {"transfer", "withdraw", "withdrawal"}:
                self.add(f"{key}[{i}]", "Transfer (withdrawal) can never be given to a sub-account key")
                continue
            try:
                out.add(Permission.parse(item if isinstance(item, str) else ""))
            except ValueError:
                self.add(f"{key}[{i}]", f"unknown permission {_got(item)}: choose from "
                                        + ", ".join(p.value for p in Permission))
        return frozenset(out)

    def expiry(self, value: object, key: str) -> int | None:
        if value == "never":
            return None
        if not isinstance(value, bool) and isinstance(value, int) and value in EXPIRE_CHOICES:
            return value
        self.add(key, f'must be 30, 90, 180, 360 or "never", got {_got(value)}')
        return None

    def approver_group(self, value: object, key: str, groups: Mapping[str, tuple[str, ...]]
                       ) -> tuple[str, tuple[str, ...]]:
        if isinstance(value, str):
            if value not in groups:
                self.missing_groups.add(value)
                known = ", ".join(f"`{g}`" for g in groups) or "none"
                self.add(key, f"names no group in [groups]: {_got(value)} (groups: {known})")
            return value, groups.get(value, ())
        if isinstance(value, list):
            return key, self.ids(value, key)
        self.add(key, f"must be a group name from [groups] or a list of ids, got {_got(value)}")
        return "", ()

    def check_approvers(self, rule: Rule) -> None:
        key = f"{rule.key}.approver_group"
        ids = rule.approver_ids
        if not ids:
            if rule.approver_group in self.missing_groups:
                return
            self.add(key, f"nobody could approve: the group `{rule.approver_group}` is missing or empty")
            return
        if all(USER_ID.fullmatch(i) for i in ids) and rule.approvals > len(ids):
            self.add(f"{rule.key}.approvals", f"needs {rule.approvals} approvals but the approver group "
                                              f"`{rule.approver_group}` lists only {len(ids)} "
                                              + ("person" if len(ids) == 1 else "people"))

    def check_shadowing(self, rules: list[Rule]) -> None:
        for later in rules:
            if not later.match:
                continue  # its pattern is already reported
            for earlier in rules[: rules.index(later)]:
                if earlier.match and set(earlier.match) == {"*"}:
                    why = f"rules[{earlier.index}] (`{earlier.match}`) matches every sub-account first"
                elif earlier.match and earlier.match.lower() == later.match.lower():
                    why = f"rules[{earlier.index}] has the same pattern and comes first"
                else:
                    continue
                self.add(f"{later.key}.match", f"is never used: {why}")
                break
