"""The sandbox's accounts and keys, loaded from a seed, and the business rules of the key endpoints.

Operations raise ApiError(code, msg); the server turns it into KuCoin's JSON and HTTP status.
Choices where KuCoin's documentation is silent (documented for kukey's tests):
- a wrong key passphrase on modify/delete, an unknown api key, an unknown or frozen sub-account and the
  per-sub-account key cap all answer 400100 (they are request parameters, not the caller's auth);
- modify resets permission / ipWhitelist / expire to what is sent (absent: General / none / -1);
- trading permissions the sub-account has not opened (openedTradeTypes) are silently not granted.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

PERMISSIONS = ("General", "Spot", "Futures", "Margin", "InnerTransfer")
TRADE_PERMISSIONS = frozenset({"Spot", "Futures", "Margin"})
EXPIRES = frozenset({"-1", "30", "90", "180", "360"})
MAX_IPS = 20
DAY_MS = 86_400_000
SEED_TIME = 1_700_000_000_000  # createdAt for seeded objects that give none


class ApiError(Exception):
    """An answer KuCoin would give instead of success."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg


def bad(msg: str) -> ApiError:
    return ApiError("400100", msg)


@dataclass
class Key:
    api_key: str
    api_secret: str
    passphrase: str
    master_uid: int
    uid: int
    sub_name: str  # "" for a master key
    remark: str
    permissions: tuple[str, ...]
    ips: tuple[str, ...] = ()
    expire: str = "-1"
    created_at: int = 0

    @property
    def is_master(self) -> bool:
        return not self.sub_name

    def expired(self, now_ms: int) -> bool:
        return self.expire != "-1" and now_ms > self.created_at + int(self.expire) * DAY_MS

    def listing(self, *, masked: bool = True) -> dict[str, Any]:
        ips = [mask_ip(ip) for ip in self.ips] if masked else list(self.ips)
        return {"subName": self.sub_name, "remark": self.remark, "apiKey": self.api_key, "apiVersion": 3,
                "permission": ",".join(self.permissions), "ipWhitelist": ",".join(ips),
                "createdAt": self.created_at, "uid": self.uid, "isMaster": self.is_master}

    def public_state(self) -> dict[str, Any]:
        return {"api_key": self.api_key, "permissions": list(self.permissions), "ips": list(self.ips),
                "expire": self.expire, "remark": self.remark, "created_at": self.created_at}


@dataclass
class SubAccount:
    name: str
    master_uid: int
    uid: int
    user_id: str
    status: int = 2
    type: int = 0
    access: str = "All"
    remarks: str = ""
    created_at: int = 0
    trade_types: tuple[str, ...] = ("Spot", "Futures", "Margin")
    opened_trade_types: tuple[str, ...] = ("Spot",)
    keys: dict[str, Key] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"userId": self.user_id, "uid": self.uid, "subName": self.name, "status": self.status,
                "type": self.type, "access": self.access, "createdAt": self.created_at,
                "remarks": self.remarks, "tradeTypes": list(self.trade_types),
                "openedTradeTypes": list(self.opened_trade_types),
                "hostedStatus": None}


def mask_ip(ip: str) -> str:
    """KuCoin's masking in lists: first and last part kept, `10.**.1`."""
    sep = ":" if ":" in ip and "." not in ip else "."
    head, _, rest = ip.partition(sep)
    tail = rest.rsplit(sep, 1)[-1] if rest else ""
    return f"{head}{sep}**{sep}{tail}"


