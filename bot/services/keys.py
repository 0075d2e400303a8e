"""Deleting keys at KuCoin: one at a time with a retry job, or many in parallel within the pool budget.

A key is deleted through states active|revealed|delete_pending -> deleting -> deleted. A failure leaves
it `delete_pending` with a job that retries; KuCoin saying the key is already gone counts as deleted.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from bot.errors import KucoinError
from bot.services.deps import Deps
from bot.storage import repos
from bot.storage.db import session_scope

log = logging.getLogger("kukey.keys")
RETRY_DELETE_JOB = "retry_delete"
PARALLEL_DELETES = 8  # Management pool: 2000 weight / 30 s, 30 per delete; the client waits on its headers


@dataclass(frozen=True)
class DeleteResult:
    api_key: str
    ok: bool
    error: str = ""


class KeyDeleter:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    def delete(self, api_key: str, *, actor: str, request_id: str | None, why: str,
               incident: bool = False) -> DeleteResult:
        with session_scope(self.d.engine) as s:
            key = repos.get_key(s, api_key=api_key)
            if key is None or key.passphrase_enc is None:
                return DeleteResult(api_key, False, "kukey holds no passphrase for this key")
            if key.state == "deleted":
                return DeleteResult(api_key, True)
            sub, blob = key.sub_account, key.passphrase_enc
        passphrase = self.d.box.decrypt(blob, aad=f"key:{api_key}")
        try:
            self.d.kucoin.delete_key(sub, api_key, passphrase)
        except KucoinError as exc:
            with session_scope(self.d.engine) as s:
                repos.key_transition(s, api_key=api_key, src=("active", "revealed", "delete_pending"),
                                     dst="delete_pending")
                repos.schedule(s, kind=RETRY_DELETE_JOB, ref=api_key,
                               run_at=self.d.clock.now() + timedelta(minutes=1))
                self.d.audit.record(s, "key.delete_failed", actor=actor, request_id=request_id,
                                    sub_account=sub, api_key=api_key, outcome="failed",
                                    detail={"why": why, "error": str(exc), "kucoin_code": exc.code,
                                            "incident": incident})
            return DeleteResult(api_key, False, str(exc))
        with session_scope(self.d.engine) as s:
            repos.key_transition(s, api_key=api_key, src=("active", "revealed", "delete_pending", "delivering"),
                                 dst="deleted", deleted_at=self.d.clock.now())
            repos.cancel_job(s, kind=RETRY_DELETE_JOB, ref=api_key)
            self.d.audit.record(s, "key.deleted", actor=actor, request_id=request_id, sub_account=sub,
                                api_key=api_key, detail={"why": why, "incident": incident})
        return DeleteResult(api_key, True)

    def delete_many(self, api_keys: list[str], *, actor: str, request_id: str | None, why: str,
                    incident: bool = False) -> list[DeleteResult]:
        if len(api_keys) <= 1:
            return [self.delete(k, actor=actor, request_id=request_id, why=why, incident=incident)
                    for k in api_keys]
        with ThreadPoolExecutor(max_workers=min(PARALLEL_DELETES, len(api_keys)),
                                thread_name_prefix="kukey-delete") as pool:
            return list(pool.map(lambda k: self.delete(k, actor=actor, request_id=request_id, why=why,
                                                       incident=incident), api_keys))
