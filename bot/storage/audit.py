"""The audit log: an append-only, HMAC-chained table that shows it when anyone rewrites it.

Each event's `hash` is hex HMAC-SHA256 over the canonical JSON (sorted keys, compact, ASCII) of every
other field, including `seq` and `prev_hash`; the first event's prev_hash is 64 zeros. The HMAC key
(the "audit key") is derived from the master key with HKDF-SHA256 (info "kukey audit v1") and never
stored in the clear. SQLite triggers refuse UPDATE and DELETE on `audit_event`. An event is written in
the caller's transaction (BEGIN IMMEDIATE, see bot.storage.db), so it commits or rolls back together
with the state change it records, and two processes cannot append on the same head.

Master key rotation (`kukey rekey`) keeps the chain verifiable with only the current master key:
  * the audit key in use is always the one derived from the current master key; `key_id` on each
    event names the master key (its fingerprint) whose audit key signed it;
  * on rekey, in one transaction: the old audit key is stored in `audit_key`, AES-GCM-wrapped under the
    NEW master key (aad "audit-key:<key_id>"); every previously retired audit key is re-wrapped under
    the new master key; an "audit.rekeyed" event (detail: old_key_id, new_key_id) is appended, signed
    with the NEW audit key;
  * verify() derives the current audit key and unwraps the retired ones with the current master key.
    An event signed with a key after an "audit.rekeyed" event retired it is reported as forged, so a
    leaked old master key cannot append events; a process still running with a retired key is refused
    by record() (fail closed) until it restarts with the new key.
Checkpoints ("N:HASH", the count and the head hash, posted elsewhere) detect a cut tail or a file
rewritten from scratch: verify(checkpoint=...) fails unless event N exists with that hash.

The hashing and the streaming walk live in bot.storage.audit_chain (stdlib only): verify() of a long
log hands seq ranges to worker processes and joins their results, naming the same first broken event.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Field, Session, SQLModel, col

from bot.domain.clock import Clock
from bot.domain.secret import Secret, is_secret_name
from bot.errors import AuditWriteError, CryptoError, UsageError
from bot.security.crypto import SecretBox, derive_key, key_id
from bot.storage import audit_chain as chain
from bot.storage.audit_chain import COLUMNS, GENESIS, REKEYED, content, sign

AUDIT_KEY_PURPOSE = "kukey audit v1"
SYSTEM_ACTOR = "kukey"
PARALLEL_MIN = 200_000  # verify() splits a log this long across processes
_CHECKPOINT = re.compile(r"^\s*(\d+):([0-9a-f]{64})\s*$")


class AuditEvent(SQLModel, table=True):
    """One audited action or refusal. Append-only (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_event"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ts: str = Field(index=True)  # UTC ISO-8601 with microseconds
    actor: str
    action: str
    request_id: str | None = Field(default=None, index=True)
    sub_account: str | None = Field(default=None, index=True)
    api_key: str | None = None
    outcome: str = "ok"
    detail: str = "{}"  # canonical JSON text
    key_id: str
    prev_hash: str
    hash: str


class AuditKey(SQLModel, table=True):
    """A retired audit key, wrapped under the current master key (aad "audit-key:<key_id>")."""

    __tablename__ = "audit_key"
    key_id: str = Field(primary_key=True)
    wrapped: bytes
    retired_at: str


SCHEMA_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_key_no_delete BEFORE DELETE ON audit_key "
    "BEGIN SELECT RAISE(ABORT, 'audit_key rows are kept: DELETE refused'); END",
    # verify() reads the rekey events first: without this (tiny, partial) index that is a full scan
    f"CREATE INDEX IF NOT EXISTS audit_event_rekeys ON audit_event (seq) WHERE action = '{REKEYED}'",
)



# --- canonical form and signing ---------------------------------------------------------------------

def canonical_detail(detail: Mapping[str, Any] | None) -> str:
    """Detail as canonical JSON; AuditWriteError for a Secret value or a field named like a secret."""
    if detail is None:
        return "{}"
    _refuse_secrets(detail, "detail")
    try:
        return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False, default=_jsonable)
    except (TypeError, ValueError) as exc:
        raise AuditWriteError(f"audit detail is not JSON-serializable: {exc}") from exc


def audit_key_for(master_key: bytes) -> bytes:
    return derive_key(master_key, AUDIT_KEY_PURPOSE)


def format_ts(when: datetime) -> str:
    """UTC ISO-8601 with microseconds, the form stored in `ts`."""
    if when.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def format_checkpoint(count: int, head_hash: str) -> str:
    return f"{count}:{head_hash}"


def parse_checkpoint(text: str) -> tuple[int, str]:
    """Parse "N:HASH" (N >= 1, HASH 64 lowercase hex characters)."""
    match = _CHECKPOINT.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise UsageError(f"not a checkpoint: {text!r}", usage="N:HASH, e.g. 1234:" + "ab" * 32)
    return int(match.group(1)), match.group(2)


