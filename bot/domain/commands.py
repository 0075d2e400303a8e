"""The `/kukey` command language: typed commands, the parser, request ids and the help text.

`parse(text)` turns what Slack sends as the slash command's `text` into one command object, or raises
UsageError with a specific message and the right form for that subcommand. It never raises anything else.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import secrets
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from bot.domain.keys import EXPIRY_CHOICES, MAX_IPS, REMARK_MAX, KeySpec, Permission, valid_ip
from bot.errors import UsageError

SLASH: Final = "/kukey"
MAX_TEXT: Final = 2000
MAX_REASON: Final = 300
MAX_GRACE_MINUTES: Final = 7 * 24 * 60
MAX_AUDIT: Final = 200
DEFAULT_AUDIT: Final = 20
# KuCoin: 7-32 characters, at least one letter and one digit. kukey accepts a looser shape (so sandboxes
# and older accounts work) and leaves existence to the `sub_accounts` check.
SUB_ACCOUNT_CHARS: Final = "A-Za-z0-9_.-"
SUB_ACCOUNT_MAX: Final = 32
_SUB_ACCOUNT = re.compile(rf"[A-Za-z0-9][{SUB_ACCOUNT_CHARS}]{{0,{SUB_ACCOUNT_MAX - 1}}}")
_API_KEY = re.compile(r"[0-9a-f]{24}")
CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_REQUEST_ID = re.compile(rf"KK-[{CROCKFORD}]{{8}}")
assert len("KK-") + 8 <= REMARK_MAX  # the request id is also the KuCoin remark


@dataclass(frozen=True)
class Help:
    """`/kukey help` (also an empty command)."""


@dataclass(frozen=True)
class Create:
    """`create ...`; spec None means no arguments were given: open the modal form."""

    spec: KeySpec | None
    reason: str = ""
    dry_run: bool = False


@dataclass(frozen=True)
class Rotate:
    sub_account: str
    api_key: str
    grace_minutes: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Revoke:
    """Revoke one key, or every key of the sub-account when `all` is true (api_key is then None)."""

    sub_account: str
    api_key: str | None
    all: bool = False
    reason: str = ""


@dataclass(frozen=True)
class List:
    sub_account: str | None = None


@dataclass(frozen=True)
class Pending:
    """`pending`: the requests waiting for the caller's approval."""


@dataclass(frozen=True)
class Status:
    request_id: str


@dataclass(frozen=True)
class Cancel:
    request_id: str


@dataclass(frozen=True)
class Enroll:
    """`enroll`: set up (or replace) the caller's TOTP authenticator."""


@dataclass(frozen=True)
class Audit:
    n: int = DEFAULT_AUDIT
    sub_account: str | None = None


Command: TypeAlias = Help | Create | Rotate | Revoke | List | Pending | Status | Cancel | Enroll | Audit

USAGE: Final[Mapping[str, str]] = {
    "create": f"{SLASH} create <sub-account> [perms=General,Spot] [ips=203.0.113.5,198.51.100.0] "
    "[expire=30|90|180|360|never] [reason words...] [dry-run]",
    "rotate": f"{SLASH} rotate <sub-account> <apiKey> [grace=<minutes>] [reason words...]",
    "revoke": f"{SLASH} revoke <sub-account> <apiKey>|all [reason words...]",
    "list": f"{SLASH} list [sub-account]",
    "pending": f"{SLASH} pending",
    "status": f"{SLASH} status <request-id>",
    "cancel": f"{SLASH} cancel <request-id>",
    "enroll": f"{SLASH} enroll",
    "audit": f"{SLASH} audit [n] [sub-account]",
    "help": f"{SLASH} help",
}
_ALL_USAGE: Final = "\n".join(USAGE.values())

_EXAMPLES: Final[Sequence[tuple[str, str, str]]] = (
    ("create", "create alice01 perms=Spot ips=203.0.113.5 expire=90 market making bot",
     "ask for a new key (no arguments: a form). Add `dry-run` to see what the policy would say"),
    ("rotate", "rotate alice01 5f1e7b3c2d4a6b0008a1b2c3 grace=60 quarterly rotation",
     "a new key with the same settings; the old one is deleted `grace` minutes after the reveal"),
    ("revoke", "revoke alice01 5f1e7b3c2d4a6b0008a1b2c3 leaked in a log",
     "delete a key (`all` for every key of the sub-account); immediate in an incident channel"),
    ("list", "list alice01", "the keys kukey knows, with age and expiry"),
    ("pending", "pending", "requests waiting for your approval"),
    ("status", "status KK-7F3Q9C2M", "where a request stands"),
    ("cancel", "cancel KK-7F3Q9C2M", "withdraw your own request"),
    ("enroll", "enroll", "set up your authenticator app (TOTP), needed to approve and to reveal"),
    ("audit", "audit 50 alice01", "the latest audit events (admins)"),
    ("help", "help", "this message"),
)


