"""What kukey needs to know from an exchange, in kukey's terms (the `Exchange` port in
bot.services.ports takes and returns these; each adapter converts its own models)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.keys import Permission
from bot.domain.secret import Secret


@dataclass(frozen=True)
class CreatedKey:
    """A key the exchange created. `secret` is None when the create's answer was lost and the key was
    found again by its remark: nobody can ever receive that secret, so the key must be deleted."""

    api_key: str
    secret: Secret | None
    permissions: frozenset[Permission]  # what the exchange granted (may be less than was asked)
    created_at: datetime

    @property
    def secret_lost(self) -> bool:
        return self.secret is None


@dataclass(frozen=True)
class ExchangeKey:
    """One key as the exchange lists it (never with its secret)."""

    api_key: str
    sub_account: str
    remark: str
    permissions: frozenset[Permission]
    created_at: datetime


@dataclass(frozen=True)
class SubAccount:
    name: str
    frozen: bool = False
