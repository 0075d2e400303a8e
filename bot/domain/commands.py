"""The `/kukey` command language: typed commands, the parser and request ids.

`parse(text)` turns what Slack sends as the slash command's `text` into one command object, or raises
UsageError with a specific message and the right form for that subcommand. It never raises anything else.
The words are read by bot.domain.arguments; the forms and the help text are in bot.domain.usage.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from bot.domain import arguments as a
from bot.domain.exchange import ANY_KEY_ID, KeyIds
from bot.domain.keys import REMARK_MAX, KeySpec, Permission
from bot.domain.text import clean, fold, show
from bot.domain.usage import ALL_USAGE, SLASH
from bot.errors import UsageError

MAX_TEXT: Final = 2000
MAX_AUDIT: Final = 200
DEFAULT_AUDIT: Final = 20
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
class RevokeEverything:
    """`revoke everything`: the desk-wide kill switch (every key kukey holds, in every sub-account)."""

    reason: str = ""


@dataclass(frozen=True)
class Update:
    """`update`: new permissions and/or IP whitelist for a key kukey holds (None: keep the key's own)."""

    sub_account: str
    api_key: str
    permissions: frozenset[Permission] | None = None
    ips: tuple[str, ...] | None = None
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


Command: TypeAlias = (Help | Create | Rotate | Revoke | RevokeEverything | Update | List | Pending | Status
                      | Cancel | Enroll | Audit)

def new_request_id() -> str:
    """A fresh request id: `KK-` and 8 random Crockford base32 characters (40 bits)."""
    return "KK-" + "".join(secrets.choice(CROCKFORD) for _ in range(8))


def is_request_id(text: str) -> bool:
    """True for a request id in any letter case."""
    return _REQUEST_ID.fullmatch(text.strip().upper()) is not None


def form_reason(text: str) -> str:
    """A reason typed into a modal (deny, incident revoke): trimmed, refused when too long to keep."""
    text = text.strip()
    problem = a.reason_problem(text)
    if problem:
        raise UsageError(problem)
    return text


# ---------------------------------------------------------------------------------------------------------
# Parsing

# A subcommand's parser: the words after it, the sub-accounts that exist (if known), the key-id shape.
Parser = Callable[[list[str], Collection[str] | None, KeyIds], Command]


def _parse_create(tokens: list[str], known: Collection[str] | None, _ids: KeyIds) -> Command:
    if not tokens:
        return Create(spec=None)
    args = a.split("create", tokens)
    a.need(args, 1, "sub-account: it comes first, e.g. `create alice01 perms=Spot`")
    spec = KeySpec(
        sub_account=a.sub_account(args, args.words[0], known),
        permissions=a.permissions(args, args.options.get("perms", "General")),
        ips=a.ips(args, args.options["ips"]) if "ips" in args.options else (),
        expire_days=a.expiry(args, args.options["expire"]) if "expire" in args.options else None,
    )
    return Create(spec=spec, reason=a.reason(args, args.words[1:]), dry_run=args.dry_run)


def _parse_rotate(tokens: list[str], known: Collection[str] | None, ids: KeyIds) -> Command:
    args = a.split("rotate", tokens)
    a.need(args, 1, "sub-account and apiKey")
    sub = a.sub_account(args, args.words[0], known)
    a.need(args, 2, "apiKey: the key to replace (see `list`)")
    minutes = a.grace(args, args.options["grace"]) if "grace" in args.options else None
    return Rotate(sub, a.api_key(args, args.words[1], ids), minutes, a.reason(args, args.words[2:]))


def _parse_revoke(tokens: list[str], known: Collection[str] | None, ids: KeyIds) -> Command:
    args = a.split("revoke", tokens)
    a.need(args, 1, "sub-account and apiKey (or `all`)")
    if _is_everything(args.words, ids):
        return RevokeEverything(a.reason(args, args.words[1:]))
    sub = a.sub_account(args, args.words[0], known)
    a.need(args, 2, "apiKey (or `all` for every key of the sub-account)")
    why = a.reason(args, args.words[2:])
    if args.words[1].strip("`*").lower() == "all":
        return Revoke(sub, None, all=True, reason=why)
    return Revoke(sub, a.api_key(args, args.words[1], ids), all=False, reason=why)


def _is_everything(words: list[str], ids: KeyIds) -> bool:
    """`revoke everything [reason]`; `revoke everything all|<apiKey>` stays a sub-account named so."""
    if fold(words[0].strip("`*")) != "everything":
        return False
    second = words[1].strip("`*") if len(words) > 1 else ""
    return not second or (fold(second) != "all" and not ids.matches(ids.normalize(second)))


def _parse_update(tokens: list[str], known: Collection[str] | None, ids: KeyIds) -> Command:
    args = a.split("update", tokens)
    a.need(args, 1, "sub-account and apiKey")
    sub = a.sub_account(args, args.words[0], known)
    a.need(args, 2, "apiKey: the key to change (see `list`)")
    key = a.api_key(args, args.words[1], ids)
    if not args.options:
        raise args.fail("Nothing to change: give `perms=`, `ips=` or both.")
    perms = a.permissions(args, args.options["perms"]) if "perms" in args.options else None
    ips = a.ips(args, args.options["ips"]) if "ips" in args.options else None
    return Update(sub, key, perms, ips, a.reason(args, args.words[2:]))


def _parse_list(tokens: list[str], known: Collection[str] | None, _ids: KeyIds) -> Command:
    args = a.split("list", tokens)
    a.at_most(args, 1)
    return List(a.sub_account(args, args.words[0], known) if args.words else None)


def _parse_request_id(command: str) -> Parser:
    kind = Status if command == "status" else Cancel

    def parse_id(tokens: list[str], known: Collection[str] | None, _ids: KeyIds) -> Command:
        args = a.split(command, tokens)
        a.need(args, 1, "request id, e.g. `KK-7F3Q9C2M`")
        a.at_most(args, 1)
        request_id = args.words[0].strip("`*").upper()
        if not is_request_id(request_id):
            raise args.fail(f"{show(args.words[0])} is not a request id: they look like `KK-7F3Q9C2M`.")
        return kind(request_id)

    return parse_id


def _parse_audit(tokens: list[str], known: Collection[str] | None, _ids: KeyIds) -> Command:
    args = a.split("audit", tokens)
    a.at_most(args, 2)
    numbers = [w for w in args.words if re.fullmatch(r"[+-]?[0-9]+", w)]
    names = [w for w in args.words if w not in numbers]
    if len(numbers) > 1 or len(names) > 1:
        raise args.fail("`audit` takes at most one number and one sub-account.")
    n = a.number(args, numbers[0], what="The number of events", low=1, high=MAX_AUDIT) if numbers \
        else DEFAULT_AUDIT
    return Audit(n, a.sub_account(args, names[0], known) if names else None)


def _no_arguments(kind: Callable[[], Command], command: str) -> Parser:
    def parse_bare(tokens: list[str], known: Collection[str] | None, _ids: KeyIds) -> Command:
        args = a.split(command, tokens)
        a.at_most(args, 0)
        return kind()

    return parse_bare


_PARSERS: Final[Mapping[str, Parser]] = {
    "create": _parse_create,
    "rotate": _parse_rotate,
    "revoke": _parse_revoke,
    "update": _parse_update,
    "list": _parse_list,
    "pending": _no_arguments(Pending, "pending"),
    "status": _parse_request_id("status"),
    "cancel": _parse_request_id("cancel"),
    "enroll": _no_arguments(Enroll, "enroll"),
    "audit": _parse_audit,
}
_HELP_WORDS: Final = frozenset({"help", "-h", "--help", "?", "h"})
_WORD_MAX: Final = 64  # far longer than any subcommand, with room for leading spaces
# subcommands that only read (help, pending, status) or are answered at once (enroll shows the seed)
ANSWERED_AT_ONCE: Final = _HELP_WORDS | {"pending", "status", "enroll"}


def subcommand(text: str) -> str:
    """The subcommand word of `/kukey ...` as `parse` reads it ("create", "help", ...), from the start of the
    text only: cheap enough to route a command before it is parsed. On a text whose first word starts
    past that start it may differ from `parse`'s (it then names no subcommand, or a word parse refuses)."""
    return fold(clean(text[:_WORD_MAX]).split(" ")[0])


def parse(text: str, *, sub_accounts: Collection[str] | None = None, key_ids: KeyIds = ANY_KEY_ID) -> Command:
    """Parse the text of `/kukey ...`. `sub_accounts`, when given, are the names that exist; `key_ids`
    says what the exchange's API key ids look like (the Exchange port's `key_ids`)."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"The command is too long: {len(text)} characters, at most {MAX_TEXT}.",
                         usage=ALL_USAGE)
    tokens = clean(text).split(" ")
    word = fold(tokens[0])
    if not word or word in _HELP_WORDS:
        return Help()
    parser = _PARSERS.get(word)
    if parser is None:
        near = a.closest(word, [*_PARSERS, "help"])
        hint = f" Did you mean `{near}`?" if near else f" Try `{SLASH} help`."
        raise UsageError(f"Unknown command {show(tokens[0])}.{hint}", usage=ALL_USAGE)
    return parser(tokens[1:], sub_accounts, key_ids)