def help_text() -> str:
    """Every command with its form and an example, as Slack mrkdwn (well under 3000 characters)."""
    lines = ["*kukey* manages KuCoin sub-account API keys: you ask, a second person approves with a "
             "TOTP code, you reveal the secret once.", ""]
    for name, example, what in _EXAMPLES:
        lines.append(f"*{name}*: {what}\n`{USAGE[name]}`")
        if example != name:
            lines.append(f"_e.g._ `{SLASH} {example}`")
    lines.append("Permissions: General (always), Spot, Futures, Margin, InnerTransfer. "
                 "Withdrawal (Transfer) is never possible on sub-account keys. Without `expire=` a key "
                 "never expires, which the policy may refuse.")
    return "\n".join(lines)


def new_request_id() -> str:
    """A fresh request id: `KK-` and 8 random Crockford base32 characters (40 bits)."""
    return "KK-" + "".join(secrets.choice(CROCKFORD) for _ in range(8))


def is_request_id(text: str) -> bool:
    """True for a request id in any letter case."""
    return _REQUEST_ID.fullmatch(text.strip().upper()) is not None


# ---------------------------------------------------------------------------------------------------------
# Cleaning what Slack sends

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                         "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
                         "\u00ab": '"', "\u00bb": '"'})
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))
_LINK = re.compile(r"<((?:https?://|mailto:)[^<>|\s]*)(?:\|([^<>]*))?>", re.IGNORECASE)


def _unwrap_link(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if label:
        return label
    return re.sub(r"^(?:https?://|mailto:)", "", target, flags=re.IGNORECASE).rstrip("/")


def clean(text: str) -> str:
    """Undo Slack's formatting: auto-links, HTML escapes, smart quotes, odd spaces and control characters."""
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace() or category == "Cc":
            out.append(" ")
        elif category not in {"Cf", "Cs", "Co", "Cn"}:
            out.append(ch)
    text = "".join(out).translate(_QUOTES)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = _LINK.sub(_unwrap_link, text)
    return " ".join(text.split())


def _show(token: str, limit: int = 40) -> str:
    """User input as quoted back in a message: shortened, without backticks."""
    token = token.replace("`", "'").replace("<", "\u2039").replace(">", "\u203a")
    return "`" + (token if len(token) <= limit else token[: limit - 1] + "\u2026") + "`"


def _fold(token: str) -> str:
    return token.translate(_DASHES).lower()


def _closest(word: str, choices: Collection[str]) -> str | None:
    found = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.7)
    if not found:
        return None
    return next(c for c in choices if c.lower() == found[0])


# ---------------------------------------------------------------------------------------------------------
# Parsing


@dataclass
class _Args:
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
                                                          "rotate": ("grace",)}
_DRY_RUN: Final = frozenset({"dry-run", "-dry-run", "--dry-run", "dryrun", "dry_run"})


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


def _split(command: str, tokens: list[str]) -> _Args:
    """Sort the words into positionals (and free words), key=value options and the dry-run flag."""
    args = _Args(command, [])
    allowed = _COMMAND_OPTIONS.get(command, ())
    for token in _merge_lists(tokens):
        if _fold(token) in _DRY_RUN:
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


def _take_option(args: _Args, match: re.Match[str], allowed: tuple[str, ...]) -> None:
    typed, value = match.group(1), match.group(2).strip().strip("'\"")
    name = _OPTION_NAMES.get(_fold(typed))
    if name is None or name not in allowed:
        takes = (" takes " + ", ".join(f"`{o}=`" for o in allowed)) if allowed else " takes no options"
        raise args.fail(f"Unknown option {_show(typed + '=')}: `{args.command}`{takes}.")
    if name in args.options:
        raise args.fail(f"Option `{name}=` is given twice: give it once.")
    if not value:
        raise args.fail(f"Option `{name}=` has no value.")
    args.options[name] = value


