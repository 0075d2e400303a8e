"""Thread pools whose threads run at the CPU priority of the thread that started the pool.

A ThreadPoolExecutor starts a thread when a task finds none idle, in the thread that submits the task, and
on Linux a thread keeps the nice value of the thread that started it. In `kukey worker` the commands' threads
run NICE lower (bot.cli.worker); a pool first fed by one of them keeps low-priority threads for good, and
then runs everything after at that priority: a kill switch's progress, a revoke's announcement, a job run
after an approval. Raising a thread's priority back needs CAP_SYS_NICE, which kukey's image does not have,
so the threads have to start right: `start_all` starts them all at once, in the calling thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import Executor

log = logging.getLogger("kukey.pools")
START_TIMEOUT = 30.0  # seconds; a thread that cannot start in that time is a broken machine


def start_all(pool: Executor, workers: int) -> None:
    """Start `workers` threads of `pool` now, from this thread: each of `workers` tasks waits until all of
    them (and this thread) are in, so that none finds another's thread idle and each takes a new one. Call
    it before anything else is submitted, with the pool's `max_workers`. If they are not all in within
    START_TIMEOUT (a thread of the pool was already busy), the pool works on as before: logged, not raised."""
    started = threading.Barrier(workers + 1, timeout=START_TIMEOUT)
    for _ in range(workers):
        pool.submit(_wait, started)
    _wait(started)
    if started.broken:
        log.warning("a thread pool's %d threads did not all start at once; it starts them as it needs them",
                    workers)


def _wait(barrier: threading.Barrier) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):  # timed out, or another party did: logged once
        barrier.wait()
