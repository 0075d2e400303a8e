"""Typed results of KuCoin calls, parsed from KuCoin's JSON (field names as in KuCoin's OpenAPI spec)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.domain.keys import KeySpec, Permission
from bot.domain.secret import Secret
from bot.kucoin.wire import WIRE_PERMISSION, permissions_from_wire

SUB_ACCOUNT_ENABLED = 2
SUB_ACCOUNT_FROZEN = 3

_PASSPHRASE_ALPHABET = string.ascii_letters + string.digits


def generate_passphrase() -> Secret:
    """A fresh key passphrase: 20-32 characters from [A-Za-z0-9] (no escaping needed anywhere)."""
    length = 20 + secrets.randbelow(13)
    return Secret("".join(secrets.choice(_PASSPHRASE_ALPHABET) for _ in range(length)))


def from_ms(value: Any) -> datetime:
    """KuCoin's epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def split_csv(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


@dataclass(frozen=True)
class CreatedKey:
    """A key KuCoin created. `api_secret` is None (and `secret_lost` True) when the create's answer was
    lost and the key was found again by its remark: its secret can never be known, so delete it."""

    sub_account: str
    api_key: str
    api_secret: Secret | None
    passphrase: Secret
    permissions: frozenset[Permission]
    ips: tuple[str, ...]
    created_at: datetime
    remark: str
    requested: KeySpec
    secret_lost: bool = False


@dataclass(frozen=True)
class KeyInfo:
    """One row of the key list. `ips_masked` are as KuCoin shows them (`10.**.1`)."""

    sub_account: str
    api_key: str
    remark: str
    permissions: frozenset[Permission]
    ips_masked: tuple[str, ...]
    created_at: datetime
    api_version: int
    uid: int | None
    is_master: bool

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> KeyInfo:
        return cls(
            sub_account=str(data.get("subName", "")),
            api_key=str(data["apiKey"]),
            remark=str(data.get("remark", "")),
            permissions=permissions_from_wire(str(data.get("permission", ""))),
            ips_masked=split_csv(data.get("ipWhitelist")),
            created_at=from_ms(data.get("createdAt", 0)),
            api_version=int(data.get("apiVersion", 3)),
            uid=int(data["uid"]) if data.get("uid") is not None else None,
            is_master=bool(data.get("isMaster", False)),
        )


@dataclass(frozen=True)
class ModifiedKey:
    """What KuCoin says a key looks like after a modify."""

    sub_account: str
    api_key: str
    permissions: frozenset[Permission]
    ips: tuple[str, ...]
    requested: KeySpec


@dataclass(frozen=True)
class SubAccount:
    """A sub-account of the master account."""

    name: str
    user_id: str
    uid: int
    status: int
    type: int
    access: str
    created_at: datetime
    remarks: str
    trade_types: tuple[str, ...]
    opened_trade_types: tuple[str, ...]

    @property
    def frozen(self) -> bool:
        return self.status == SUB_ACCOUNT_FROZEN

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> SubAccount:
        return cls(
            name=str(data["subName"]),
            user_id=str(data.get("userId", "")),
            uid=int(data.get("uid", 0)),
            status=int(data.get("status", SUB_ACCOUNT_ENABLED)),
            type=int(data.get("type", 0)),
            access=str(data.get("access", "")),
            created_at=from_ms(data.get("createdAt", 0)),
            remarks=str(data.get("remarks") or ""),
            trade_types=tuple(data.get("tradeTypes") or ()),
            opened_trade_types=tuple(data.get("openedTradeTypes") or ()),
        )


@dataclass(frozen=True)
class MasterKeyInfo:
    """What KuCoin says about the calling key. `permissions` are KuCoin's names, unfiltered."""

    api_key: str
    is_master: bool
    permissions: frozenset[str]
    api_version: int
    uid: int | None
    remark: str
    ips_masked: tuple[str, ...]

    @property
    def has_general(self) -> bool:
        return WIRE_PERMISSION[Permission.GENERAL] in self.permissions

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> MasterKeyInfo:
        return cls(
            api_key=str(data.get("apiKey", "")),
            is_master=bool(data.get("isMaster", False)),
            permissions=frozenset(split_csv(data.get("permission"))),
            api_version=int(data.get("apiVersion", 0)),
            uid=int(data["uid"]) if data.get("uid") is not None else None,
            remark=str(data.get("remark", "")),
            ips_masked=split_csv(data.get("ipWhitelist")),
        )
