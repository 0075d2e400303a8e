"""kill -9 at each step; on restart kukey finishes or undoes what was in flight: no orphan key, nothing
stuck, the audit chain intact, the people involved told; on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.clock import SystemClock
from kukey_sandbox.world import APPROVALS, APPROVER, APPROVER2, INCIDENT, REQUESTER, RESPONDER, KukeyWorld, Story

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 bot"


@pytest.fixture
def crashy(tmp_path: Path, database_url: str) -> Iterator[Story]:
    """`kukey run` in a process of its own (real clock), on SQLite and on PostgreSQL, four people enrolled."""
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock(), database_url=database_url) as world:
        world.start_process()
        for user in (REQUESTER, APPROVER, APPROVER2, RESPONDER):
            world.enroll(user)
        yield Story(world)


def _keys(world: KukeyWorld) -> list[str]:
    return sorted(k["api_key"] for k in world.sandbox.keys("alpha-trading"))


def _verify_chain(world: KukeyWorld) -> None:
    env = {"PATH": "/usr/bin:/bin", **world.env()}
    result = subprocess.run([sys.executable, "-m", "bot", "audit", "verify"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_crash_after_approval(crashy: Story) -> None:
    """Killed right after the approval: on restart the approval still stands and the reveal works."""
    world = crashy.w
    post = crashy.request(CREATE)
    assert not crashy.approve(post, APPROVER).errors
    crashy.private(REQUESTER, "Reveal key")
    world.kill_process()
    world.start_process()
    key = crashy.reveal()
    assert _keys(world) == [key]
    _verify_chain(world)


def test_crash_between_create_and_reveal_reply(crashy: Story) -> None:
    """Killed after KuCoin created the key but before the secret was shown: on restart the key is
    deleted at KuCoin, the requester is told, and a new reveal delivers exactly one key."""
    world = crashy.w
    post = crashy.request(CREATE)
    assert not crashy.approve(post, APPROVER).errors
    crashy.private(REQUESTER, "Reveal key")
    world.sandbox.drop_next(path="/api/v1/sub/api-key", method="POST", commit=True, hang=30)
    world.driver.click(REQUESTER, "Reveal key")
    assert not world.submit(REQUESTER, {"code": world.code(REQUESTER)}).errors
    world.wait(lambda: len(_keys(world)) == 1, what="key committed at KuCoin")
    world.kill_process()
    world.sandbox.clear_faults()
    world.start_process()
    world.wait(lambda: _keys(world) == [], timeout=20, what="interrupted key deleted at KuCoin")
    crashy.private(REQUESTER, "interrupted")
    key = crashy.reveal()
    assert _keys(world) == [key]
    _verify_chain(world)


def test_crash_in_the_middle_of_a_rotate(crashy: Story) -> None:
    """Killed while deleting the old key of a rotation: on restart the job deletes it and the thread says so."""
    world = crashy.w
    old = crashy.create_key()
    post = crashy.request(f"rotate alpha-trading {old}")
    world.sandbox.drop_next(path="/api/v1/sub/api-key", method="DELETE", commit=False, hang=30)
    assert not crashy.approve(post, APPROVER2).errors
    new = crashy.reveal()
    world.wait(lambda: any(r.method == "DELETE" for r in list(world.sandbox.requests)), what="delete sent")
    world.kill_process()
    world.sandbox.clear_faults()
    world.start_process()
    world.wait(lambda: _keys(world) == [new], timeout=20, what="old key deleted after restart")
    crashy.in_thread(post, "Rotation done")
    _verify_chain(world)


def test_crash_during_incident_revoke(crashy: Story) -> None:
    """Killed in the middle of `revoke all`: on restart every key is gone and both channels are told."""
    world = crashy.w
    # (each person has three codes to use on a real clock: the current step and one either side)
    keys = [crashy.create_key(approver=APPROVER), crashy.create_key(approver=APPROVER2)]
    assert len(_keys(world)) == 2
    world.sandbox.set_latency(1.5, path="/api/v1/sub/api-key")
    world.driver.slash(RESPONDER, INCIDENT, "revoke alpha-trading all")
    assert not world.submit(RESPONDER, {"code": world.code(RESPONDER)}).errors
    world.wait(lambda: any(r.method == "DELETE" for r in list(world.sandbox.requests)), what="revoke started")
    world.kill_process()
    world.sandbox.clear_faults()
    world.start_process()
    world.wait(lambda: _keys(world) == [], timeout=20, what="all keys revoked after restart")
    for channel in (INCIDENT, APPROVALS):
        world.wait(lambda c=channel: any("Incident revoke" in m.content for m in world.fake.messages(c)),
                   what=f"announced in {channel}")
    assert keys
    _verify_chain(world)
