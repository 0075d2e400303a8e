"""The last step of a rotation: delete the old key (right after the reveal, or after the grace period).

Runs as the `delete_old_key` job, so it survives restarts; a failure leaves the job to retry and the
thread says so."""

from __future__ import annotations

from sqlmodel import select

from bot.domain.actions import AuditAction
from bot.domain.requests import Kind, State
from bot.errors import KukeyError
from bot.services.deps import Deps, view
from bot.services.keys import KeyDeleter
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import Request


class OldKeyDeletion:
    def __init__(self, deps: Deps, deleter: KeyDeleter) -> None:
        self.d = deps
        self.deleter = deleter

    def run(self, api_key: str) -> None:
        with session_scope(self.d.engine) as s:
            row = s.exec(select(Request).where(Request.target_api_key == api_key, Request.kind == Kind.ROTATE.value,
                                               Request.state == State.REVEALED.value)).first()
            request_id = row.id if row else None
        result = self.deleter.delete(api_key, actor="kukey", request_id=request_id, why="rotation")
        if request_id is None:
            return
        with session_scope(self.d.engine) as s:
            if result.ok:
                repos.transition(s, request_id=request_id, src=State.REVEALED, dst=State.DONE)
                self.d.audit.record(s, AuditAction.ROTATE_DONE, actor="kukey", request_id=request_id, api_key=api_key)
            current = repos.get_request(s, request_id=request_id)
            assert current is not None
            if result.ok:
                self.d.outbox.event(s, "old_key_deleted", view(s, current))
            else:
                self.d.outbox.event(s, "old_key_delete_failed", view(s, current), error=result.error)
        if result.ok:
            return
        raise KukeyError(f"deleting old key {api_key} failed: {result.error}")
