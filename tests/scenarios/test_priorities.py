"""kukey's thread pools run at the priority of the thread that started them (bot.services.pools), whichever
thread hands them work: in `kukey worker` the commands' threads run NICE lower, and a pool they fed first
used to keep low-priority threads for good, for the jobs' messages and work too."""

from __future__ import annotations

import os
import threading

from bot.app import WORKERS
from bot.storage.db import session_scope
from kukey_sandbox.world import APPROVALS, KukeyWorld

LOWER = 5  # how much lower than the test's own priority the handing thread runs


def _from_a_lower_priority(work: object) -> None:
    """Run `work` (a callable) in a new thread whose CPU priority is LOWER below this one's, and wait for it."""
    def lowered() -> None:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + LOWER, 19))
        work()  # type: ignore[operator]

    thread = threading.Thread(target=lowered)
    thread.start()
    thread.join()


def test_deliveries_run_at_the_dispatchers_priority_whoever_owes_them(world: KukeyWorld) -> None:
    """Messages owed by transactions committed in a thread at a lower priority are delivered by the
    dispatcher's threads, all at the priority it started at (a kill switch's progress, a revoke's
    announcement never wait behind the acks)."""
    assert world.bot is not None
    deps, base = world.bot.services.deps, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def owe() -> None:
        with session_scope(deps.engine) as s:
            deps.outbox.announce(s, [APPROVALS], "owed from a lower priority")

    for _ in range(3):
        _from_a_lower_priority(owe)
    world.wait(lambda: sum("owed from a lower priority" in m.content for m in world.fake.messages(APPROVALS)) == 3,
               what="the three announcements delivered")
    pool = [t for t in threading.enumerate() if t.name.startswith("kukey-outbox_")]
    assert pool and {os.getpriority(os.PRIO_PROCESS, t.native_id or 0) for t in pool} == {base}


def test_work_after_the_ack_runs_at_the_pools_priority_whoever_hands_it_over(world: KukeyWorld) -> None:
    """Work handed to the worker pool (`Deps.later`: a job run after an approval, Home tabs) from a thread at a
    lower priority runs at the priority the pool started at, on every one of its threads at once."""
    assert world.bot is not None
    deps, base = world.bot.services.deps, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    together = threading.Barrier(WORKERS, timeout=10)  # each task holds its thread until all are running
    seen: list[int] = []
    lock = threading.Lock()

    def task() -> None:
        together.wait()
        with lock:
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    _from_a_lower_priority(lambda: [deps.later(task) for _ in range(WORKERS)])
    world.wait(lambda: len(seen) == WORKERS, what="every task ran")
    assert set(seen) == {base}
