"""Periodic jobs (audit checkpoints, reconciliation) with several replicas starting at the same moment:
one job of each kind, and one run per period across all of them, on SQLite and on PostgreSQL. The
replicas are in-process kukeys on one database and one FakeClock, so that the periods can be stepped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from bot.app import Kukey, build
from bot.config import Settings
from bot.domain.actions import AuditAction
from bot.domain.clock import FakeClock
from bot.domain.jobs import JobKind
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Job
from kukey_sandbox.world import AUDIT, KukeyWorld
from tests.replicas.conftest import at_once, audit_actions

REPLICAS = 3
PERIODS = 3
HOUR = timedelta(hours=1)  # the policy's default checkpoint_minutes, and reconciliation's period


@pytest.fixture
def replicas(tmp_path: Path, database_url: str) -> Iterator[tuple[KukeyWorld, list[Kukey]]]:
    engine = make_engine(database_url)
    init_db(engine)
    engine.dispose()
    with KukeyWorld(home=tmp_path, run_bot=False, clock=FakeClock(), database_url=database_url) as world:
        settings = Settings.from_env(world.env(), need=["kucoin", "master_key", "policy", "slack_http"])
        bots = at_once([lambda: build(settings, clock=world.clock, scheduler_interval=0.05)] * REPLICAS)
        for bot in bots:
            bot.dispatcher.start()  # the checkpoints reach the audit channel through the outbox
        try:
            yield world, bots
        finally:
            for bot in bots:
                bot.stop()


def _checkpoints(world: KukeyWorld) -> list[object]:
    return [m for m in world.fake.messages(AUDIT) if "Audit checkpoint" in m.content]


def _jobs(world: KukeyWorld) -> dict[str, int]:
    engine = make_engine(world.database_url)
    try:
        with session_scope(engine) as s:
            return dict(s.exec(select(Job.kind, func.count()).group_by(Job.kind)).all())  # type: ignore[arg-type]
    finally:
        engine.dispose()


def test_replicas_starting_at_once_schedule_and_run_each_periodic_job_once(
        replicas: tuple[KukeyWorld, list[Kukey]]) -> None:
    """Three replicas making sure of their periodic jobs at the same moment leave one job of each kind;
    each period, all three ticking at once post one checkpoint and reconcile once."""
    world, bots = replicas
    at_once([lambda b=bot: (b.services.checkpoints.ensure_scheduled(), b.services.reconciler.ensure_scheduled())
             for bot in bots])
    assert _jobs(world) == {JobKind.AUDIT_CHECKPOINT: 1, JobKind.RECONCILE: 1}
    for period in range(1, PERIODS + 1):
        world.advance(HOUR.total_seconds())
        at_once([bot.services.scheduler.tick for bot in bots])
        actions = audit_actions(world)
        assert actions.count(AuditAction.AUDIT_CHECKPOINT) == period
        assert actions.count(AuditAction.RECONCILE_FINISHED) == period
        world.wait(lambda p=period: len(_checkpoints(world)) >= p, what=f"checkpoint {period} posted")
        assert len(_checkpoints(world)) == period
    assert _jobs(world) == {JobKind.AUDIT_CHECKPOINT: 1, JobKind.RECONCILE: 1}


def test_replicas_send_one_weekly_digest_a_week(replicas: tuple[KukeyWorld, list[Kukey]]) -> None:
    """Three replicas making sure of the weekly digest and reminder jobs at once leave one job of each; each
    week, all three ticking at once send the admins one digest."""
    world, bots = replicas
    at_once([lambda b=bot: (b.services.digest.ensure_scheduled(), b.services.reminders.ensure_scheduled())
             for bot in bots])
    assert _jobs(world) == {JobKind.WEEKLY_DIGEST: 1, JobKind.KEY_REMINDERS: 1}
    for week in range(1, PERIODS + 1):
        world.advance(timedelta(days=7).total_seconds())
        at_once([bot.services.scheduler.tick for bot in bots])
        assert audit_actions(world).count(AuditAction.DIGEST_SENT) == week
    assert _jobs(world) == {JobKind.WEEKLY_DIGEST: 1, JobKind.KEY_REMINDERS: 1}