def _reason(args: _Args, words: list[str]) -> str:
    reason = " ".join(words)
    if len(reason) >= 2 and reason[0] == reason[-1] and reason[0] in "'\"":
        reason = reason[1:-1].strip()
    if len(reason) > MAX_REASON:
        raise args.fail(f"The reason is too long: {len(reason)} characters, at most {MAX_REASON}.")
    return reason


def _sub_account(args: _Args, token: str, known: Collection[str] | None) -> str:
    token = token.strip("`*")
    if known is not None:
        if token in known:
            return token
        same = [k for k in known if k.lower() == token.lower()]
        if len(same) == 1:
            return same[0]
        near = _closest(token, known)
        hint = f" Did you mean `{near}`?" if near else ""
        raise args.fail(f"Unknown sub-account {_show(token)}.{hint}")
    if not _SUB_ACCOUNT.fullmatch(token):
        raise args.fail(f"{_show(token)} is not a sub-account name (letters, digits, `_.-`, "
                        f"at most {SUB_ACCOUNT_MAX} characters).")
    return token


def _api_key(args: _Args, token: str) -> str:
    key = token.strip("`*").lower()
    if not _API_KEY.fullmatch(key):
        raise args.fail(f"{_show(token)} is not a KuCoin apiKey: those are 24 hexadecimal characters.")
    return key


def _number(args: _Args, text: str, *, what: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,7}", text):
        raise args.fail(f"{what} must be a whole number from {low} to {high}, got {_show(text)}.")
    value = int(text)
    if not low <= value <= high:
        raise args.fail(f"{what} must be from {low} to {high}, got {value}.")
    return value


def _permissions(args: _Args, text: str) -> frozenset[Permission]:
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
            raise args.fail(f"Unknown permission {_show(part)}: choose from {choices}.") from None
    return frozenset(perms)


def _ips(args: _Args, text: str) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not valid_ip(part):
            raise args.fail(f"{_show(part)} is not an IPv4 or IPv6 address or CIDR network.")
        try:
            canonical = str(ipaddress.ip_interface(part) if "/" in part else ipaddress.ip_address(part))
        except ValueError:
            raise args.fail(f"{_show(part)} is not an IPv4 or IPv6 address or CIDR network.") from None
        out.setdefault(canonical, canonical)
    if not out:
        raise args.fail("Option `ips=` has no address.")
    if len(out) > MAX_IPS:
        raise args.fail(f"Too many IPs: {len(out)} given, KuCoin allows at most {MAX_IPS} per key.")
    return tuple(out)


def _expiry(args: _Args, text: str) -> int | None:
    match = re.fullmatch(r"(never|none|-1)|([0-9]{1,4}) ?(?:d|days?)?", text.lower())
    if match and match.group(1):
        return None
    if match and int(match.group(2)) in EXPIRY_CHOICES:
        return int(match.group(2))
    raise args.fail(f"Expiry must be 30, 90, 180 or 360 (days) or never, got {_show(text)}.")


def _grace(args: _Args, text: str) -> int:
    match = re.fullmatch(r"([0-9]{1,6})\s*(m|min|mins|minutes?|h|hours?|d|days?)?", text.lower())
    if match is None:
        raise args.fail(f"Grace must be minutes from 0 to {MAX_GRACE_MINUTES}, got {_show(text)}.")
    unit = (match.group(2) or "m")[0]
    minutes = int(match.group(1)) * {"m": 1, "h": 60, "d": 1440}[unit]
    if minutes > MAX_GRACE_MINUTES:
        raise args.fail(f"Grace must be from 0 to {MAX_GRACE_MINUTES} minutes (7 days), got {minutes}.")
    return minutes


def _need(args: _Args, count: int, what: str) -> None:
    if len(args.words) < count:
        raise args.fail(f"Missing {what}.")


def _at_most(args: _Args, count: int) -> None:
    if len(args.words) > count:
        extra = " ".join(args.words[count:])
        raise args.fail(f"Too many arguments for `{args.command}`: {_show(extra)} is not expected.")


def _parse_create(tokens: list[str], known: Collection[str] | None) -> Command:
    if not tokens:
        return Create(spec=None)
    args = _split("create", tokens)
    _need(args, 1, "sub-account: it comes first, e.g. `create alice01 perms=Spot`")
    spec = KeySpec(
        sub_account=_sub_account(args, args.words[0], known),
        permissions=_permissions(args, args.options.get("perms", "General")),
        ips=_ips(args, args.options["ips"]) if "ips" in args.options else (),
        expire_days=_expiry(args, args.options["expire"]) if "expire" in args.options else None,
    )
    return Create(spec=spec, reason=_reason(args, args.words[1:]), dry_run=args.dry_run)


