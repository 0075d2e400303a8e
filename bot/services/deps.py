"""What every workflow service is built from; assembled once by the composition root (bot.app)."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from bot.domain.clock import Clock
from bot.domain.keys import parse_permissions
from bot.domain.policy import Policy
from bot.domain.requests import Kind, State
from bot.security.crypto import SecretBox
from bot.services.enrollment import EnrollmentService
from bot.services.leases import Leases
from bot.services.outbox import Outbox
from bot.services.ports import Directory, Exchange, Notifier, RequestView
from bot.storage import repos
from bot.storage.audit import AuditLog
from bot.storage.tables import Request

log = logging.getLogger("kukey.services")


@dataclass
class Deps:
    engine: Engine
    audit: AuditLog
    box: SecretBox
    clock: Clock
    exchange: Exchange
    notifier: Notifier
    outbox: Outbox  # what people are told, owed in the transaction of the change (bot.services.outbox)
    directory: Directory
    policy: Callable[[], Policy]
    enrollment: EnrollmentService
    worker: Executor
    leases: Leases  # the claims this process holds, renewed by its heartbeat (a reveal holds one)
    jobs: Any = None  # the Scheduler (run_now); set by the composition root

    def later(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run slow work after the ack, on the worker pool; failures are logged, never lost silently."""

        context = contextvars.copy_context()  # the worker keeps the caller's request id for its logs

        def run() -> None:
            try:
                context.run(fn, *args, **kwargs)
            except Exception:  # the worker's last line of defence: log, the scheduler/recovery retries
                log.exception("background task failed", extra={"task": getattr(fn, "__name__", "?")})

        self.worker.submit(run)


def view(session: Any, row: Request, *, approvers: tuple[str, ...] | None = None) -> RequestView:
    """Snapshot a request row (with its approvers, read unless the caller has just read them) for rendering."""
    from bot.domain.timeutil import aware, maybe_aware

    if approvers is None:
        approvers = tuple(a.approver for a in repos.approvals_of(session, request_id=row.id))
    # an update waiting for approval shows what the key holds now beside what it would hold
    key = (repos.get_key(session, api_key=row.target_api_key or "")
           if row.kind == Kind.UPDATE and row.state == State.PENDING else None)
    return RequestView(
        id=row.id, kind=row.kind, state=row.state, requester=row.requester, sub_account=row.sub_account,
        permissions=parse_permissions(row.permissions),
        ips=tuple(i for i in row.ips.split(",") if i), expire_days=row.expire_days, reason=row.reason,
        approvals_needed=row.approvals_needed, approvers=approvers, created_at=aware(row.created_at),
        expires_at=aware(row.expires_at), incident=row.incident, target_api_key=row.target_api_key,
        revoke_all=row.revoke_all, grace_minutes=row.grace_minutes, new_api_key=row.new_api_key,
        granted_permissions=(parse_permissions(row.granted_permissions)
                             if row.granted_permissions is not None else None),
        origin_channel=row.origin_channel, channel=row.channel, thread_ts=row.thread_ts,
        reveal_deadline=maybe_aware(row.reveal_deadline), resolved_by=row.resolved_by,
        resolved_at=maybe_aware(row.resolved_at), resolution_note=row.resolution_note,
        key_permissions=parse_permissions(key.permissions) if key else None,
        key_ips=tuple(i for i in key.ips.split(",") if i) if key else None,
    )
