"""How `/kukey` is used: the form of every subcommand and the help text built from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

SLASH: Final = "/kukey"

USAGE: Final[Mapping[str, str]] = {
    "create": f"{SLASH} create <sub-account> [perms=General,Spot] [ips=203.0.113.5,198.51.100.0] "
    "[expire=30|90|180|360|never] [reason words...] [dry-run]",
    "rotate": f"{SLASH} rotate <sub-account> <apiKey> [grace=<minutes>] [reason words...]",
    "revoke": f"{SLASH} revoke <sub-account> <apiKey>|all [reason words...]",
    "revoke everything": f"{SLASH} revoke everything [reason words...]",
    "update": f"{SLASH} update <sub-account> <apiKey> [perms=General,Spot] [ips=203.0.113.5,198.51.100.0] "
    "[reason words...]",
    "list": f"{SLASH} list [sub-account]",
    "pending": f"{SLASH} pending",
    "status": f"{SLASH} status <request-id>",
    "cancel": f"{SLASH} cancel <request-id>",
    "enroll": f"{SLASH} enroll",
    "audit": f"{SLASH} audit [n] [sub-account]",
    "help": f"{SLASH} help",
}
ALL_USAGE: Final = "\n".join(USAGE.values())

_EXAMPLES: Final[Sequence[tuple[str, str, str]]] = (
    ("create", "create alice01 perms=Spot ips=203.0.113.5 expire=90 market making bot",
     "ask for a new key (no arguments: a form). Add `dry-run` to see what the policy would say"),
    ("rotate", "rotate alice01 5f1e7b3c2d4a6b0008a1b2c3 grace=60 quarterly rotation",
     "a new key with the same settings; the old one is deleted `grace` minutes after the reveal"),
    ("revoke", "revoke alice01 5f1e7b3c2d4a6b0008a1b2c3 leaked in a log",
     "delete a key (`all` for every key of the sub-account); immediate in an incident channel"),
    ("revoke everything", "revoke everything credentials leaked",
     "the kill switch: every key kukey holds, in every sub-account (incident channels only; TOTP and the "
     "number of keys typed to confirm)"),
    ("update", "update alice01 5f1e7b3c2d4a6b0008a1b2c3 ips=203.0.113.9 new server",
     "change a key's IP whitelist and/or permissions (the whole new list each); same secret, nothing shown"),
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
    lines.append("*Home tab*: open kukey's Home tab (kukey in the sidebar, then Home) to see your keys with their "
                 "age (*Rotate* and *Revoke* file the same requests as the commands), your open requests, what "
                 "waits for your approval (*Approve*), and whether you are enrolled.")
    lines.append("*Reminders*: kukey tells you by direct message, once, before your key expires and when it is "
                 "due for rotation; its *Rotate* files the rotate request. Admins get a weekly digest.")
    lines.append("Permissions: General (always), Spot, Futures, Margin, InnerTransfer. "
                 "Withdrawal (Transfer) is never possible on sub-account keys. Without `expire=` a key "
                 "never expires, which the policy may refuse.")
    return "\n".join(lines)