def default_seed() -> dict[str, Any]:
    text = resources.files("kukey_sandbox.kucoin").joinpath("seed.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load_seed(seed: Path | str | dict[str, Any] | None) -> dict[str, Any]:
    if seed is None:
        return default_seed()
    if isinstance(seed, dict):
        return seed
    loaded: dict[str, Any] = json.loads(Path(seed).read_text(encoding="utf-8"))
    return loaded


class World:
    """All masters, sub-accounts and keys. Every method takes the lock."""

    def __init__(self, seed: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.removed = threading.Condition(self.lock)  # notified whenever a key is removed
        self.max_keys = int(seed.get("settings", {}).get("max_keys_per_sub_account", 5))
        self.keys: dict[str, Key] = {}
        self.subs: dict[str, SubAccount] = {}
        self.frozen_masters: set[int] = set()
        for master in seed["masters"]:
            self._add_master(master)

    def _add_master(self, m: dict[str, Any]) -> None:
        uid = int(m["uid"])
        if m.get("frozen"):
            self.frozen_masters.add(uid)
        master = Key(api_key=m["api_key"], api_secret=m["api_secret"], passphrase=m["api_passphrase"],
                     master_uid=uid, uid=uid, sub_name="", remark=m.get("remark", "master"),
                     permissions=tuple(m.get("permissions", ["General", "Spot"])),
                     ips=tuple(m.get("ips", ())),
                     created_at=int(m.get("created_at", SEED_TIME)))
        self.keys[master.api_key] = master
        for s in m.get("sub_accounts", []):
            sub = _sub_from_seed(s, uid)
            if sub.name in self.subs:
                raise ValueError(f"duplicate sub-account name in seed: {sub.name}")
            self.subs[sub.name] = sub
            for k in s.get("keys", []):
                self._store(_key_from_seed(k, sub))

    def masters(self) -> list[Key]:
        return [k for k in self.keys.values() if k.is_master]

    def _store(self, key: Key) -> None:
        self.keys[key.api_key] = key
        self.subs[key.sub_name].keys[key.api_key] = key

    def remove(self, sub: SubAccount, api_key: str) -> Key | None:
        """Take a key out of its sub-account (None if it was not there) and wake whoever waits for that."""
        with self.lock:
            key = sub.keys.pop(api_key, None)
            self.keys.pop(api_key, None)
            self.removed.notify_all()
            return key

    # -- lookups and field rules ---------------------------------------------------------------
    def sub_of(self, caller: Key, name: Any) -> SubAccount:
        if not isinstance(name, str) or not name:
            raise bad("subName is required")
        sub = self.subs.get(name)
        if sub is None or sub.master_uid != caller.master_uid:
            raise bad("Sub-account does not exist")
        return sub

    def key_of(self, sub: SubAccount, api_key: Any, passphrase: Any) -> Key:
        if not isinstance(api_key, str) or not api_key:
            raise bad("apiKey is required")
        key = sub.keys.get(api_key)
        if key is None:
            raise bad("API key does not exist")
        if not isinstance(passphrase, str) or not passphrase:
            raise bad("passphrase is required")
        if not secrets.compare_digest(passphrase.encode(), key.passphrase.encode()):
            raise bad("Passphrase error")
        return key


def _sub_from_seed(s: dict[str, Any], master_uid: int) -> SubAccount:
    return SubAccount(
        name=s["name"], master_uid=master_uid, uid=int(s["uid"]),
        user_id=s.get("user_id", uuid.uuid4().hex[:24]),
        status=int(s.get("status", 2)), type=int(s.get("type", 0)), access=s.get("access", "All"),
        remarks=s.get("remarks", ""), created_at=int(s.get("created_at", SEED_TIME)),
        trade_types=tuple(s.get("trade_types", ("Spot", "Futures", "Margin"))),
        opened_trade_types=tuple(s.get("opened_trade_types", ("Spot",))),
    )


def _key_from_seed(k: dict[str, Any], sub: SubAccount) -> Key:
    return Key(api_key=k["api_key"], api_secret=k["api_secret"], passphrase=k["passphrase"],
               master_uid=sub.master_uid, uid=sub.uid, sub_name=sub.name, remark=k.get("remark", ""),
               permissions=tuple(k.get("permissions", ["General"])), ips=tuple(k.get("ips", ())),
               expire=str(k.get("expire", "-1")), created_at=int(k.get("created_at", SEED_TIME)))


def check_passphrase(value: Any) -> str:
    if not isinstance(value, str) or not 7 <= len(value) <= 32 or any(c.isspace() for c in value):
        raise bad("passphrase must be 7-32 characters without spaces")
    return value


def check_remark(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 24:
        raise bad("remark must be 1-24 characters")
    return value


def granted_permissions(value: Any, sub: SubAccount) -> tuple[str, ...]:
    """Parse `permission`; General is always granted; unopened trade types are dropped."""
    if value is None or value == "":
        value = "General"
    if not isinstance(value, str):
        raise bad("permission must be a string")
    asked = {part.strip() for part in value.split(",") if part.strip()}
    unknown = asked - set(PERMISSIONS)
    if unknown:
        raise bad(f"Invalid permission: {','.join(sorted(unknown))}")
    asked.add("General")
    return tuple(p for p in PERMISSIONS
                 if p in asked and (p not in TRADE_PERMISSIONS or p in sub.opened_trade_types))


def check_ips(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise bad("ipWhitelist must be a string")
    ips = tuple(part.strip() for part in value.split(","))
    if len(ips) > MAX_IPS:
        raise bad("ipWhitelist can hold up to 20 IPs")
    for ip in ips:
        try:
            ipaddress.ip_network(ip, strict=False) if "/" in ip else ipaddress.ip_address(ip)
        except ValueError:
            raise bad("ipWhitelist contains an invalid IP") from None
    return ips


def check_expire(value: Any) -> str:
    text = "-1" if value is None else str(value)
    if text not in EXPIRES:
        raise bad("expire must be one of -1, 30, 90, 180, 360")
    return text


def new_key_id() -> str:
    return secrets.token_hex(12)


def new_secret() -> str:
    return str(uuid.uuid4())
