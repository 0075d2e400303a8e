"""The words after a `/kukey` subcommand: positionals, `key=value` options, and a parser for each value.

Every parser returns a clean value or raises UsageError (via `Args.fail`) with a specific message and the
form of the subcommand. What a person typed that would break one of Slack's limits later is refused here.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

from bot.domain.exchange import KeyIds
from bot.domain.keys import EXPIRY_CHOICES, MAX_IPS, Permission, valid_ip
from bot.domain.text import astral, fold, show, slack_length
from bot.domain.usage import SLASH, USAGE
from bot.errors import UsageError

MAX_REASON: Final = 300  # in slack_length units: it fits a Slack input of max_length MAX_REASON
MAX_GRACE_MINUTES: Final = 7 * 24 * 60
# KuCoin: 7-32 characters, at least one letter and one digit. kukey accepts a looser shape (so sandboxes
# and older accounts work) and leaves existence to the `sub_accounts` check.
SUB_ACCOUNT_CHARS: Final = "A-Za-z0-9_.-"
SUB_ACCOUNT_MAX: Final = 32
_SUB_ACCOUNT = re.compile(rf"[A-Za-z0-9][{SUB_ACCOUNT_CHARS}]{{0,{SUB_ACCOUNT_MAX - 1}}}")


@dataclass
class Args:
    """The words after the subcommand: positionals, key=value options and the dry-run flag."""

    command: str
    words: list[str]
    options: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    def fail(self, message: str) -> UsageError:
        return UsageError(message, usage=USAGE[self.command])


_OPTION = re.compile(r"([A-Za-z][A-Za-z_-]*)=(.*)")
_OPTION_NAMES: Final[Mapping[str, str]] = {
    "perms": "perms", "perm": "perms", "permissions": "perms", "permission": "perms",
    "ips": "ips", "ip": "ips",
    "expire": "expire", "expires": "expire", "expiry": "expire",
    "grace": "grace",
}
_COMMAND_OPTIONS: Final[Mapping[str, tuple[str, ...]]] = {"create": ("perms", "ips", "expire"),
                                                          "rotate": ("grace",), "update": ("perms", "ips")}
_DRY_RUN: Final = frozenset({"dry-run", "-dry-run", "--dry-run", "dryrun", "dry_run"})


def closest(word: str, choices: Collection[str]) -> str | None:
    """The choice `word` was most likely meant to be (a typo), if any is close enough."""
    found = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.7)
    if not found:
        return None
    return next(c for c in choices if c.lower() == found[0])


def _merge_lists(tokens: list[str]) -> list[str]:
    """Join `ips=1.2.3.4, 5.6.7.8` back into one option token."""
    out: list[str] = []
    for token in tokens:
        if out and _OPTION.fullmatch(out[-1]) and (out[-1].endswith(",") or token.startswith(",")) \
                and not _OPTION.fullmatch(token):
            out[-1] += token
        else:
            out.append(token)
    return out


def split(command: str, tokens: list[str]) -> Args:
    """Sort the words into positionals (and free words), key=value options and the dry-run flag."""
    args = Args(command, [])
    allowed = _COMMAND_OPTIONS.get(command, ())
    for token in _merge_lists(tokens):
        if fold(token) in _DRY_RUN:
            if command != "create":
                raise args.fail(f"`dry-run` only works with `create`, not `{command}`.")
            if not args.words:
                raise args.fail("Missing sub-account: it comes before `dry-run`, "
                                f"e.g. `{SLASH} create alice01 perms=Spot dry-run`.")
            args.dry_run = True
        elif match := _OPTION.fullmatch(token):
            _take_option(args, match, allowed)
        else:
            args.words.append(token)
    return args


def _take_option(args: Args, match: re.Match[str], allowed: tuple[str, ...]) -> None:
    typed, value = match.group(1), match.group(2).strip().strip("'\"")
    name = _OPTION_NAMES.get(fold(typed))
    if name is None or name not in allowed:
        takes = (" takes " + ", ".join(f"`{o}=`" for o in allowed)) if allowed else " takes no options"
        raise args.fail(f"Unknown option {show(typed + '=')}: `{args.command}`{takes}.")
    if name in args.options:
        raise args.fail(f"Option `{name}=` is given twice: give it once.")
    if not value:
        raise args.fail(f"Option `{name}=` has no value.")
    args.options[name] = value


def reason_problem(reason: str) -> str | None:
    """Why a reason cannot be kept (too long for the places it is shown), or None."""
    if slack_length(reason) <= MAX_REASON:
        return None
    note = " (an emoji counts as two)" if astral(reason) else ""
    return f"Reason is too long: at most {MAX_REASON} characters{note}."


def reason(args: Args, words: list[str]) -> str:
    text = " ".join(words)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    problem = reason_problem(text)
    if problem:
        raise args.fail(problem)
    return text


def sub_account(args: Args, token: str, known: Collection[str] | None) -> str:
    token = token.strip("`*")
    if known is not None:
        if token in known:
            return token
        same = [k for k in known if k.lower() == token.lower()]
        if len(same) == 1:
            return same[0]
        near = closest(token, known)
        hint = f" Did you mean `{near}`?" if near else ""
        raise args.fail(f"Unknown sub-account {show(token)}.{hint}")
    if not _SUB_ACCOUNT.fullmatch(token):
        raise args.fail(f"{show(token)} is not a sub-account name (letters, digits, `_.-`, "
                        f"at most {SUB_ACCOUNT_MAX} characters).")
    return token


def api_key(args: Args, token: str, ids: KeyIds) -> str:
    key = ids.normalize(token.strip("`*"))
    if not ids.matches(key):
        raise args.fail(f"{show(token)} is not {ids.exchange}'s apiKey: those are {ids.description}.")
    return key


def number(args: Args, text: str, *, what: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,7}", text):
        raise args.fail(f"{what} must be a whole number from {low} to {high}, got {show(text)}.")
    value = int(text)
    if not low <= value <= high:
        raise args.fail(f"{what} must be from {low} to {high}, got {value}.")
    return value


def permissions(args: Args, text: str) -> frozenset[Permission]:
    perms = {Permission.GENERAL}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part.lower() in {"transfer", "withdraw", "withdrawal"}:
            raise args.fail("Sub-account API keys can never have the Transfer (withdrawal) permission: "
                            "KuCoin allows it only on master-account keys. InnerTransfer moves funds "
                            "between your own accounts.")
        try:
            perms.add(Permission.parse(part))
        except ValueError:
            choices = ", ".join(p.value for p in Permission)
            raise args.fail(f"Unknown permission {show(part)}: choose from {choices}.") from None
    return frozenset(perms)


def ips(args: Args, text: str) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not valid_ip(part):
            raise args.fail(f"{show(part)} is not an IPv4 or IPv6 address or CIDR network.")
        try:
            canonical = str(ipaddress.ip_interface(part) if "/" in part else ipaddress.ip_address(part))
        except ValueError:
            raise args.fail(f"{show(part)} is not an IPv4 or IPv6 address or CIDR network.") from None
        out.setdefault(canonical, canonical)
    if not out:
        raise args.fail("Option `ips=` has no address.")
    if len(out) > MAX_IPS:
        raise args.fail(f"Too many IPs: {len(out)} given, KuCoin allows at most {MAX_IPS} per key.")
    return tuple(out)


def expiry(args: Args, text: str) -> int | None:
    match = re.fullmatch(r"(never|none|-1)|([0-9]{1,4}) ?(?:d|days?)?", text.lower())
    if match and match.group(1):
        return None
    if match and int(match.group(2)) in EXPIRY_CHOICES:
        return int(match.group(2))
    raise args.fail(f"Expiry must be 30, 90, 180 or 360 (days) or never, got {show(text)}.")


def grace(args: Args, text: str) -> int:
    match = re.fullmatch(r"([0-9]{1,6})\s*(m|min|mins|minutes?|h|hours?|d|days?)?", text.lower())
    if match is None:
        raise args.fail(f"Grace must be minutes from 0 to {MAX_GRACE_MINUTES}, got {show(text)}.")
    unit = (match.group(2) or "m")[0]
    minutes = int(match.group(1)) * {"m": 1, "h": 60, "d": 1440}[unit]
    if minutes > MAX_GRACE_MINUTES:
        raise args.fail(f"Grace must be from 0 to {MAX_GRACE_MINUTES} minutes (7 days), got {minutes}.")
    return minutes


def need(args: Args, count: int, what: str) -> None:
    if len(args.words) < count:
        raise args.fail(f"Missing {what}.")


def at_most(args: Args, count: int) -> None:
    if len(args.words) > count:
        extra = " ".join(args.words[count:])
        raise args.fail(f"Too many arguments for `{args.command}`: {show(extra)} is not expected.")
