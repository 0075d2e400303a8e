"""Three `kukey run` processes (real processes, real clock, default settings) on one PostgreSQL database,
behind a round-robin load balancer (HTTP mode); the people of the stories plus more approvers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.domain.clock import SystemClock
from bot.storage import audit_read
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Request
from kukey_sandbox.kucoin.state import default_seed
from kukey_sandbox.world import APPROVALS, APPROVER_GROUP, INCIDENT, TRADING, KukeyWorld, default_policy

REPLICAS = 3
SUB = "alpha-trading"
KEYS = "/api/v1/sub/api-key"  # KuCoin's create (POST), list (GET) and delete (DELETE) of sub-account keys
FAILOVER_S = 15.0  # the bound: a survivor finishes or undoes a dead replica's work within this


@pytest.fixture
def world(tmp_path: Path, pg_url: str) -> Iterator[KukeyWorld]:
    """The KuCoin sandbox (up to 20 keys per sub-account) and the Slack fake; the schema made first, as
    `kukey db upgrade` does before a deployment's replicas start. The test starts the replicas."""
    engine = make_engine(pg_url)
    init_db(engine)
    engine.dispose()
    seed = default_seed()
    seed.setdefault("settings", {})["max_keys_per_sub_account"] = 20
    policy = default_policy(max_keys=20, approvals=2, require_requester_totp=False)
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock(), database_url=pg_url, policy_text=policy,
                    sandbox_kwargs={"seed": seed}) as world:
        yield world


def add_approvers(world: KukeyWorld, count: int) -> list[str]:
    """`count` more approvers (in the approver group, #trading, #kukey-approvals and #incident)."""
    users = [f"U0APR{i:05d}" for i in range(count)]
    for user in users:
        world.fake.add_user(user, user.lower())
        for channel in (TRADING, APPROVALS, INCIDENT):
            world.fake.join(channel, user)
    with world.fake.world.transaction() as w:
        w.usergroups[APPROVER_GROUP].users.extend(users)
    return users


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call at the same time (a thread each); their results in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def keys_at_kucoin(world: KukeyWorld, sub: str = SUB) -> set[str]:
    return {k["api_key"] for k in world.sandbox.keys(sub)}


def audit_actions(world: KukeyWorld, request_id: str | None = None) -> list[str]:
    engine = make_engine(world.database_url)
    try:
        with session_scope(engine) as s:
            return [e.action for e in audit_read.events(s) if request_id is None or e.request_id == request_id]
    finally:
        engine.dispose()


def request_state(world: KukeyWorld, request_id: str) -> str:
    engine = make_engine(world.database_url)
    try:
        with session_scope(engine) as s:
            return s.exec(select(Request.state).where(Request.id == request_id)).one()
    finally:
        engine.dispose()


def verify_chain(world: KukeyWorld) -> None:
    """`kukey audit verify` passes on the database every replica wrote."""
    env = {"PATH": "/usr/bin:/bin", **world.env()}
    done = subprocess.run([sys.executable, "-m", "bot", "audit", "verify"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
