"""What kukey told a key's owner (table `key_reminder`): each reminder once per key and reason.

`remember` inserts with ON CONFLICT DO NOTHING on the unique (api_key, reason) and answers whether this
call made the row: two replicas (or a run repeated after a crash) racing for the same reminder make one
row, and only the caller that made it owes the message, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from bot.domain.reminders import Reason
from bot.domain.requests import OPEN_STATES, Kind
from bot.storage.db import inserted
from bot.storage.tables import KeyReminder, Request


def remember(session: Session, *, api_key: str, reason: Reason, owner: str, at: datetime) -> bool:
    """Record that `owner` is told `reason` about `api_key`; False when that was recorded before."""
    return inserted(session, KeyReminder, unique=["api_key", "reason"], api_key=api_key, reason=reason.value,
                    owner=owner, sent_at=at)



def open_targets(session: Session) -> tuple[set[str], set[str]]:
    """The keys open rotate or revoke requests name, and the sub-accounts of open `revoke all` requests:
    what is about to be replaced or deleted already, so not reminded now (an open update replaces nothing)."""
    rows = list(session.exec(select(Request.target_api_key, Request.sub_account, Request.revoke_all)
                             .where(col(Request.state).in_([s.value for s in OPEN_STATES]),
                                    col(Request.kind).in_([Kind.ROTATE.value, Kind.REVOKE.value]))))
    return {key for key, _, _ in rows if key}, {sub for _, sub, revoke_all in rows if revoke_all}
