"""Deleting keys at the exchange: one at a time with a retry job, or many in parallel.

A deleted key moves from delivering|active|delete_pending to `deleted`. A failure moves an active key to
`delete_pending` (any other stays where it is) with a job that retries; the exchange saying the key is
already gone counts as deleted.

Many deletes (an incident revoke) read every key in one transaction, send the exchange calls all at once
(up to `exchange.max_parallel_deletes`; KuCoin's client holds back whatever its rate pool's budget does
not allow and waits for the reset), and record each outcome from the calling thread as it arrives: the
calls never queue behind one another for the database's write lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from bot.domain.actions import AuditAction
from bot.domain.jobs import JobKind
from bot.domain.keys import KeyState
from bot.domain.secret import Secret
from bot.errors import ExchangeError
from bot.services.deps import Deps
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import KeyRecord

log = logging.getLogger("kukey.keys")


@dataclass(frozen=True)
class DeleteResult:
    api_key: str
    ok: bool
    error: str = ""


@dataclass(frozen=True)
class _Target:
    api_key: str
    sub_account: str
    blob: bytes


class KeyDeleter:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    def delete(self, api_key: str, *, actor: str, request_id: str | None, why: str,
               incident: bool = False) -> DeleteResult:
        target = self._load([api_key])[api_key]
        if isinstance(target, DeleteResult):
            return target
        return self._record(target, self._call(target), actor=actor, request_id=request_id, why=why,
                            incident=incident)

    def delete_many(self, api_keys: list[str], *, actor: str, request_id: str | None, why: str,
                    incident: bool = False, each: Callable[[DeleteResult], None] | None = None,
                    gone: Collection[str] = ()) -> list[DeleteResult]:
        """Every key's outcome, in the order given; `each` is told every outcome as it is recorded. Keys in
        `gone` (the exchange just listed the sub-account without them) are recorded as deleted without a
        call, as a delete the exchange answers "already gone" would be."""
        tell = each or (lambda _: None)
        if len(api_keys) <= 1 and not gone:
            singles = [self.delete(k, actor=actor, request_id=request_id, why=why, incident=incident)
                       for k in api_keys]
            for result in singles:
                tell(result)
            return singles
        found = self._load(api_keys)
        done = {k: r for k, r in found.items() if isinstance(r, DeleteResult)}
        for target in [t for t in found.values() if isinstance(t, _Target) and t.api_key in gone]:
            done[target.api_key] = self._record(target, None, actor=actor, request_id=request_id, why=why,
                                                incident=incident)
        targets = [t for t in found.values() if isinstance(t, _Target) and t.api_key not in done]
        for result in done.values():
            tell(result)
        if targets:
            with ThreadPoolExecutor(max_workers=min(self.d.exchange.max_parallel_deletes, len(targets)),
                                    thread_name_prefix="kukey-delete") as pool:
                calls: dict[Future[ExchangeError | None], _Target] = {pool.submit(self._call, t): t
                                                                      for t in targets}
                for call in as_completed(calls):
                    target = calls[call]
                    done[target.api_key] = self._record(target, call.result(), actor=actor, request_id=request_id,
                                                        why=why, incident=incident)
                    tell(done[target.api_key])
        return [done[k] for k in api_keys]

    def _load(self, api_keys: list[str]) -> dict[str, _Target | DeleteResult]:
        """What each key needs for its delete, or its outcome already (no passphrase, deleted before)."""
        out: dict[str, _Target | DeleteResult] = {}
        with session_scope(self.d.engine) as s:
            rows = {k.api_key: k for k in s.exec(select(KeyRecord).where(col(KeyRecord.api_key).in_(api_keys)))}
            for api_key in dict.fromkeys(api_keys):
                key = rows.get(api_key)
                if key is None or key.passphrase_enc is None:
                    out[api_key] = DeleteResult(api_key, False, "kukey holds no passphrase for this key")
                elif key.state == KeyState.DELETED:
                    out[api_key] = DeleteResult(api_key, True)
                else:
                    out[api_key] = _Target(api_key, key.sub_account, key.passphrase_enc)
        return out

    def _call(self, target: _Target) -> ExchangeError | None:
        """The exchange's delete; the error it ended with, or None."""
        passphrase: Secret = self.d.box.decrypt(target.blob, aad=f"key:{target.api_key}")
        try:
            self.d.exchange.delete_key(target.sub_account, target.api_key, passphrase)
        except ExchangeError as exc:
            return exc
        return None

    def _record(self, target: _Target, error: ExchangeError | None, *, actor: str, request_id: str | None,
                why: str, incident: bool) -> DeleteResult:
        api_key, sub = target.api_key, target.sub_account
        with session_scope(self.d.engine) as s:
            if error is not None:
                repos.key_transition(s, api_key=api_key, src=(KeyState.ACTIVE,), dst=KeyState.DELETE_PENDING)
                repos.schedule(s, kind=JobKind.RETRY_DELETE, ref=api_key,
                               run_at=self.d.clock.now() + timedelta(minutes=1))
                self.d.audit.record(s, AuditAction.KEY_DELETE_FAILED, actor=actor, request_id=request_id,
                                    sub_account=sub, api_key=api_key, outcome="failed",
                                    detail={"why": why, "error": str(error), "error_code": error.code,
                                            "incident": incident})
            else:
                repos.key_transition(s, api_key=api_key,
                                     src=(KeyState.ACTIVE, KeyState.DELETE_PENDING, KeyState.DELIVERING),
                                     dst=KeyState.DELETED, deleted_at=self.d.clock.now())
                repos.cancel_job(s, kind=JobKind.RETRY_DELETE, ref=api_key)
                self.d.audit.record(s, AuditAction.KEY_DELETED, actor=actor, request_id=request_id, sub_account=sub,
                                    api_key=api_key, detail={"why": why, "incident": incident})
        if error is not None:
            return DeleteResult(api_key, False, str(error))
        return DeleteResult(api_key, True)
