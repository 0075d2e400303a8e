"""Audit checkpoints: the chain head (count and hash) posted to the policy's audit channel, periodically
and on demand, so that rewriting the whole file or cutting its tail is detectable later with
`kukey audit verify --checkpoint N:HASH`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.actions import AuditAction
from bot.domain.jobs import JobKind
from bot.services.deps import Deps
from bot.storage import repos
from bot.storage.audit import head
from bot.storage.audit_read import latest
from bot.storage.audit_verify import format_checkpoint
from bot.storage.db import session_scope

GLOBAL = "global"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as posted: the chain's head when it was taken (its own event: seq and hash)."""

    seq: int
    hash: str
    at: datetime

    @property
    def text(self) -> str:
        """"N:HASH", as `kukey audit verify --checkpoint` takes it."""
        return format_checkpoint(self.seq, self.hash)


class Checkpoints:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    def ensure_scheduled(self) -> None:
        """At start: make sure the periodic job exists. One job for every replica: one started at the same
        moment, or restarted, keeps the job that is there (pending or running elsewhere)."""
        with session_scope(self.d.engine) as s:
            repos.schedule_once(s, kind=JobKind.AUDIT_CHECKPOINT, ref=GLOBAL, run_at=self._next())

    def post(self, actor: str = "kukey") -> str:
        """Record a checkpoint event, then post the head (which includes that event) to the audit channel."""
        with session_scope(self.d.engine) as s:
            self.d.audit.record(s, AuditAction.AUDIT_CHECKPOINT, actor=actor)
            checkpoint = format_checkpoint(*head(s))
            channel = self.d.policy().audit_channel
            if channel:
                self.d.outbox.announce(s, [channel], f"Audit checkpoint `{checkpoint}` "
                                                     f"(verify with `kukey audit verify --checkpoint {checkpoint}`)")
        return checkpoint

    def last(self) -> Checkpoint | None:
        """The newest checkpoint taken (posted, or due to be), or None before the first."""
        with session_scope(self.d.engine) as s:
            event = latest(s, action=AuditAction.AUDIT_CHECKPOINT)
        return None if event is None else Checkpoint(event.seq, event.hash, event.at)

    def run(self, _: str) -> None:
        self.post()
        with session_scope(self.d.engine) as s:
            repos.schedule(s, kind=JobKind.AUDIT_CHECKPOINT, ref=GLOBAL, run_at=self._next())

    def _next(self) -> datetime:
        return self.d.clock.now() + timedelta(minutes=self.d.policy().checkpoint_minutes)
