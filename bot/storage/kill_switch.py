"""Repository functions for the kill switch (`revoke everything`, bot.services.kill_switch): the keys it
snapshotted when it started (table `kill_switch_key`) and their outcomes. Keyword-only, each takes the
caller's session."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bot.domain.keys import DELETABLE, KeyState
from bot.domain.outbox import OPEN, Op
from bot.domain.requests import Kind, State
from bot.storage.tables import KeyRecord, KillSwitchKey, OutboxItem, Request

PENDING, DELETED, FAILED = "pending", "deleted", "failed"


@dataclass(frozen=True)
class Tally:
    """Where a kill switch stands: how many keys, how many deleted, the ones that failed (with why)."""

    total: int
    deleted: int
    failed: tuple[KillSwitchKey, ...]

    @property
    def left(self) -> int:
        return self.total - self.deleted - len(self.failed)


def held_keys(session: Session) -> list[KeyRecord]:
    """Every key kukey can delete: one it made (it holds the passphrase) that is not deleted yet."""
    stmt = select(KeyRecord).where(col(KeyRecord.state).in_([s.value for s in DELETABLE]),
                                   col(KeyRecord.passphrase_enc).is_not(None))
    return list(session.exec(stmt.order_by(col(KeyRecord.sub_account), col(KeyRecord.api_key))))


def out_of_reach(session: Session) -> list[KeyRecord]:
    """Keys kukey knows of but holds no passphrase for: found at the exchange by reconciliation
    (`external`), or recorded without one."""
    external = col(KeyRecord.state) == KeyState.EXTERNAL.value
    no_passphrase = col(KeyRecord.state).in_([s.value for s in DELETABLE]) & col(KeyRecord.passphrase_enc).is_(None)
    stmt = select(KeyRecord).where(external | no_passphrase)
    return list(session.exec(stmt.order_by(col(KeyRecord.sub_account), col(KeyRecord.api_key))))


def running(session: Session) -> Request | None:
    """The kill switch under way, if one is."""
    stmt = select(Request).where(Request.kind == Kind.KILL_SWITCH.value, Request.state == State.REVOKING.value)
    return session.exec(stmt).first()


def add_targets(session: Session, *, request_id: str, keys: Iterable[KeyRecord]) -> None:
    session.add_all([KillSwitchKey(request_id=request_id, api_key=k.api_key, sub_account=k.sub_account)
                     for k in keys])


def pending(session: Session, *, request_id: str) -> list[str]:
    """The api keys whose delete is not recorded yet, in the order of the snapshot."""
    stmt = select(KillSwitchKey.api_key).where(KillSwitchKey.request_id == request_id,
                                               KillSwitchKey.outcome == PENDING)
    return list(session.exec(stmt.order_by(col(KillSwitchKey.id))))


def record(session: Session, *, request_id: str, api_key: str, ok: bool, error: str, at: datetime) -> None:
    stmt = (update(KillSwitchKey)
            .where(col(KillSwitchKey.request_id) == request_id, col(KillSwitchKey.api_key) == api_key)
            .values(outcome=DELETED if ok else FAILED, error="" if ok else error[:300], done_at=at))
    session.execute(stmt)


def tally(session: Session, *, request_id: str) -> Tally:
    counts = dict(session.exec(select(KillSwitchKey.outcome, func.count())
                               .where(KillSwitchKey.request_id == request_id)
                               .group_by(col(KillSwitchKey.outcome))).all())
    failed = session.exec(select(KillSwitchKey).where(KillSwitchKey.request_id == request_id,
                                                      KillSwitchKey.outcome == FAILED)
                          .order_by(col(KillSwitchKey.sub_account), col(KillSwitchKey.api_key))).all()
    return Tally(sum(counts.values()), counts.get(DELETED, 0), tuple(failed))


def outcomes(session: Session, *, request_id: str) -> list[KillSwitchKey]:
    """Every key of the kill switch with its outcome, by sub-account."""
    stmt = select(KillSwitchKey).where(KillSwitchKey.request_id == request_id)
    return list(session.exec(stmt.order_by(col(KillSwitchKey.sub_account), col(KillSwitchKey.api_key))))


def update_owed(session: Session, *, request_id: str) -> bool:
    """Whether an update of the request's post is still waiting in the outbox (or being sent)."""
    stmt = select(OutboxItem.id).where(OutboxItem.request_id == request_id, OutboxItem.op == Op.UPDATE.value,
                                       col(OutboxItem.state).in_([o.value for o in OPEN]))
    return session.exec(stmt.limit(1)).first() is not None
