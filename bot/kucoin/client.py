"""KuCoin sub-account API key calls, with the master account's key.

Deletes are idempotent: `delete_key` returns True when it deleted the key and False when the key was
already gone (KuCoin refused the delete with 400100 and the key is not in the sub-account's list), so a
revoke can treat False as done. A create is never sent twice: when its answer is lost, the key is looked
up by its remark (kukey's request id); found, it comes back with `secret_lost=True` and no secret (delete
it: nobody can ever receive that secret); not found after a few checks, KucoinOutcomeUnknown.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx

from bot.domain.clock import Clock
from bot.domain.keys import KeySpec
from bot.domain.secret import Secret
from bot.errors import KucoinError, KucoinOutcomeUnknown, KucoinValidationError
from bot.kucoin import transport as t
from bot.kucoin.connections import sharded_client
from bot.kucoin.models import CreatedKey, KeyInfo, MasterKeyInfo, ModifiedKey, SubAccount, from_ms, split_csv
from bot.kucoin.ratelimit import MANAGEMENT_WINDOW_S, RetryPolicy, Sleep
from bot.kucoin.signing import Credentials
from bot.kucoin.wire import expiry_to_wire, permissions_from_wire, permissions_to_wire

log = logging.getLogger("bot.kucoin")

PAGE_SIZE = 100
# httpx keeps 20 idle connections for 5 s; a revoke sends a whole window's deletes at once (66) and, when
# there are more, the next window's 30 s later. Keep that many for a little longer than a window, so the
# next burst reuses them instead of opening most of them again (against KuCoin: a TLS handshake each).
# They are spread over several pools (bot.kucoin.connections: httpcore's pool is slow with many).
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=t.DELETES_PER_WINDOW,
                           keepalive_expiry=MANAGEMENT_WINDOW_S + 5)
AHEAD_KEPT_S = MANAGEMENT_WINDOW_S  # connections opened ahead count as open this long (kept a little longer)


class KucoinClient:
    """Typed KuCoin calls. Thread-safe: share one instance between worker threads."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        api_secret: Secret,
        api_passphrase: Secret,
        clock: Clock,
        http: httpx.Client | None = None,
        sleep: Sleep = time.sleep,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        observer: t.Observer | None = None,
    ) -> None:
        self._owns_http = http is None
        self._base_url = base_url.rstrip("/")
        self._ahead_lock = threading.Lock()
        self._ahead: tuple[datetime | None, int] = (None, 0)  # when open_connections last opened, and how many
        self._http = http if http is not None else sharded_client(POOL_LIMITS)
        self._clock = clock
        self._sleep = sleep
        self.policy = policy or RetryPolicy()
        self._t = t.Transport(
            base_url=base_url,
            creds=Credentials(api_key, api_secret, api_passphrase),
            clock=clock,
            http=self._http,
            sleep=sleep,
            policy=self.policy,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not cryptography
            observer=observer,
        )

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> KucoinClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "KucoinClient(...)"

    # -- account -------------------------------------------------------------------------------
    def server_time(self) -> datetime:
        """KuCoin's clock (aware UTC)."""
        return from_ms(self._t.call(t.SERVER_TIME))

    def sync_clock(self) -> t.ClockReading:
        """Refresh the clock offset now; returns it, and how well it is known."""
        return self._t.sync_clock()

    def whoami(self) -> MasterKeyInfo:
        return MasterKeyInfo.from_wire(self._t.call(t.WHOAMI))

    def list_sub_accounts(self) -> list[SubAccount]:
        """Every sub-account, all pages."""
        out: list[SubAccount] = []
        page = 1
        while True:
            query = (("currentPage", str(page)), ("pageSize", str(PAGE_SIZE)))
            data = self._t.call(t.LIST_SUB_ACCOUNTS, query)
            items = data.get("items") or []
            out.extend(SubAccount.from_wire(item) for item in items)
            if not items or page >= int(data.get("totalPage") or 1):
                return out
            page += 1

    # -- keys ----------------------------------------------------------------------------------
    def list_keys(self, sub_account: str, api_key: str | None = None) -> list[KeyInfo]:
        params = (("apiKey", api_key),) if api_key else ()
        data = self._t.call(t.LIST_KEYS, (*params, ("subName", sub_account)))
        return [KeyInfo.from_wire(row) for row in data or []]

    def create_key(self, spec: KeySpec, *, passphrase: Secret, remark: str) -> CreatedKey:
        """Create a key; `remark` must be unique (kukey's request id): it finds a lost answer again."""
        payload = _key_payload(spec, passphrase, remark=remark)
        try:
            data = self._t.call(t.CREATE_KEY, payload=payload, redact=(passphrase,))
        except KucoinOutcomeUnknown as exc:
            return self._recover_create(spec, passphrase, remark, exc)
        return CreatedKey(
            sub_account=str(data.get("subName", spec.sub_account)),
            api_key=str(data["apiKey"]),
            api_secret=Secret(str(data["apiSecret"])),
            passphrase=passphrase,
            permissions=permissions_from_wire(str(data.get("permission", ""))),
            ips=split_csv(data.get("ipWhitelist")) or spec.ips,
            created_at=from_ms(data.get("createdAt", 0)),
            remark=str(data.get("remark", remark)),
            requested=spec,
        )

    def modify_key(self, api_key: str, spec: KeySpec, *, passphrase: Secret) -> ModifiedKey:
        """Set the key's complete state (KuCoin resets whatever is not sent)."""
        payload = _key_payload(spec, passphrase, api_key=api_key)
        data = self._t.call(t.MODIFY_KEY, payload=payload, redact=(passphrase,))
        return ModifiedKey(
            sub_account=str(data.get("subName", spec.sub_account)),
            api_key=str(data.get("apiKey", api_key)),
            permissions=permissions_from_wire(str(data.get("permission", ""))),
            ips=split_csv(data.get("ipWhitelist")) or spec.ips,
            requested=spec,
        )

    def delete_wait(self, deletes: int) -> float:
        """The least seconds `deletes` more deletes take in the Management pool, as the client sees it now."""
        return self._t.gate.seconds_for(deletes, t.DELETE_KEY.weight)

    def learn_budget(self, sub_account: str) -> bool:
        """If the rate gate holds no view of the Management pool (since start, or its window has reset), list
        `sub_account`'s keys (weight 20 of 2000): the answer starts one, and the deletes that follow while
        it lasts go out together instead of after one probing delete. True if it called KuCoin. A failure
        is logged and left to the deletes, which probe as before."""
        if self._t.gate.known():
            return False
        try:
            self.list_keys(sub_account)
        except KucoinError as exc:
            log.info("kucoin: the rate pool could not be read ahead of deletes: %s", type(exc).__name__)
        return True

    def open_connections(self, count: int) -> int:
        """Open up to `count` connections to KuCoin (at most a window's deletes) ahead of a burst of calls, so
        that the burst finds them open: `count` server-time requests at once (unsigned, Public pool, weight 3
        each; their answers are not used), each on a connection of its own while they overlap, kept alive
        as POOL_LIMITS says. Against KuCoin a new connection costs a TCP and a TLS handshake, round trips
        and CPU, before its first request can leave; an incident revoke opens them while the responder types
        the code. Best effort, one try each, nothing raised; how many were answered.

        Not again while the last ones are still kept alive (AHEAD_KEPT_S) and were as many: forms opened one
        after another do not spend the Public pool, which the clock's sync needs, a window's worth each."""
        count = min(count, t.DELETES_PER_WINDOW)
        now = self._clock.now()
        with self._ahead_lock:
            opened_at, opened = self._ahead
            if count < 1 or (opened >= count and opened_at is not None
                             and (now - opened_at).total_seconds() < AHEAD_KEPT_S):
                return 0
            self._ahead = (now, count)
        url = self._base_url + t.SERVER_TIME.path

        def one(_: int) -> bool:
            try:
                return self._http.get(url, timeout=t.CONNECT_AHEAD_TIMEOUT_S).is_success
            except httpx.HTTPError:
                return False

        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="kukey-connect") as pool:
            answered = sum(pool.map(one, range(count)))
        log.info("kucoin: %d of %d connections opened ahead", answered, count)
        return answered

    def delete_key(self, sub_account: str, api_key: str, passphrase: Secret) -> bool:
        """Delete a key. True: deleted now; False: it was already gone (treat as done)."""
        params = (("apiKey", api_key), ("subName", sub_account), ("passphrase", passphrase.reveal()))
        try:
            self._t.call(t.DELETE_KEY, params, redact=(passphrase,))
        except KucoinValidationError:
            try:
                still_there = bool(self.list_keys(sub_account, api_key))
            except KucoinError:
                still_there = True
            if still_there:
                raise
            log.info("kucoin key %s in %s was already gone", api_key, sub_account)
            return False
        return True

    def _recover_create(
        self, spec: KeySpec, passphrase: Secret, remark: str, cause: KucoinOutcomeUnknown
    ) -> CreatedKey:
        """The create's answer was lost: look for the key by its remark, a bounded number of times."""
        for check in range(1, self.policy.recheck_attempts + 1):
            try:
                found = [k for k in self.list_keys(spec.sub_account) if k.remark == remark]
            except KucoinError as exc:
                log.warning("kucoin create re-check %d failed: %s", check, type(exc).__name__)
                found = []
            if found:
                key = max(found, key=lambda k: k.created_at)
                log.warning("kucoin create answer lost; found key %s by its remark", key.api_key)
                return CreatedKey(
                    sub_account=spec.sub_account, api_key=key.api_key, api_secret=None, passphrase=passphrase,
                    permissions=key.permissions, ips=spec.ips, created_at=key.created_at, remark=remark,
                    requested=spec, secret_lost=True,
                )
            if check < self.policy.recheck_attempts:
                self._sleep(self.policy.recheck_delay)
        raise KucoinOutcomeUnknown(
            f"KuCoin did not confirm creating the key with remark {remark} in sub-account "
            f"{spec.sub_account}, and it was not found there afterwards. "
            "Check the sub-account before trying again.",
            code=cause.code, http_status=cause.http_status, path=cause.path,
        ) from cause


def _key_payload(
    spec: KeySpec, passphrase: Secret, *, remark: str | None = None, api_key: str | None = None
) -> dict[str, Any]:
    """The create/modify body, in the official SDK's field order (same text, same signature)."""
    payload: dict[str, Any] = {"passphrase": passphrase.reveal()}
    if remark is not None:
        payload["remark"] = remark
    payload["permission"] = permissions_to_wire(spec.permissions)
    if spec.ips:
        payload["ipWhitelist"] = ",".join(spec.ips)
    payload["expire"] = expiry_to_wire(spec.expire_days)
    payload["subName"] = spec.sub_account
    if api_key is not None:
        payload["apiKey"] = api_key
    return payload
