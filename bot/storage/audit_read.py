"""Reading the audit log back: events in order or newest first, by time, sub-account and page
(`/kukey audit`, `kukey audit tail|export`), and the newest event of one action (the Home tab's checkpoint)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from bot.storage.audit import format_ts
from bot.storage.audit_chain import COLUMNS
from bot.storage.audit_schema import AuditEvent


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


def latest(session: Session, *, action: str) -> Event | None:
    """The newest event of one action (e.g. the last checkpoint), or None when there is none."""
    stmt = (select(*[col(getattr(AuditEvent, c)) for c in COLUMNS]).where(col(AuditEvent.action) == action)
            .order_by(col(AuditEvent.seq).desc()).limit(1))
    row = session.connection().execute(stmt).first()
    return None if row is None else _event(tuple(row))


def _event(row: tuple[Any, ...]) -> Event:
    values = dict(zip(COLUMNS, row, strict=True))
    try:
        values["detail"] = json.loads(values["detail"] or "{}")
    except ValueError:
        values["detail"] = {"unparsed": values["detail"]}
    return Event(**values)
