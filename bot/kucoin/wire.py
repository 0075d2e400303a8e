"""KuCoin's names and shapes for kukey's domain values: permissions, expiry, the apiKey format.

The domain's Permission names are kukey's own (what people type and read); this table is what KuCoin
calls them on the wire. They happen to be spelled alike today, and nothing outside bot/kucoin relies
on that.
"""

from __future__ import annotations

import re
from typing import Final

from bot.domain.keys import PERMISSION_ORDER, Permission

WIRE_PERMISSION: Final[dict[Permission, str]] = {
    Permission.GENERAL: "General",
    Permission.SPOT: "Spot",
    Permission.FUTURES: "Futures",
    Permission.MARGIN: "Margin",
    Permission.INNER_TRANSFER: "InnerTransfer",
}
_FROM_WIRE: Final = {wire.lower(): p for p, wire in WIRE_PERMISSION.items()}
# A KuCoin apiKey: 24 lowercase hexadecimal characters.
API_KEY: Final = re.compile(r"[0-9a-f]{24}")
NEVER: Final = "-1"  # `expire` of a key that never expires


def permissions_to_wire(perms: frozenset[Permission]) -> str:
    """KuCoin's `permission` field: comma-separated, in kukey's canonical order."""
    return ",".join(WIRE_PERMISSION[p] for p in PERMISSION_ORDER if p in perms)


def permissions_from_wire(text: str) -> frozenset[Permission]:
    """KuCoin's `permission` field back; permissions kukey does not manage are ignored, never guessed."""
    found = (_FROM_WIRE.get(part.strip().lower()) for part in (text or "").split(","))
    return frozenset(p for p in found if p is not None)


def expiry_to_wire(days: int | None) -> str:
    return NEVER if days is None else str(days)