# --- writing ----------------------------------------------------------------------------------------

class AuditLog:
    """Appends signed events in the caller's transaction. Holds no database state."""

    __slots__ = ("_audit_key", "_clock", "key_id")

    def __init__(self, master_key: bytes, clock: Clock) -> None:
        self._audit_key = audit_key_for(master_key)
        self.key_id = key_id(master_key)
        self._clock = clock

    def __repr__(self) -> str:
        return f"AuditLog(key_id={self.key_id})"

    def record(self, session: Session, action: str, *, actor: str, request_id: str | None = None,
               sub_account: str | None = None, api_key: str | None = None, outcome: str = "ok",
               detail: Mapping[str, Any] | None = None) -> int:
        """Append one event; returns its seq. Any failure rolls the caller's transaction back and
        raises AuditWriteError, so the action it records does not happen either."""
        try:
            detail_text = canonical_detail(detail)
            with session.no_autoflush:
                return self._append(session, action, actor, request_id, sub_account, api_key, outcome,
                                    detail_text)
        except Exception as exc:
            session.rollback()
            if isinstance(exc, AuditWriteError):
                raise
            reason = str(exc.orig) if isinstance(exc, DBAPIError) else type(exc).__name__
            raise AuditWriteError(f"the audit event {action!r} could not be written: {reason}") from exc

    def head(self, session: Session) -> tuple[int, str]:
        """Same as the module's head(): (count, head hash)."""
        return head(session)

    def events(self, session: Session, *, since: datetime | None = None, limit: int | None = None,
               sub_account: str | None = None, newest_first: bool = False, after_seq: int = 0) -> list[Event]:
        """Same as the module's events()."""
        return events(session, since=since, limit=limit, sub_account=sub_account, newest_first=newest_first,
                      after_seq=after_seq)

    def _append(self, session: Session, action: str, actor: str, request_id: str | None,
                sub_account: str | None, api_key: str | None, outcome: str, detail: str) -> int:
        # Plain SQL on the session's connection: building SQLAlchemy statements per event cost more than
        # the HMAC and the write together (kukey appends one event with every state change).
        conn = session.connection()
        if conn.exec_driver_sql(_RETIRED, (self.key_id,)).first():
            raise AuditWriteError(f"the master key (id {self.key_id}) was retired by `kukey rekey`: "
                                  "restart kukey with the new key")
        last = conn.exec_driver_sql(_HEAD).first()
        count, prev = (0, GENESIS) if last is None else (int(last[0]), str(last[1]))
        row: dict[str, Any] = dict(
            seq=count + 1, ts=format_ts(self._clock.now()), actor=actor, action=action,
            request_id=request_id, sub_account=sub_account, api_key=api_key, outcome=outcome,
            detail=detail, key_id=self.key_id, prev_hash=prev,
        )
        row["hash"] = sign(self._audit_key, content(**row))
        conn.exec_driver_sql(_INSERT, tuple(row[c] for c in COLUMNS))
        return int(row["seq"])


_RETIRED = "SELECT 1 FROM audit_key WHERE key_id = ?"
_HEAD = "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"
_INSERT = f"INSERT INTO audit_event ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608


def head(session: Session) -> tuple[int, str]:
    """(count, hash of the last event); (0, 64 zeros) for an empty log."""
    row = session.connection().execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash)).order_by(col(AuditEvent.seq).desc()).limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


# --- reading ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    """An audit event as read back; `detail` parsed, `ts` as stored."""

    seq: int
    ts: str
    actor: str
    action: str
    request_id: str | None
    sub_account: str | None
    api_key: str | None
    outcome: str
    detail: dict[str, Any]
    key_id: str
    prev_hash: str
    hash: str

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.ts)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}


def events(session: Session, *, since: datetime | None = None, limit: int | None = None,
           sub_account: str | None = None, newest_first: bool = False, after_seq: int = 0) -> list[Event]:
    """Events in seq order (or newest first), optionally from a time on, for one sub-account, and after
    a seq (to page through a long log)."""
    stmt = select(*[col(getattr(AuditEvent, c)) for c in COLUMNS]).where(col(AuditEvent.seq) > after_seq)
    if since is not None:
        stmt = stmt.where(col(AuditEvent.ts) >= format_ts(since))
    if sub_account is not None:
        stmt = stmt.where(col(AuditEvent.sub_account) == sub_account)
    order = col(AuditEvent.seq).desc() if newest_first else col(AuditEvent.seq)
    stmt = stmt.order_by(order).limit(limit)
    return [_event(tuple(row)) for row in session.connection().execute(stmt)]


def _event(row: tuple[Any, ...]) -> Event:
    values = dict(zip(COLUMNS, row, strict=True))
    try:
        values["detail"] = json.loads(values["detail"] or "{}")
    except ValueError:
        values["detail"] = {"unparsed": values["detail"]}
    return Event(**values)


