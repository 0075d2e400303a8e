"""The audit log: an append-only, HMAC-chained table that shows it when anyone rewrites it.

Each event's `hash` is hex HMAC-SHA256 over the canonical JSON (sorted keys, compact, ASCII) of every
other field, including `seq` and `prev_hash`; the first event's prev_hash is 64 zeros. The HMAC key
(the "audit key") is derived from the master key with HKDF-SHA256 (info "kukey audit v1") and never
stored in the clear. Triggers refuse UPDATE and DELETE on `audit_event` (and TRUNCATE on PostgreSQL).
An event is written in the caller's transaction, so it commits or rolls back together with the state
change it records. Two processes never append on the same head: on SQLite the transaction holds the
write lock from BEGIN IMMEDIATE (bot.storage.db); on PostgreSQL the append first takes the
transaction-level advisory lock APPEND_LOCK, held until commit, and reads the head after it (READ
COMMITTED: that read sees every append committed before the lock was granted), whatever engine the
session comes from.

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

The modules: this one writes (AuditLog); bot.storage.audit_schema holds the tables and the append-only
triggers; bot.storage.audit_read reads events back (tail, export); bot.storage.audit_verify verifies the
chain and parses checkpoints; bot.storage.audit_rekey retires an audit key. The hashing and the
streaming walk live in bot.storage.audit_chain (stdlib only): verify() of a long log hands seq ranges to
worker processes and joins their results, naming the same first broken event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from bot.domain.actions import AuditAction
from bot.domain.clock import Clock
from bot.domain.secret import Secret, is_secret_name
from bot.errors import AuditWriteError
from bot.security.crypto import derive_key, key_id
from bot.storage.audit_chain import COLUMNS, GENESIS, content, sign
from bot.storage.audit_schema import AuditEvent

AUDIT_KEY_PURPOSE = "kukey audit v1"
# pg_advisory_xact_lock key serialising appends on PostgreSQL: any fixed bigint; the bytes of "kukey-au".
APPEND_LOCK = int.from_bytes(b"kukey-au", "big")
SYSTEM_ACTOR = "kukey"
# session.info key: (transaction, key_id, seq, hash) of the event this session's transaction appended last
_HEAD = "kukey.audit_head"


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


class AuditLog:
    """Appends signed events in the caller's transaction. Holds no database state."""

    __slots__ = ("_audit_key", "_clock", "key_id")

    def __init__(self, master_key: bytes, clock: Clock) -> None:
        self._audit_key = audit_key_for(master_key)
        self.key_id = key_id(master_key)
        self._clock = clock

    def __repr__(self) -> str:
        return f"AuditLog(key_id={self.key_id})"

    def record(self, session: Session, action: AuditAction, *, actor: str, request_id: str | None = None,
               sub_account: str | None = None, api_key: str | None = None, outcome: str = "ok",
               detail: Mapping[str, Any] | None = None) -> int:
        """Append one event; returns its seq. Any failure rolls the caller's transaction back and
        raises AuditWriteError, so the action it records does not happen either."""
        try:
            detail_text = canonical_detail(detail)
            with session.no_autoflush:
                return self._append(session, str(action), actor, request_id, sub_account, api_key, outcome,
                                    detail_text)
        except Exception as exc:
            session.rollback()
            if isinstance(exc, AuditWriteError):
                raise
            reason = str(exc.orig) if isinstance(exc, DBAPIError) else type(exc).__name__
            raise AuditWriteError(f"the audit event {str(action)!r} could not be written: {reason}") from exc

    def _append(self, session: Session, action: str, actor: str, request_id: str | None,
                sub_account: str | None, api_key: str | None, outcome: str, detail: str) -> int:
        # Plain SQL on the session's connection: building SQLAlchemy statements per event cost more than
        # the HMAC and the write together (kukey appends one event with every state change).
        conn = session.connection()
        top, nested = session.get_transaction(), session.in_nested_transaction()
        known = session.info.get(_HEAD)
        if known is not None and known[0] is top and known[1] == self.key_id and not nested:
            # a later event of this transaction: the lock is held since its first event and nobody else
            # has appended (or retired this key) since, so the head is the event this log wrote last
            count, prev = known[2], known[3]
        else:
            count, prev = self._lock_and_read_head(conn)
        row: dict[str, Any] = dict(
            seq=count + 1, ts=format_ts(self._clock.now()), actor=actor, action=action,
            request_id=request_id, sub_account=sub_account, api_key=api_key, outcome=outcome,
            detail=detail, key_id=self.key_id, prev_hash=prev,
        )
        row["hash"] = sign(self._audit_key, content(**row))
        conn.exec_driver_sql(_statements(conn.dialect.name).insert, tuple(row[c] for c in COLUMNS))
        # Remembered for the transaction's next event, but not from inside a savepoint: it may roll back.
        if nested:
            session.info.pop(_HEAD, None)
        else:
            session.info[_HEAD] = (top, self.key_id, int(row["seq"]), str(row["hash"]))
        return int(row["seq"])

    def _lock_and_read_head(self, conn: Connection) -> tuple[int, str]:
        """The first event of a transaction: take the append lock (PostgreSQL; SQLite's BEGIN IMMEDIATE
        holds it already), refuse a retired key, read the head."""
        sql = _statements(conn.dialect.name)
        if sql.lock:
            conn.exec_driver_sql(sql.lock, (APPEND_LOCK,))
        if conn.exec_driver_sql(sql.retired, (self.key_id,)).first():
            raise AuditWriteError(f"the master key (id {self.key_id}) was retired by `kukey rekey`: "
                                  "restart kukey with the new key")
        last = conn.exec_driver_sql(sql.head).first()
        return (0, GENESIS) if last is None else (int(last[0]), str(last[1]))


@dataclass(frozen=True)
class _Statements:
    """The append's SQL for one backend, in its driver's placeholder style (sqlite3: ?, psycopg: %s)."""

    lock: str | None
    retired: str
    head: str
    insert: str


@cache
def _statements(dialect: str) -> _Statements:
    postgres = dialect == "postgresql"
    mark = "%s" if postgres else "?"
    return _Statements(
        lock="SELECT pg_advisory_xact_lock(%s)" if postgres else None,  # SQLite: BEGIN IMMEDIATE did it
        retired=f"SELECT 1 FROM audit_key WHERE key_id = {mark}",  # noqa: S608 - mark is ? or %s
        head="SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1",
        insert=f"INSERT INTO audit_event ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})",  # noqa: S608
    )


def head(session: Session) -> tuple[int, str]:
    """(count, hash of the last event); (0, 64 zeros) for an empty log."""
    row = session.connection().execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash)).order_by(col(AuditEvent.seq).desc()).limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


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
