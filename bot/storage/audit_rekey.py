"""Master key rotation for the audit log: retire the old audit key, wrapped under the new master key,
in the caller's transaction (the design is in bot.storage.audit's docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select, text
from sqlmodel import Session, col

from bot.domain.actions import AuditAction
from bot.domain.clock import Clock
from bot.errors import CryptoError
from bot.security.crypto import SecretBox, key_id
from bot.storage.audit import SYSTEM_ACTOR, AuditLog, audit_key_for, format_ts, head
from bot.storage.audit_schema import AuditEvent, AuditKey


def rekey_audit(session: Session, *, old_master: bytes, new_master: bytes, clock: Clock,
                detail: Mapping[str, Any] | None = None) -> int:
    """Retire the old audit key (see bot.storage.audit) and append "audit.rekeyed" signed with the
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
    return AuditLog(new_master, clock).record(session, AuditAction.AUDIT_REKEYED, actor=SYSTEM_ACTOR, detail=info)