def _parse_rotate(tokens: list[str], known: Collection[str] | None) -> Command:
    args = _split("rotate", tokens)
    _need(args, 1, "sub-account and apiKey")
    sub = _sub_account(args, args.words[0], known)
    _need(args, 2, "apiKey: the 24-character key to replace (see `list`)")
    grace = _grace(args, args.options["grace"]) if "grace" in args.options else None
    return Rotate(sub, _api_key(args, args.words[1]), grace, _reason(args, args.words[2:]))


def _parse_revoke(tokens: list[str], known: Collection[str] | None) -> Command:
    args = _split("revoke", tokens)
    _need(args, 1, "sub-account and apiKey (or `all`)")
    sub = _sub_account(args, args.words[0], known)
    _need(args, 2, "apiKey (or `all` for every key of the sub-account)")
    reason = _reason(args, args.words[2:])
    if args.words[1].strip("`*").lower() == "all":
        return Revoke(sub, None, all=True, reason=reason)
    return Revoke(sub, _api_key(args, args.words[1]), all=False, reason=reason)


def _parse_list(tokens: list[str], known: Collection[str] | None) -> Command:
    args = _split("list", tokens)
    _at_most(args, 1)
    return List(_sub_account(args, args.words[0], known) if args.words else None)


def _parse_request_id(command: str) -> Callable[[list[str], Collection[str] | None], Command]:
    kind = Status if command == "status" else Cancel

    def parse_id(tokens: list[str], known: Collection[str] | None) -> Command:
        args = _split(command, tokens)
        _need(args, 1, "request id, e.g. `KK-7F3Q9C2M`")
        _at_most(args, 1)
        request_id = args.words[0].strip("`*").upper()
        if not is_request_id(request_id):
            raise args.fail(f"{_show(args.words[0])} is not a request id: they look like `KK-7F3Q9C2M`.")
        return kind(request_id)

    return parse_id


def _parse_audit(tokens: list[str], known: Collection[str] | None) -> Command:
    args = _split("audit", tokens)
    _at_most(args, 2)
    numbers = [w for w in args.words if re.fullmatch(r"[+-]?[0-9]+", w)]
    names = [w for w in args.words if w not in numbers]
    if len(numbers) > 1 or len(names) > 1:
        raise args.fail("`audit` takes at most one number and one sub-account.")
    n = _number(args, numbers[0], what="The number of events", low=1, high=MAX_AUDIT) if numbers \
        else DEFAULT_AUDIT
    return Audit(n, _sub_account(args, names[0], known) if names else None)


def _no_arguments(kind: Callable[[], Command], command: str) -> Callable[..., Command]:
    def parse_bare(tokens: list[str], known: Collection[str] | None) -> Command:
        args = _split(command, tokens)
        _at_most(args, 0)
        return kind()

    return parse_bare


_PARSERS: Final[Mapping[str, Callable[[list[str], Collection[str] | None], Command]]] = {
    "create": _parse_create,
    "rotate": _parse_rotate,
    "revoke": _parse_revoke,
    "list": _parse_list,
    "pending": _no_arguments(Pending, "pending"),
    "status": _parse_request_id("status"),
    "cancel": _parse_request_id("cancel"),
    "enroll": _no_arguments(Enroll, "enroll"),
    "audit": _parse_audit,
}
_HELP_WORDS: Final = frozenset({"help", "-h", "--help", "?", "h"})


def parse(text: str, *, sub_accounts: Collection[str] | None = None) -> Command:
    """Parse the text of `/kukey ...`. `sub_accounts`, when given, are the names that exist."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"The command is too long: {len(text)} characters, at most {MAX_TEXT}.",
                         usage=_ALL_USAGE)
    tokens = clean(text).split(" ")
    word = _fold(tokens[0])
    if not word or word in _HELP_WORDS:
        return Help()
    parser = _PARSERS.get(word)
    if parser is None:
        near = _closest(word, [*_PARSERS, "help"])
        hint = f" Did you mean `{near}`?" if near else f" Try `{SLASH} help`."
        raise UsageError(f"Unknown command {_show(tokens[0])}.{hint}", usage=_ALL_USAGE)
    return parser(tokens[1:], sub_accounts)
