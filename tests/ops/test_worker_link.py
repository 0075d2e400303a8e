"""The link to the worker (bot.ops.worker.WorkerProcess) on a real socket pair to a tiny child that reads it
the way `kukey worker` does (Connection.recv_bytes): send() writes a frame itself when it can, never waits
for a worker that does not read, and a worker that dies mid-frame leaves every unfinished frame, whole, to
the next one."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.ops.worker import SEND_BUFFER, WorkerProcess

# The worker's side of the link: it answers each frame with its number, its pid and a hash of the frame it
# read (so a torn or mixed-up frame shows), then says done; "stop" or a closed link ends it.
_CHILD = """
import hashlib, json, os, sys
from multiprocessing.connection import Connection
link = Connection(int(sys.argv[sys.argv.index("--link-fd") + 1]))
while True:
    try:
        message = json.loads(link.recv_bytes())
    except EOFError:
        break
    if message.get("stop"):
        break
    body = json.dumps(message["frame"], separators=(",", ":")).encode()
    sha = hashlib.sha256(body).hexdigest()
    link.send_bytes(json.dumps({"got": message["n"], "pid": os.getpid(), "sha": sha}).encode())
    link.send_bytes(json.dumps({"done": message["n"]}).encode())
"""


class Link:
    """A started WorkerProcess running _CHILD, and the answers its children sent back."""

    def __init__(self) -> None:
        self.worker = WorkerProcess([sys.executable, "-c", _CHILD], restart_after=0.05)
        self.answers: list[dict[str, Any]] = []
        self._heard = threading.Condition()
        self.worker.listen(self._hear)
        self.worker.start()

    def _hear(self, message: dict[str, Any]) -> None:
        with self._heard:
            self.answers.append(message)
            self._heard.notify_all()

    def wait_all_done(self, frames: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The answers, once `frames` have been answered and the worker owes nothing."""
        with self._heard:
            assert self._heard.wait_for(lambda: len(self.answers) >= frames, timeout), self.answers[-3:]
        _wait(lambda: self.worker.owed() == 0, timeout, "the worker done with every frame")
        return self.answers


@pytest.fixture
def link() -> Iterator[Link]:
    opened = Link()
    try:
        yield opened
    finally:
        opened.worker.stop(timeout=10)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _freeze(pid: int) -> None:
    """SIGSTOP `pid` and return once it is stopped."""
    os.kill(pid, signal.SIGSTOP)
    stat = Path(f"/proc/{pid}/stat")
    _wait(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", 10, f"process {pid} stopped")


def _frame(tag: int, size: int) -> dict[str, Any]:
    return {"tag": tag, "pad": "x" * size}


def _sha(frame: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(frame, separators=(",", ":")).encode()).hexdigest()


def test_send_writes_each_frame_itself_and_the_worker_reads_them_whole_and_in_order(link: Link) -> None:
    """With nothing queued and room on the link, send() writes every frame from the calling thread (none is
    left to the sender thread), and the worker reads each one whole, in the order sent."""
    frames = [_frame(i, 10 * i) for i in range(1, 101)]
    for frame in frames:
        link.worker.send(frame)
    assert (link.worker.direct, link.worker.split) == (len(frames), 0)
    answers = link.wait_all_done(len(frames))
    assert [(a["got"], a["sha"]) for a in answers] == [(i, _sha(f)) for i, f in enumerate(frames, start=1)]


def test_send_never_waits_for_a_worker_that_does_not_read_and_it_gets_everything_once_it_reads(
        link: Link) -> None:
    """With the worker stopped (SIGSTOP), send() of far more than the link holds returns at once every time
    (part written directly, the rest left to the sender thread); once the worker runs again it reads every
    frame whole, in order, none twice."""
    pid = link.worker.pid
    assert pid is not None
    _freeze(pid)
    # 4 times what the link holds at most (Linux gives it twice the SEND_BUFFER asked, or less)
    frames = [_frame(i, 64 << 10) for i in range(1, 8 * SEND_BUFFER // (64 << 10) + 1)]
    try:
        slowest = 0.0
        for frame in frames:
            began = time.perf_counter()
            link.worker.send(frame)
            slowest = max(slowest, time.perf_counter() - began)
        assert slowest < 0.1  # a send() that waited for the worker would hang here until SIGCONT
        assert 0 < link.worker.direct + link.worker.split < len(frames)
    finally:
        os.kill(pid, signal.SIGCONT)
    answers = link.wait_all_done(len(frames))
    assert [(a["got"], a["sha"]) for a in answers] == [(i, _sha(f)) for i, f in enumerate(frames, start=1)]


def test_a_worker_killed_with_a_frame_half_written_leaves_every_unfinished_frame_whole_to_the_next(
        link: Link) -> None:
    """A frame larger than the link's buffer, sent to a stopped worker, is begun by send() and its rest left
    to the sender thread; after kill -9 of that worker the next one reads every frame, whole and in order,
    and nothing of the half-written one's rest."""
    first = link.worker.pid
    assert first is not None
    _freeze(first)
    frames = [_frame(i, 4 * SEND_BUFFER) for i in range(1, 4)]  # each twice what the link holds at most
    for frame in frames:
        link.worker.send(frame)
    assert (link.worker.direct, link.worker.split) == (0, 1)  # the first begun here, the others queued
    os.kill(first, signal.SIGKILL)
    answers = link.wait_all_done(len(frames))
    second = link.worker.pid
    assert link.worker.starts == 2 and second != first
    assert [(a["got"], a["pid"], a["sha"]) for a in answers] == [
        (i, second, _sha(f)) for i, f in enumerate(frames, start=1)]
