"""Verifying the audit chain, and checkpoints ("N:HASH": the count and the head hash, posted elsewhere).

verify() walks the whole chain (streaming, see bot.storage.audit_chain) and names the first broken
event; a checkpoint also detects a cut tail or a log rewritten from scratch. Retired audit keys are
unwrapped with the current master key (see bot.storage.audit for the rekey design).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from bot.errors import CryptoError, UsageError
from bot.security.crypto import SecretBox, key_id
from bot.storage import audit_chain as chain
from bot.storage.audit import audit_key_for
from bot.storage.audit_chain import GENESIS

PARALLEL_MIN = 200_000  # verify() splits a log this long across processes (SQLite)
STREAM_BATCH = 5_000  # rows per round trip when PostgreSQL streams the log
_CHECKPOINT = re.compile(r"^\s*(\d+):([0-9a-f]{64})\s*$")


def format_checkpoint(count: int, head_hash: str) -> str:
    return f"{count}:{head_hash}"


def parse_checkpoint(text: str) -> tuple[int, str]:
    """Parse "N:HASH" (N >= 1, HASH 64 lowercase hex characters)."""
    match = _CHECKPOINT.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise UsageError(f"not a checkpoint: {text!r}", usage="N:HASH, e.g. 1234:" + "ab" * 32)
    return int(match.group(1)), match.group(2)


@dataclass(frozen=True)
class VerifyResult:
    """`count`: events that verified (all of them when ok). `head`: hash of the last good event."""

    ok: bool
    count: int
    first_bad_seq: int | None
    problem: str
    head: str = GENESIS

    @property
    def checkpoint(self) -> str:
        return format_checkpoint(self.count, self.head)


def verify(target: Engine | Session, *, master_key: bytes, checkpoint: tuple[int, str] | None = None,
           workers: int | None = None) -> VerifyResult:
    """Walk the whole chain, streaming, and name the first broken event.

    Given an Engine it reads a snapshot without blocking writers (SQLite: a deferred transaction;
    PostgreSQL: REPEATABLE READ, READ ONLY), and on SQLite a log of PARALLEL_MIN events or more is split
    into seq ranges checked by `workers` processes (default: one per CPU, at most 4); PostgreSQL streams
    the log through one server-side cursor. Given a Session it reads inside that session's transaction.
    """
    if isinstance(target, Session):
        conn = target.connection()
        return _verify_on(conn.connection.dbapi_connection, conn.dialect, master_key, checkpoint, None, 1)
    raw = target.raw_connection()
    try:
        dbapi: Any = raw.dbapi_connection
        if target.dialect.name == "postgresql":
            dbapi.rollback()  # the pool's liveness ping may have begun a transaction: start a fresh one
            dbapi.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            path = None
        else:
            dbapi.execute("BEGIN")  # deferred: a snapshot
            path = target.url.database
        return _verify_on(dbapi, target.dialect, master_key, checkpoint, path, workers)
    finally:
        raw.rollback()
        raw.close()


def _verify_on(dbapi: Any, dialect: Dialect, master_key: bytes, checkpoint: tuple[int, str] | None,
               path: str | None, workers: int | None) -> VerifyResult:
    current = key_id(master_key)
    cursor = dbapi.cursor()
    try:
        try:
            wrapped = cursor.execute("SELECT key_id, wrapped FROM audit_key").fetchall()
            hi = int(cursor.execute("SELECT max(seq) FROM audit_event").fetchone()[0] or 0)
            retired = chain.rekeys(cursor.execute(chain.SELECT_REKEYS).fetchall())
        except dialect.loaded_dbapi.Error as exc:
            return VerifyResult(False, 0, None, f"the database has no readable audit log ({exc})")
        keys = _retired_keys(wrapped, master_key)
        keys[current] = audit_key_for(master_key)
        args = (keys, retired, current, checkpoint)
        n = _worker_count(workers, hi, path)
        span = chain.walk_parallel(path, hi, n, *args) if n > 1 and path else None
        if span is None and dialect.name == "postgresql":
            span = _walk_streamed(dbapi, hi, *args)
        elif span is None:
            span = chain.walk_db(dbapi, 1, hi, *args)
    finally:
        cursor.close()
    return _result(span, checkpoint)


def _walk_streamed(dbapi: Any, hi: int, keys: dict[str, bytes | None], retired: dict[str, int], current_id: str,
                   checkpoint: tuple[int, str] | None) -> chain.Span:
    """walk() over the whole log through a server-side (named) psycopg cursor: rows arrive in batches,
    so a long log is never held in memory at once."""
    with dbapi.cursor(name="kukey_audit_verify") as rows:
        rows.itersize = STREAM_BATCH
        rows.execute(chain.SELECT_RANGE.replace("?", "%s"), (-(2**63), hi))
        return chain.walk(rows, lo=1, hi=hi, prev=GENESIS, keys=keys, retired=retired, current_id=current_id,
                          checkpoint=checkpoint)


def _worker_count(workers: int | None, events: int, path: str | None) -> int:
    if not path or path == ":memory:":
        return 1
    if workers is None:
        return min(os.cpu_count() or 1, 4) if events >= PARALLEL_MIN else 1
    return max(1, min(workers, events // 2 or 1))


def _result(span: chain.Span, checkpoint: tuple[int, str] | None) -> VerifyResult:
    head_hash = span.last_hash or GENESIS
    if span.bad_seq is not None:
        return VerifyResult(False, span.good, span.bad_seq, span.problem, head_hash)
    if checkpoint and checkpoint[0] > span.good:
        return VerifyResult(False, span.good, span.good + 1,
                            f"the log ends at event {span.good} but the checkpoint names event "
                            f"{checkpoint[0]}: the tail was cut", head_hash)
    return VerifyResult(True, span.good, None, "", head_hash)


def _retired_keys(rows: Iterable[tuple[Any, Any]], master_key: bytes) -> dict[str, bytes | None]:
    """Unwrap retired audit keys with the current master key; None where a row does not decrypt."""
    box = SecretBox(master_key)
    keys: dict[str, bytes | None] = {}
    for kid, wrapped in rows:
        try:
            keys[str(kid)] = box.decrypt_bytes(bytes(wrapped), aad=f"audit-key:{kid}")
        except CryptoError:
            keys[str(kid)] = None
    return keys
