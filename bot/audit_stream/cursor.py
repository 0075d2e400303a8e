"""The audit stream's durable progress and lease: one row of `audit_forward` per target.

`last_seq` is the last event the target acknowledged; a restart resumes after it, so it re-sends at most
the event that was in flight. The lease makes exactly one process forward at a time among replicas on
one database: a process forwards while it holds `holder` with `lease_until` in the future (KUKEY_LEASE_SECONDS
on), renews it every third of it, and another process takes the row over once the lease has run out (the
holder died) or was released (the holder stopped). Every write is one compare-and-set UPDATE on the stream's
own autocommit engine (bot.audit_stream.reading): it never waits for kukey's write lock, and a process
that lost the lease cannot move the cursor (its UPDATE matches no row, and it stops forwarding).
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, select, update
from sqlmodel import col

from bot.domain.clock import Clock
from bot.storage.audit_schema import AuditForward
from bot.storage.db import insert_unless_taken

_TABLE = AuditForward.__table__  # type: ignore[attr-defined]


def holder_id() -> str:
    """This process's name in the lease: host, pid and a random part (pids repeat across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Claim:
    """Whether this process holds the lease (and so forwards), and the last seq the target acknowledged."""

    leading: bool
    last_seq: int


class Cursor:
    """The row for `key` (bot.audit_stream.target.Target.key), seen from the process `holder`."""

    def __init__(self, engine: Engine, key: str, *, clock: Clock, lease: timedelta, holder: str | None = None) -> None:
        self._engine = engine
        self.key = key
        self.holder = holder or holder_id()
        self._clock = clock
        self._lease = lease

    def claim(self) -> Claim:
        """Take the lease when it is free or has run out, renew it once a third of it has passed (as the
        job leases are, bot.services.leases); say whether this process holds it, and the last acknowledged
        seq. Writes only then: standbys only read."""
        now = self._clock.now()
        with self._engine.connect() as conn:
            row = conn.execute(select(col(AuditForward.holder), col(AuditForward.lease_until),
                                      col(AuditForward.last_seq)).where(col(AuditForward.target) == self.key)).first()
            if row is None:
                conn.execute(insert_unless_taken(conn, _TABLE, target=self.key, last_seq=0))
            holder, until, last = row or (None, None, 0)
            if holder != self.holder and holder is not None and until is not None and until >= now:
                return Claim(False, int(last))
            if holder == self.holder and until is not None and until - now > self._lease * 2 / 3:
                return Claim(True, int(last))  # renewed less than a third of the lease ago
            is_free = col(AuditForward.holder).is_(None) | (col(AuditForward.lease_until) < now)
            taken = conn.execute(update(_TABLE).where(col(AuditForward.target) == self.key,
                                                      (col(AuditForward.holder) == self.holder) | is_free)
                                 .values(holder=self.holder, lease_until=now + self._lease))
            return Claim(taken.rowcount == 1, int(last))

    def advance(self, seq: int) -> bool:
        """Record that the target acknowledged every event up to `seq` (and renew the lease); False when
        another process holds the lease now, and this one must stop."""
        now = self._clock.now()
        with self._engine.connect() as conn:
            moved = conn.execute(update(_TABLE).where(col(AuditForward.target) == self.key,
                                                      col(AuditForward.holder) == self.holder)
                                 .values(last_seq=seq, delivered_at=now, lease_until=now + self._lease))
            return moved.rowcount == 1

    def release(self) -> None:
        """Give the lease up (a clean stop), so another replica takes over at once."""
        with self._engine.connect() as conn:
            conn.execute(update(_TABLE).where(col(AuditForward.target) == self.key,
                                              col(AuditForward.holder) == self.holder)
                         .values(holder=None, lease_until=None))
