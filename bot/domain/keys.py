"""What a sub-account API key is, in kukey's terms: its spec, its permissions and its life in kukey.

Key states and the moves bot.storage.repos.key_transition allows (any other raises IllegalTransition):

    delivering      recorded when the exchange created it, while its secret is being shown
                    -> active (shown) | deleted (showing failed, or a crash: the key is undone)
    active          -> delete_pending (rotation grace period) | deleted | gone
    delete_pending  -> deleted | gone
    external        listed at the exchange, not created by kukey (recorded by reconciliation; final)
    deleted, gone   final; `gone`: the exchange no longer lists it (deleted outside kukey, or expired)

A key enters kukey as `delivering` (reveal) or `external` (reconciliation). A failed delete leaves the
key where it was, with a retry job.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum


class Permission(StrEnum):
    """Permissions by their user-facing names (the exchange adapter maps them to its wire names)."""

    GENERAL = "General"
    SPOT = "Spot"
    FUTURES = "Futures"
    MARGIN = "Margin"
    INNER_TRANSFER = "InnerTransfer"

    @classmethod
    def parse(cls, text: str) -> Permission:
        """Case-insensitive lookup; raises ValueError for anything else (including Transfer)."""
        for p in cls:
            if p.value.lower() == text.strip().lower():
                return p
        raise ValueError(text)


class KeyState(StrEnum):
    DELIVERING = "delivering"
    ACTIVE = "active"
    DELETE_PENDING = "delete_pending"
    DELETED = "deleted"
    GONE = "gone"
    EXTERNAL = "external"


KEY_TRANSITIONS: dict[KeyState, frozenset[KeyState]] = {
    KeyState.DELIVERING: frozenset({KeyState.ACTIVE, KeyState.DELETED}),
    KeyState.ACTIVE: frozenset({KeyState.DELETE_PENDING, KeyState.DELETED, KeyState.GONE}),
    KeyState.DELETE_PENDING: frozenset({KeyState.DELETED, KeyState.GONE}),
}
class KeyOrigin(StrEnum):
    KUKEY = "kukey"  # created through a kukey request: kukey holds its passphrase
    EXTERNAL = "external"  # found at the exchange by reconciliation


# Keys kukey can still delete (it holds their passphrase and the exchange should still list them).
DELETABLE = (KeyState.ACTIVE, KeyState.DELETE_PENDING)


def key_can_move(src: KeyState, dst: KeyState) -> bool:
    return dst in KEY_TRANSITIONS.get(src, frozenset())


TRADING_PERMISSIONS = frozenset({Permission.SPOT, Permission.FUTURES, Permission.MARGIN})
PERMISSION_ORDER = list(Permission)

# The expiry choices, in days; None means never.
EXPIRY_CHOICES: tuple[int | None, ...] = (30, 90, 180, 360, None)
MAX_IPS = 20
REMARK_MAX = 24


def normalize_permissions(perms: frozenset[Permission] | set[Permission]) -> frozenset[Permission]:
    """General is always part of a key (the exchange adds it)."""
    return frozenset(perms) | {Permission.GENERAL}


def format_permissions(perms: frozenset[Permission]) -> str:
    """kukey's text form, in the canonical order: "General,Spot" (stored, audited and shown)."""
    return ",".join(p.value for p in PERMISSION_ORDER if p in perms)


def parse_permissions(text: str) -> frozenset[Permission]:
    """The text form back; names kukey does not manage are ignored, never guessed."""
    out: set[Permission] = set()
    for part in (text or "").split(","):
        if part.strip():
            try:
                out.add(Permission.parse(part))
            except ValueError:
                continue
    return frozenset(out)


def valid_ip(text: str) -> bool:
    """An IPv4/IPv6 address or CIDR network, as an exchange's whitelist accepts."""
    try:
        if "/" in text:
            ipaddress.ip_network(text, strict=False)
        else:
            ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class KeySpec:
    """The full intended state of a key (KuCoin's modify resets anything not sent)."""

    sub_account: str
    permissions: frozenset[Permission] = field(default_factory=lambda: frozenset({Permission.GENERAL}))
    ips: tuple[str, ...] = ()
    expire_days: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "permissions", normalize_permissions(self.permissions))
