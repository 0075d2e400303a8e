"""Repository functions for workflow state. Keyword-only, each takes the caller's session.

State changes are compare-and-set: `UPDATE request SET state=:dst ... WHERE id=:id AND state=:src`;
the row count says whether this caller won. With BEGIN IMMEDIATE transactions (bot.storage.db) this
holds across threads and across processes sharing one database file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.domain.requests import State
from bot.storage.tables import Approval, Job, KeyRecord, Request, Seen


def get_request(session: Session, *, request_id: str) -> Request | None:
    return session.get(Request, request_id)


def find_by_dedupe(session: Session, *, dedupe_key: str) -> Request | None:
    return session.exec(select(Request).where(Request.dedupe_key == dedupe_key)).first()


def transition(session: Session, *, request_id: str, src: State | Iterable[State], dst: State,
               **values: Any) -> bool:
    """Move a request from `src` (one state or any of several) to `dst`; False if someone else moved it."""
    sources = [src] if isinstance(src, State) else list(src)
    stmt = (
        update(Request)
        .where(col(Request.id) == request_id, col(Request.state).in_([s.value for s in sources]))
        .values(state=dst.value, version=Request.version + 1, **values)
    )
    result = session.execute(stmt)
    session.flush()
    changed = bool(result.rowcount == 1)  # type: ignore[attr-defined]
    if changed:
        row = session.get(Request, request_id)
        if row is not None:
            session.refresh(row)
    return changed


def requests_in(session: Session, *, states: Sequence[State], requester: str | None = None,
                limit: int = 50) -> list[Request]:
    stmt = select(Request).where(col(Request.state).in_([s.value for s in states]))
    if requester:
        stmt = stmt.where(Request.requester == requester)
    return list(session.exec(stmt.order_by(col(Request.created_at).desc()).limit(limit)))


def approvals_of(session: Session, *, request_id: str) -> list[Approval]:
    return list(session.exec(select(Approval).where(Approval.request_id == request_id)
                             .order_by(col(Approval.id))))


def count_approvals(session: Session, *, request_id: str) -> int:
    return int(session.exec(select(func.count()).select_from(Approval)
                            .where(Approval.request_id == request_id)).one())


def add_approval(session: Session, *, request_id: str, approver: str, step: int, at: datetime) -> bool:
    """False when this approver already approved (unique request_id + approver)."""
    try:
        with session.begin_nested():
            session.add(Approval(request_id=request_id, approver=approver, totp_step=step, approved_at=at))
    except IntegrityError:
        return False
    return True


def get_key(session: Session, *, api_key: str) -> KeyRecord | None:
    return session.get(KeyRecord, api_key)


def keys_of(session: Session, *, sub_account: str | None = None,
            states: Sequence[str] = ("active",)) -> list[KeyRecord]:
    stmt = select(KeyRecord).where(col(KeyRecord.state).in_(list(states)))
    if sub_account:
        stmt = stmt.where(KeyRecord.sub_account == sub_account)
    return list(session.exec(stmt.order_by(col(KeyRecord.created_at))))


def key_transition(session: Session, *, api_key: str, src: Sequence[str], dst: str, **values: Any) -> bool:
    stmt = (
        update(KeyRecord)
        .where(col(KeyRecord.api_key) == api_key, col(KeyRecord.state).in_(list(src)))
        .values(state=dst, version=KeyRecord.version + 1, **values)
    )
    changed = bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]
    session.flush()
    return changed


def mark_seen(session: Session, *, key: str, at: datetime) -> bool:
    """True the first time `key` is seen; False for a duplicate delivery."""
    try:
        with session.begin_nested():
            session.add(Seen(key=key, at=at))
    except IntegrityError:
        return False
    return True


# --- jobs -----------------------------------------------------------------------------------------

def schedule(session: Session, *, kind: str, ref: str, run_at: datetime) -> None:
    """Schedule (or re-schedule) the one job of `kind` about `ref`."""
    job = session.exec(select(Job).where(Job.kind == kind, Job.ref == ref)).first()
    if job is None:
        session.add(Job(kind=kind, ref=ref, run_at=run_at))
    else:
        job.run_at, job.state, job.lease_until, job.attempts = run_at, "pending", None, 0
        session.add(job)
    session.flush()


def cancel_job(session: Session, *, kind: str, ref: str) -> None:
    session.execute(update(Job).where(col(Job.kind) == kind, col(Job.ref) == ref,
                                      col(Job.state) == "pending").values(state="done"))


def claim_due(session: Session, *, now: datetime, lease_until: datetime, limit: int = 20) -> list[Job]:
    """Claim due jobs (pending, or running with an expired lease after a crash) with CAS."""
    candidates = session.exec(
        select(Job).where(
            ((col(Job.state) == "pending") & (col(Job.run_at) <= now))
            | ((col(Job.state) == "running") & (col(Job.lease_until) <= now))
        ).order_by(col(Job.run_at)).limit(limit)
    ).all()
    claimed: list[Job] = []
    for job in candidates:
        stmt = (update(Job).where(col(Job.id) == job.id, col(Job.state) == job.state,
                                  col(Job.attempts) == job.attempts)
                .values(state="running", lease_until=lease_until, attempts=job.attempts + 1))
        if session.execute(stmt).rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(job)
            claimed.append(job)
    return claimed


def claim_one(session: Session, *, kind: str, ref: str, now: datetime, lease_until: datetime) -> int | None:
    """Claim the pending job of `kind` about `ref` right now (for work started right after an ack)."""
    job = session.exec(select(Job).where(Job.kind == kind, Job.ref == ref, Job.state == "pending")).first()
    if job is None:
        return None
    stmt = (update(Job).where(col(Job.id) == job.id, col(Job.state) == "pending")
            .values(state="running", lease_until=lease_until, attempts=job.attempts + 1))
    return job.id if session.execute(stmt).rowcount == 1 else None  # type: ignore[attr-defined]


def finish_job(session: Session, *, job_id: int, retry_at: datetime | None = None, error: str = "") -> None:
    values: dict[str, Any] = {"lease_until": None, "last_error": error[:500]}
    if retry_at is None:
        values["state"] = "done"
    else:
        values.update(state="pending", run_at=retry_at)
    session.execute(update(Job).where(col(Job.id) == job_id).values(**values))


def pending_jobs(session: Session) -> list[Job]:
    return list(session.exec(select(Job).where(col(Job.state).in_(["pending", "running"]))
                             .order_by(col(Job.run_at))))