# --- verifying --------------------------------------------------------------------------------------

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

    Given an Engine it reads a snapshot without blocking writers, and a log of PARALLEL_MIN events or
    more is split into seq ranges checked by `workers` processes (default: one per CPU, at most 4).
    Given a Session it reads inside that session's transaction.
    """
    if isinstance(target, Session):
        return _verify_on(target.connection().connection.dbapi_connection, master_key, checkpoint, None, 1)
    raw = target.raw_connection()
    try:
        raw.dbapi_connection.execute("BEGIN")  # type: ignore[union-attr]  # deferred: a snapshot
        return _verify_on(raw.dbapi_connection, master_key, checkpoint, target.url.database, workers)
    finally:
        raw.rollback()
        raw.close()


def _verify_on(dbapi: Any, master_key: bytes, checkpoint: tuple[int, str] | None, path: str | None,
               workers: int | None) -> VerifyResult:
    current = key_id(master_key)
    cursor = dbapi.cursor()
    try:
        try:
            wrapped = cursor.execute("SELECT key_id, wrapped FROM audit_key").fetchall()
            hi = int(cursor.execute("SELECT max(seq) FROM audit_event").fetchone()[0] or 0)
            retired = chain.rekeys(cursor.execute(chain.SELECT_REKEYS).fetchall())
        except sqlite3.Error as exc:
            return VerifyResult(False, 0, None, f"the database has no readable audit log ({exc})")
        keys = _retired_keys(wrapped, master_key)
        keys[current] = audit_key_for(master_key)
        args = (keys, retired, current, checkpoint)
        n = _worker_count(workers, hi, path)
        span = chain.walk_parallel(path, hi, n, *args) if n > 1 and path else None
        if span is None:
            span = chain.walk_db(dbapi, 1, hi, *args)
    finally:
        cursor.close()
    return _result(span, checkpoint)


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


# --- rekey ------------------------------------------------------------------------------------------

def rekey_audit(session: Session, *, old_master: bytes, new_master: bytes, clock: Clock,
                detail: Mapping[str, Any] | None = None) -> int:
    """Retire the old audit key (see the module docstring) and append "audit.rekeyed" signed with the
    new key; returns that event's seq. Runs in the caller's transaction; raises CryptoError."""
    old_id, new_id = key_id(old_master), key_id(new_master)
    if old_id == new_id:
        raise CryptoError("the new master key is the current one")
    old_box, new_box = SecretBox(old_master), SecretBox(new_master)
    conn = session.connection()
    retired = {str(k): bytes(w) for k, w in conn.execute(select(col(AuditKey.key_id), col(AuditKey.wrapped)))}
    if new_id in retired:
        raise CryptoError(f"the new master key (id {new_id}) was used before; "
                          "make a fresh one with `kukey keygen`")
    count, _ = head(session)
    last_id = conn.execute(select(col(AuditEvent.key_id)).where(col(AuditEvent.seq) == count)).scalar()
    if last_id is not None and last_id != old_id:
        raise CryptoError(f"the current master key (id {old_id}) did not sign the latest audit event "
                          f"(key id {last_id}): is KUKEY_MASTER_KEY the key kukey runs with?")
    for kid, wrapped in retired.items():
        raw = old_box.decrypt_bytes(wrapped, aad=f"audit-key:{kid}")
        conn.execute(text("UPDATE audit_key SET wrapped = :w WHERE key_id = :k"),
                     {"w": new_box.encrypt_bytes(raw, aad=f"audit-key:{kid}"), "k": kid})
    conn.execute(insert(AuditKey).values(
        key_id=old_id, wrapped=new_box.encrypt_bytes(audit_key_for(old_master), aad=f"audit-key:{old_id}"),
        retired_at=format_ts(clock.now()),
    ))
    info = {"old_key_id": old_id, "new_key_id": new_id, **(detail or {})}
    return AuditLog(new_master, clock).record(session, REKEYED, actor=SYSTEM_ACTOR, detail=info)


def _refuse_secrets(value: Any, path: str) -> None:
    if isinstance(value, Secret):
        raise AuditWriteError(f"audit {path} holds a secret value; secrets never go in the audit log")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and is_secret_name(key):
                raise AuditWriteError(f"audit {path}.{key} names a secret; secrets never go in the audit log")
            _refuse_secrets(item, f"{path}.{key}")
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _refuse_secrets(item, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


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


__all__ = [
    "AUDIT_KEY_PURPOSE", "COLUMNS", "GENESIS", "PARALLEL_MIN", "REKEYED", "SCHEMA_GUARDS", "SYSTEM_ACTOR",
    "AuditEvent", "AuditKey", "AuditLog", "Event", "VerifyResult", "audit_key_for", "canonical_detail",
    "content", "events", "format_checkpoint", "format_ts", "head", "parse_checkpoint", "rekey_audit", "sign",
    "verify",
]
