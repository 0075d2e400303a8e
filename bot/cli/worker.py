"""`kukey worker`: the work behind the acks, in a process of its own (started by `kukey run`).

`kukey run` starts it as its child (bot.ops.worker.WorkerProcess) and hands it, over a socket pair, every
lazy listener call its acks leave behind (bot.slack.handoff); `kukey run --no-worker` keeps that work in
one process. The worker is built like the serving process (same settings, policy, listeners) and also runs
the scheduler and an outbox dispatcher, which share the work with the serving process's through leases,
as replicas do. The commands' work runs at a lower CPU priority (`NICE`), so that on a busy machine the acks come first;
jobs (an incident revoke, the kill switch) at normal priority. (While the acks come in a burst, the
serving process holds the commands' frames until it is over: bot.ops.worker.Bursts.)

It says "done" for each frame once its work has run, and stops, finishing what it holds, when the serving
process asks it to or closes the link. It dies with the serving process (Linux: PR_SET_PDEATHSIG), so a
crash of the serving process takes its worker with it, as a crash of one process used to.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from bot import config

log = logging.getLogger("kukey.worker")
NICE = 10  # the commands' work: CPU priority below the serving process's (Linux weights: about 1 to 10)
THREADS = 16  # commands' frames run at once, as many as the serving process's worker pool
JOB_THREADS = 4  # jobs' frames (an incident revoke, the kill switch) run at once, at normal priority
_PR_SET_PDEATHSIG = 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("worker", help="run the work behind the acks (started by `kukey run`)")
    p.add_argument("--link-fd", type=int, required=True, help=argparse.SUPPRESS)
    p.add_argument("--parent", type=int, required=True, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _die_with(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the serving process, which stops us
    from bot.app import build
    from bot.logs import Redactor, configure_logging
    from bot.ops.metrics import RelayedMetrics
    from bot.ops.settle import settle

    settings = config.Settings.from_env(need=[config.KUCOIN, config.MASTER_KEY, config.POLICY])
    configure_logging(settings.log_level, redactor=Redactor.for_settings(settings))
    # the ops endpoints and the audit stream stay with the serving process
    link, lock = Connection(args.link_fd), threading.Lock()

    def say(message: dict[str, Any]) -> None:
        with lock, contextlib.suppress(OSError):  # OSError: the serving process is gone
            link.send_bytes(json.dumps(message).encode())

    kukey = build(dataclasses.replace(settings, metrics_port=None, audit_forward=""), process="worker",
                  metrics=RelayedMetrics(say))

    kukey.services.sub_accounts.watch(lambda names: say({"sub_accounts": names}))
    settle()  # start-up's objects out of the collector's scans before the first frame (bot.ops.settle)
    kukey.start_background()
    serve(link, kukey.run_handed, say)
    kukey.stop()
    return 0


class Line:
    """Frames waiting for a runner: urgent ones first, then in the order they came (serve() keeps jobs, the
    urgent frames, in a line of their own)."""

    _END = 2  # the rank of the item that ends a runner: after every frame

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, dict[str, Any]]] = queue.PriorityQueue()

    def put(self, number: int, frame: dict[str, Any]) -> None:
        self._queue.put((0 if frame.get("urgent") else 1, number, frame))

    def close(self, runners: int) -> None:
        """Each of `runners` runners ends once everything put before this has been taken."""
        for i in range(runners):
            self._queue.put((self._END, -i, {}))

    def take(self) -> tuple[int, dict[str, Any]] | None:
        """The next frame and its number; None: the line is closed, stop."""
        rank, number, frame = self._queue.get()
        return None if rank == self._END else (number, frame)


def serve(link: Connection, run_frame: Callable[[dict[str, Any]], None], say: Callable[[dict[str, Any]], None], *,
          threads: int = THREADS, job_threads: int = JOB_THREADS) -> None:
    """Run every frame that arrives on `link`, and `say` done for each, until told to stop or the link
    closes; then finish what arrived. Urgent frames (jobs: an incident revoke's deletes must not wait for
    the CPU) run on `job_threads` threads at this process's priority; the rest (commands' work) on
    `threads` threads at NICE, so that on a busy machine the serving process's acks come first."""
    lines = {True: Line(), False: Line()}

    def runner(line: Line, urgent: bool) -> None:
        _lower_priority(0 if urgent else NICE)
        while (taken := line.take()) is not None:
            number, frame = taken
            try:
                run_frame(frame)
            except Exception:  # the last line of defence; the listeners report their own failures
                log.exception("handed work failed")
            say({"done": number})

    pool = [threading.Thread(target=runner, args=(lines[urgent], urgent), daemon=True,
                             name=f"kukey-{'job' if urgent else 'handed'}-{i}")
            for urgent, count in ((True, job_threads), (False, threads)) for i in range(count)]
    for thread in pool:
        thread.start()
    while True:
        try:
            message = json.loads(link.recv_bytes())
        except (EOFError, OSError):
            break
        if message.get("stop"):
            break
        frame = message["frame"]
        lines[bool(frame.get("urgent"))].put(int(message["n"]), frame)
    lines[True].close(job_threads)
    lines[False].close(threads)
    for thread in pool:
        thread.join()


def _lower_priority(nice: int) -> None:
    """This thread's (Linux: a thread's own nice value; threads it starts inherit it) CPU priority, lowered
    by `nice`; elsewhere nothing (the call would renice the whole process)."""
    if nice and sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)


def _die_with(parent: int) -> None:
    """Be killed when the serving process dies, however it dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above ran
        os._exit(0)
