"""Periodic jobs are made once, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.domain.jobs import JobKind, JobState
from bot.storage import repos
from bot.storage.db import session_scope
from bot.storage.tables import Job

AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_schedule_once_says_whether_it_made_or_revived_the_job(engine: Engine) -> None:
    """The first call makes the job (True), a second finds it there (False), and one after the job is done
    makes it pending again (True): on PostgreSQL too, where an insert's row count is not reported."""
    with session_scope(engine) as s:
        assert repos.schedule_once(s, kind=JobKind.RECONCILE, ref="global", run_at=AT) is True
    with session_scope(engine) as s:
        assert repos.schedule_once(s, kind=JobKind.RECONCILE, ref="global", run_at=AT + timedelta(hours=1)) is False
    with session_scope(engine) as s:
        repos.cancel_job(s, kind=JobKind.RECONCILE, ref="global")
    with session_scope(engine) as s:
        assert repos.schedule_once(s, kind=JobKind.RECONCILE, ref="global", run_at=AT) is True
    with session_scope(engine) as s:
        job = s.exec(select(Job).where(Job.kind == JobKind.RECONCILE, Job.ref == "global")).one()
        assert job.state == JobState.PENDING.value
