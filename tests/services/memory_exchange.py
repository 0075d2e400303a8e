"""A second exchange, in memory: it implements bot.services.ports.Exchange with nothing from bot.kucoin,
so the services' tests show that another exchange needs no change in bot/services or bot/domain.

It keeps the port's promises the way KuCoin does: a key is created with the permissions the
sub-account allows (General always), listed without its secret, deleted only with its passphrase,
and deleting a key that is already gone answers False. Its key ids are 32 hexadecimal characters
(not KuCoin's 24) on purpose. `outage(n)` makes the next n calls fail as a busy exchange would, and
`remove_out_of_band` deletes a key the way a person in the exchange's web UI would.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.clock import Clock
from bot.domain.exchange import CreatedKey, ExchangeKey, KeyIds, SubAccount, UpdatedKey
from bot.domain.keys import KeySpec, Permission, normalize_permissions
from bot.domain.secret import Secret
from bot.errors import ExchangeRejected, ExchangeUnavailable

KEY_ID = re.compile(r"[0-9a-f]{32}")
MAX_KEYS = 5


@dataclass
class _Key:
    api_key: str
    passphrase: Secret
    remark: str
    permissions: frozenset[Permission]
    created_at: datetime


@dataclass
class _Sub:
    name: str
    allowed: frozenset[Permission]
    frozen: bool = False
    keys: dict[str, _Key] = field(default_factory=dict)


class MemoryExchange:
    name = "MemoryX"
    max_parallel_deletes = 4

    def __init__(self, clock: Clock, subs: dict[str, frozenset[Permission]], *, frozen: frozenset[str] = frozenset()
                 ) -> None:
        self._clock = clock
        self._subs = {n: _Sub(n, normalize_permissions(p), n in frozen) for n, p in subs.items()}
        self._lock = threading.Lock()
        self._failures = 0
        self.readied: list[tuple[str, int]] = []  # ready_deletes' calls: (sub-account, deletes)

    key_ids = KeyIds("MemoryX", "32 hexadecimal characters", lambda text: KEY_ID.fullmatch(text) is not None)

    def new_passphrase(self) -> Secret:
        return Secret(secrets.token_urlsafe(24))

    def create_key(self, spec: KeySpec, *, passphrase: Secret, remark: str) -> CreatedKey:
        with self._lock:
            sub = self._sub(spec.sub_account)
            if sub.frozen:
                raise ExchangeRejected(f"sub-account {sub.name} is frozen", code="frozen")
            if len(sub.keys) >= MAX_KEYS:
                raise ExchangeRejected(f"sub-account {sub.name} holds {MAX_KEYS} keys already", code="too_many")
            key = _Key(secrets.token_hex(16), passphrase, remark, spec.permissions & sub.allowed, self._clock.now())
            sub.keys[key.api_key] = key
            return CreatedKey(key.api_key, Secret(secrets.token_hex(20)), key.permissions, key.created_at)

    def list_keys(self, sub_account: str) -> list[ExchangeKey]:
        with self._lock:
            sub = self._sub(sub_account)
            return [ExchangeKey(k.api_key, sub.name, k.remark, k.permissions, k.created_at)
                    for k in sub.keys.values()]

    def delete_wait(self, deletes: int) -> float:
        """No rate limits here: every delete may go at once."""
        return 0.0

    def ready_deletes(self, sub_account: str, deletes: int) -> None:
        """No rate limits or connections here: nothing to learn or open; what was readied is recorded."""
        with self._lock:
            self.readied.append((sub_account, deletes))

    def update_key(self, api_key: str, spec: KeySpec, *, passphrase: Secret) -> UpdatedKey:
        with self._lock:
            sub = self._sub(spec.sub_account)
            key = sub.keys.get(api_key)
            if key is None:
                raise ExchangeRejected(f"no key {api_key} in {sub.name}", code="unknown_key")
            if key.passphrase != passphrase:
                raise ExchangeRejected("wrong passphrase for this key", code="bad_passphrase")
            key.permissions = spec.permissions & sub.allowed
            return UpdatedKey(api_key, key.permissions, spec.ips)

    def delete_key(self, sub_account: str, api_key: str, passphrase: Secret) -> bool:
        with self._lock:
            sub = self._sub(sub_account)
            key = sub.keys.get(api_key)
            if key is None:
                return False
            if key.passphrase != passphrase:
                raise ExchangeRejected("wrong passphrase for this key", code="bad_passphrase")
            del sub.keys[api_key]
            return True

    def list_sub_accounts(self) -> list[SubAccount]:
        with self._lock:
            self._maybe_fail()
            return [SubAccount(s.name, s.frozen) for s in self._subs.values()]

    # --- what happens outside the port --------------------------------------------------------------
    def outage(self, calls: int = 1) -> None:
        """The next `calls` calls fail as ExchangeUnavailable."""
        with self._lock:
            self._failures += calls

    def remove_out_of_band(self, sub_account: str, api_key: str) -> bool:
        with self._lock:
            return self._subs[sub_account].keys.pop(api_key, None) is not None

    def _sub(self, name: str) -> _Sub:
        self._maybe_fail()
        sub = self._subs.get(name)
        if sub is None:
            raise ExchangeRejected(f"no sub-account {name}", code="unknown_sub_account")
        return sub

    def _maybe_fail(self) -> None:
        if self._failures:
            self._failures -= 1
            raise ExchangeUnavailable("MemoryX is busy", code="busy")
