"""What kukey needs to know from an exchange, in kukey's terms (the `Exchange` port in
bot.services.ports takes and returns these; each adapter converts its own models)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
class UpdatedKey:
    """A key after the exchange changed its settings (its secret and passphrase never change)."""

    api_key: str
    permissions: frozenset[Permission]  # what the exchange granted (may be less than was asked)
    ips: tuple[str, ...]


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


def _unchanged(text: str) -> str:
    return text


@dataclass(frozen=True)
class KeyIds:
    """What an exchange's API key ids look like, so the command parser can refuse a typo with a clear
    sentence: `matches` tests a normalized token, `description` says the shape ("24 hexadecimal
    characters"), `normalize` turns what a person typed into the exchange's form (e.g. lower case)."""

    exchange: str
    description: str
    matches: Callable[[str], bool]
    normalize: Callable[[str], str] = field(default=_unchanged)


# When no exchange is named (tests of the parser alone): any plausible id, letters, digits and dashes.
ANY_KEY_ID = KeyIds("the exchange", "8 to 64 letters, digits or dashes",
                    lambda text: 8 <= len(text) <= 64 and all(c.isascii() and (c.isalnum() or c == "-")
                                                               for c in text))
