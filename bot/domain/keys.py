"""What a KuCoin sub-account API key is, in kukey's terms."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum


class Permission(StrEnum):
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


TRADING_PERMISSIONS = frozenset({Permission.SPOT, Permission.FUTURES, Permission.MARGIN})
PERMISSION_ORDER = list(Permission)

# KuCoin's expire enum, in days; None means never ("-1" on the wire).
EXPIRY_CHOICES: tuple[int | None, ...] = (30, 90, 180, 360, None)
MAX_IPS = 20
# KuCoin's Management rate-limit pool (VIP0): 2000 weight per 30 s window; deleting a key weighs 30.
MANAGEMENT_POOL_BUDGET = 2000
DELETE_KEY_WEIGHT = 30
REMARK_MAX = 24


def expiry_to_wire(days: int | None) -> str:
    return "-1" if days is None else str(days)


def expiry_from_wire(text: str) -> int | None:
    return None if text == "-1" else int(text)


def normalize_permissions(perms: frozenset[Permission] | set[Permission]) -> frozenset[Permission]:
    """General is always part of a key (KuCoin adds it)."""
    return frozenset(perms) | {Permission.GENERAL}


def permissions_to_wire(perms: frozenset[Permission]) -> str:
    return ",".join(p.value for p in PERMISSION_ORDER if p in perms)


def permissions_from_wire(text: str) -> frozenset[Permission]:
    out: set[Permission] = set()
    for part in (text or "").split(","):
        if part.strip():
            try:
                out.add(Permission.parse(part))
            except ValueError:
                continue  # permissions kukey does not manage are ignored, never guessed
    return frozenset(out)


def valid_ip(text: str) -> bool:
    """An IPv4/IPv6 address or CIDR network, as KuCoin's whitelist accepts."""
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
