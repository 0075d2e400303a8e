"""`kukey worker` as a child of the serving process: started, fed, started again when it dies, and stopped.

The serving process acks Slack and hands the work behind each ack to its worker (bot.slack.handoff), so
the work never holds the GIL the acks need; the worker runs at a lower CPU priority (bot.cli.worker), so
on a busy machine the acks come first and the work catches up after.

Each frame gets a number and is kept here until the worker says it is done with it. When the worker dies,
a new one is started (after `restart_after`, so a crash loop stays slow) and is sent every frame not yet
done, in order: nothing acked is lost while this process lives. A frame the dead worker had finished but
not yet confirmed runs again; the work behind a command is safe to repeat (a request is made once per
trigger_id, bot.services.workflow). Frames go out from one sender thread, so an ack never waits for the
worker to read. While the acks come in a burst, the commands' frames are held here until it is over
(`Bursts`), and the sender is not woken for each: measured on a 2-CPU machine, any process busy on the
other CPU, even at the lowest priority, triples the acks' p99, so priority alone (the worker's) does not
keep the acks untouched by the work behind them. The link is a socket pair: multiprocessing.connection's
framing over inherited fds (the stdlib's, rather than a queue server or a broker, since both ends are on one
machine and die together).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("kukey.worker")
RESTART_AFTER = 1.0  # seconds before a dead worker is started again
STOP_TIMEOUT = 30.0  # seconds a stopping worker gets to finish what it holds before it is killed
QUIET = 0.02  # seconds: frames closer together than this are a burst of acks (people type far slower)
BURST_RATE, BURST_WINDOW = 20, 0.1  # or this many frames within this many seconds (200 a second)
BURST_CAP = 5.0  # seconds: the longest a command's frame waits for a burst to end
Arrival = tuple[float, bool]  # when a frame came (the clock of `Bursts`), and whether within a burst
_STOP = -1  # the sender's sentinel: tell the worker to finish and exit
_WAKE = 0  # the sender's wake-up: a burst's first frame was held, time its release (frame numbers start at 1)


class Bursts:
    """Whether this process is acking a burst (every create, rotate or revoke acked is a command's frame):
    frames less than `quiet` seconds apart, or at least `rate` frames in the last `window` seconds (a burst
    goes on through a pause of the acks shorter than that window). A command's frame that came alone goes to
    the worker at once; one that came within a burst waits until the burst is over (no frame for `quiet`
    seconds, and fewer than `rate` in the window), at most `cap` seconds, so that neither its hand-over nor
    its work takes CPU from the acks still coming (a burst of 2,000 creates is acked in ~2 s). People typing
    never make one: even 20 creates a second, each alone, go at once. Jobs are not counted and never wait
    (clicks are not handed over). `end()` (stopping) lets every waiting frame go."""

    def __init__(self, *, quiet: float = QUIET, rate: int = BURST_RATE, window: float = BURST_WINDOW,
                 cap: float = BURST_CAP, clock: Callable[[], float] = time.monotonic) -> None:
        self._quiet = quiet
        self._window = window
        self._cap = cap
        self._clock = clock
        self._recent: collections.deque[float] = collections.deque(maxlen=rate)  # the latest arrivals
        self._lock = threading.Lock()
        self._ended = threading.Event()

    def arrived(self) -> Arrival:
        """A frame came now: when, and whether within a burst."""
        with self._lock:
            now = self._clock()
            within = self._left(now) > 0
            self._recent.append(now)
        return now, within

    def _left(self, now: float) -> float:
        """Seconds until the burst seen at `now` is over, if nothing more comes (0: no burst)."""
        if not self._recent:
            return 0.0
        left = self._recent[-1] + self._quiet - now
        if len(self._recent) == self._recent.maxlen:
            left = max(left, self._recent[0] + self._window - now)
        return max(0.0, left)

    def delay(self, arrival: Arrival) -> float:
        """Seconds a command's frame that came at `arrival` still waits (0: run it)."""
        came, within = arrival
        if not within or self._ended.is_set():
            return 0.0
        now = self._clock()
        with self._lock:
            left = self._left(now)
        return max(0.0, min(left, came + self._cap - now))

    def end(self) -> None:
        self._ended.set()


class WorkerProcess:
    """The child running `command` (plus `--link-fd N` and `--parent PID`), and the frames it owes."""

    def __init__(self, command: Sequence[str], *, restart_after: float = RESTART_AFTER,
                 env: Mapping[str, str] | None = None, bursts: Bursts | None = None) -> None:
        self._command = list(command)
        self._env = dict(env) if env is not None else None  # None: this process's environment
        self._restart_after = restart_after
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._outgoing: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._pending: dict[int, bytes] = {}  # frame number -> encoded frame, until the worker is done with it
        self._sent: dict[int, int] = {}  # frame number -> the generation (worker) it was sent to
        self._bursts = bursts or Bursts()
        self._held: collections.deque[tuple[int, Arrival]] = collections.deque()  # commands' frames of a burst
        self._next = 0
        self._generation = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._link: Connection | None = None
        self._threads: list[threading.Thread] = []
        self._reader: threading.Thread | None = None  # the current worker's messages (_read_loop)
        self._listener: Callable[[dict[str, Any]], None] | None = None
        self.starts = 0  # workers started (restarts: starts - 1)

    def start(self) -> WorkerProcess:
        self._spawn()
        for target, name in ((self._send_loop, "kukey-worker-send"), (self._watch, "kukey-worker-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def send(self, frame: dict[str, Any]) -> None:
        """Queue one frame for the worker; returns at once. A command's frame that came within a burst of
        acks is held here until the burst is over (`Bursts`), without waking the sender thread for it."""
        data = json.dumps(frame, separators=(",", ":")).encode()
        with self._lock:
            self._next += 1
            number = self._next
            self._pending[number] = data
            if not frame.get("urgent") and (arrival := self._bursts.arrived())[1]:
                self._held.append((number, arrival))
                if len(self._held) > 1:
                    return  # the sender already waits for the burst to end
                number = _WAKE
        self._outgoing.put(number)

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call `listener` with every message from the worker other than "done"."""
        self._listener = listener

    def owed(self) -> int:
        """Frames handed over that the worker has not finished."""
        with self._lock:
            return len(self._pending)

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        """Readiness check "worker": the worker process runs."""
        with self._lock:
            return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Send what is queued or held, let the worker finish it, and start no other."""
        self._stopping.set()
        self._bursts.end()
        self._outgoing.put(_STOP)
        with self._lock:
            proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.error("worker did not stop in time; killed", extra={"owed": self.owed()})
                proc.kill()
                proc.wait()
        for thread in self._threads:
            thread.join(timeout=10)
        with self._lock:
            reader = self._reader
        if reader is not None:  # what the worker said before it exited (its last "done"s) is read to the end
            reader.join(timeout=10)
        with self._lock:
            if self._link is not None:
                self._link.close()
            left = len(self._pending)
        if left:
            log.error("worker stopped with work not done", extra={"owed": left})

    def _spawn(self) -> None:
        mine, theirs = socket.socketpair()
        argv = [*self._command, "--link-fd", str(theirs.fileno()), "--parent", str(os.getpid())]
        proc = subprocess.Popen(argv, pass_fds=(theirs.fileno(),), start_new_session=True,  # noqa: S603 # ours
                                env=self._env)
        theirs.close()
        link = Connection(mine.detach())
        with self._lock:
            old, self._link, self._proc = self._link, link, proc
            self._generation += 1
            self.starts += 1
            again = sorted(self._pending)
        if old is not None:
            old.close()
        reader = threading.Thread(target=self._read_loop, args=(link,), name="kukey-worker-read", daemon=True)
        reader.start()
        with self._lock:
            self._reader = reader
        for number in again:  # what the last worker did not finish, in order
            self._outgoing.put(number)

    def _send_loop(self) -> None:
        wait: float | None = None  # until the oldest held frame may go (None: none is held)
        while True:
            try:
                number = self._outgoing.get(timeout=wait)
            except queue.Empty:
                number = _WAKE
            due, wait = self._release()
            for held in due:  # older than `number`, which is urgent if they are not due
                self._send_one(held)
            if number == _STOP:
                break
            if number != _WAKE:
                self._send_one(number)
        with self._lock:
            link = self._link
        if link is not None:
            with contextlib.suppress(OSError):  # the worker is gone already
                link.send_bytes(b'{"stop":true}')

    def _release(self) -> tuple[list[int], float | None]:
        """The held frames that may go now, in the order they came, and the seconds until the oldest still
        held may (None: none is; a frame held later wakes the sender itself)."""
        due = []
        with self._lock:
            while self._held and (wait := self._bursts.delay(self._held[0][1])) == 0:
                due.append(self._held.popleft()[0])
            return due, wait if self._held else None

    def _send_one(self, number: int) -> None:
        with self._lock:
            data, link, generation = self._pending.get(number), self._link, self._generation
            if data is None or self._sent.get(number) == generation:
                return  # done already, or this worker has it
            self._sent[number] = generation
        try:
            assert link is not None
            link.send_bytes(b'{"n":%d,"frame":%b}' % (number, data))
        except OSError:  # the worker died; _watch starts another and sends it what is owed
            return

    def _read_loop(self, link: Connection) -> None:
        while True:
            try:
                message = json.loads(link.recv_bytes())
            except (EOFError, OSError, ValueError):
                return
            if "done" not in message:
                if self._listener is not None:
                    self._listener(message)
                continue
            with self._lock:
                self._pending.pop(message["done"], None)
                self._sent.pop(message["done"], None)

    def _watch(self) -> None:
        while True:
            with self._lock:
                proc = self._proc
            assert proc is not None
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.error("worker process exited; starting another", extra={"exit_code": code, "owed": self.owed()})
            if self._stopping.wait(self._restart_after):
                return
            self._spawn()


def worker_command() -> list[str]:
    """`kukey worker` with this interpreter."""
    return [sys.executable, "-m", "bot", "worker"]
