"""The policy file's own value types: Slack ids, group names, sub-account patterns, permissions, expiry.

Each is an `Annotated` type whose validator takes any TOML value and either returns it (converted to the
domain's type) or raises one PydanticCustomError whose text is the problem in the file's terms, as
`kukey policy check` prints it. Pydantic's standard types (whole numbers with ranges, booleans, lists,
tables) are worded in bot.policy_file.problems.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Annotated, Final, NoReturn

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from bot.domain.keys import EXPIRY_CHOICES, Permission
from bot.domain.notify import Notify

USER_ID: Final = re.compile(r"[UW][A-Z0-9]{2,20}")
GROUP_ID: Final = re.compile(r"S[A-Z0-9]{2,20}")
CHANNEL_ID: Final = re.compile(r"[CG][A-Z0-9]{2,20}")
GROUP_NAME: Final = re.compile(r"[a-z][a-z0-9_-]{0,40}")
NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")  # sub-account names, lowered
NAME_MAX: Final = 32
WITHDRAWAL_NAMES: Final = frozenset({"transfer", "withdraw", "withdrawal"})
EXPIRY_TEXT: Final = ", ".join(str(d) for d in EXPIRY_CHOICES if d is not None) + ' or "never"'


def got(value: object) -> str:
    """A TOML value as a problem line shows it: true/false, 'text', 42, a list, a table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "\u2026"


def _refuse(kind: str, text: str) -> NoReturn:
    """Raise the problem `text` (given whole as context: pydantic would read braces in a template)."""
    raise PydanticCustomError(kind, "{text}", {"text": text})


def _channel_id(value: object) -> str:
    if isinstance(value, str) and CHANNEL_ID.fullmatch(value):
        return value
    hint = ": use the channel id (C...), not its name" if isinstance(value, str) and value.startswith("#") else ""
    _refuse("channel_id", f"must be a Slack channel id like C0123456789, got {got(value)}{hint}")


def _person_id(value: object) -> str:
    if isinstance(value, str) and (USER_ID.fullmatch(value) or GROUP_ID.fullmatch(value)):
        return value
    _refuse("person_id", f"is not a Slack user id (U.../W...) or user-group id (S...): {got(value)}; "
                         "copy it from the profile's menu (Copy member ID)")


def _group_name(value: object) -> str:
    if isinstance(value, str) and GROUP_NAME.fullmatch(value):
        return value
    _refuse("group_name", "group names are lower-case letters, digits, `_` and `-`")


def _notify(value: object) -> Notify:
    if isinstance(value, str) and value in tuple(Notify):
        return Notify(value)
    choices = ", ".join(f'"{n.value}"' for n in Notify)
    _refuse("notify", f"must be one of {choices}, got {got(value)}")


def _permission(value: object) -> Permission:
    if isinstance(value, str) and value.strip().lower() in WITHDRAWAL_NAMES:
        _refuse("permission", "Transfer (withdrawal) can never be given to a sub-account key")
    try:
        return Permission.parse(value if isinstance(value, str) else "")
    except ValueError:
        choices = ", ".join(p.value for p in Permission)
        _refuse("permission", f"unknown permission {got(value)}: choose from {choices}")


def _expiry(value: object) -> int | None:
    """Days, or None for "never"; `true` and 30.0 are refused although Python finds them equal to 1 and 30."""
    if value == "never":
        return None
    if type(value) is int and value in EXPIRY_CHOICES:
        return value
    _refuse("expiry", f"must be one of {EXPIRY_TEXT}, got {got(value)}")


def _pattern(value: object) -> str:
    if not isinstance(value, str):
        _refuse("pattern", f"must be an fnmatch pattern (a string), got {got(value)}")
    why = pattern_problem(value)
    if why is not None:
        _refuse("pattern", why)
    return value


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
            if not any(fnmatchcase(c, pattern[i:end]) for c in NAME_CHARS):
                return f"can never match: `{pattern[i:end]}` matches no character of a sub-account name"
            need, i = need + 1, end
            continue
        if ch not in "*?" and ch not in NAME_CHARS:
            return f"can never match: sub-account names have only letters, digits and `_.-`, not {ch!r}"
        need, i = need + (ch != "*"), i + 1
    if need > NAME_MAX:
        return f"can never match: it needs {need} characters, sub-account names have at most {NAME_MAX}"
    return None


ChannelId = Annotated[str, PlainValidator(_channel_id)]
PersonId = Annotated[str, PlainValidator(_person_id)]  # a user (U/W) or a user group (S)
GroupName = Annotated[str, PlainValidator(_group_name)]
NotifyMode = Annotated[Notify, PlainValidator(_notify)]
PermissionName = Annotated[Permission, PlainValidator(_permission)]
Expiry = Annotated[int | None, PlainValidator(_expiry)]
Pattern = Annotated[str, PlainValidator(_pattern)]
