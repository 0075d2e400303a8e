"""Repository functions for notices (table `notice`, bot.domain.notify): who was told what about a request.
Keyword-only, each takes the caller's session.

`add` is the once-only guard of reminders and escalations: the unique (request, kind, seq) lets one
transaction record a notice, and any other (a retry, another replica, a job run again after a restart)
finds it taken and sends nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.domain.notify import NoticeKind
from bot.storage.db import inserted
from bot.storage.tables import Notice


def add(session: Session, *, request_id: str, kind: NoticeKind, users: list[str], at: datetime,
        seq: int = 0) -> bool:
    """Record a notice; False (nothing changed) when it was recorded already. An insert that does nothing
    on conflict, not a savepoint: a savepoint's release would look like the commit to the outbox's
    after-commit hand-over (bot.services.outbox)."""
    return inserted(session, Notice, unique=["request_id", "kind", "seq"], request_id=request_id, kind=kind.value,
                    seq=seq, users=",".join(users), created_at=at)


def count(session: Session, *, request_id: str, kind: NoticeKind) -> int:
    return int(session.exec(select(func.count()).select_from(Notice)
                            .where(Notice.request_id == request_id, Notice.kind == kind.value)).one())


def users(session: Session, *, request_id: str, kind: NoticeKind) -> list[str]:
    """The users of the first notice of `kind` (e.g. the approvers sent a direct message at the start)."""
    row = session.exec(select(Notice).where(Notice.request_id == request_id, Notice.kind == kind.value)
                       .order_by(col(Notice.seq))).first()
    return [u for u in row.users.split(",") if u] if row is not None else []
