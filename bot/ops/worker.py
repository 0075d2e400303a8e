"""`kukey worker` as a child of the serving process: started, fed, started again when it dies, and stopped.

The serving process acks Slack and hands the work behind each ack to its worker (bot.slack.handoff), so
the work never holds the GIL the acks need; the worker runs at a lower CPU priority (bot.cli.worker), so
on a busy machine the acks come first and the work catches up after.

Each frame gets a number and is kept here until the worker says it is done with it. When the worker dies,
a new one is started (after `restart_after`, so a crash loop stays slow) and is sent every frame not yet
done, in order: nothing acked is lost while this process lives. A frame the dead worker had finished but
not yet confirmed runs again; the work behind a command is safe to repeat (a request is made once per
trigger_id, bot.services.workflow). The thread that sends a frame writes it itself when nothing is queued
ahead of it and the link takes it without blocking (no thread wake-up on the ack's path); otherwise, and for
the part of a frame the link did not take, one sender thread writes it, so an ack never waits for the worker
to read. The link is a socket pair carrying multiprocessing.connection's framing (a 4-byte big-endian length,
then the bytes; the worker reads it with Connection.recv_bytes) over inherited fds (the stdlib's, rather than
a queue server or a broker, since both ends are on one machine and die together). Frames are written with
the socket's own calls, since Connection has no write that cannot block.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("kukey.worker")
RESTART_AFTER = 1.0  # seconds before a dead worker is started again
STOP_TIMEOUT = 30.0  # seconds a stopping worker gets to finish what it holds before it is killed
_STOP = -1  # the sender's sentinel: tell the worker to finish and exit
_REST = 0  # the sender's sentinel: write the rest of the frame send() began (frame numbers start at 1)
# bytes asked for the link's send buffer, so that bursts rarely leave frames to the sender thread; Linux caps
# the request at net.core.wmem_max and doubles it: 2 MiB where wmem_max allows, 416 KiB on a stock kernel
# (twice its default); a command's frame is 1-2 KB, so that is over a thousand frames, or some two hundred
SEND_BUFFER = 1 << 20


class WorkerProcess:
    """The child running `command` (plus `--link-fd N` and `--parent PID`), and the frames it owes."""

    def __init__(self, command: Sequence[str], *, restart_after: float = RESTART_AFTER,
                 env: Mapping[str, str] | None = None) -> None:
        self._command = list(command)
        self._env = dict(env) if env is not None else None  # None: this process's environment
        self._restart_after = restart_after
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._outgoing: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()  # (number, generation)
        self._behind = 0  # entries on _outgoing the sender thread has not finished; send() writes only at 0
        self._rest: memoryview | None = None  # what the link did not take of the frame send() began
        self._pending: dict[int, bytes] = {}  # frame number -> encoded frame, until the worker is done with it
        self._sent: dict[int, int] = {}  # frame number -> the generation (worker) it was sent to
        self._next = 0
        self._generation = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._link: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._listener: Callable[[dict[str, Any]], None] | None = None
        self.starts = 0  # workers started (restarts: starts - 1)
        self.direct = 0  # frames send() wrote whole itself
        self.split = 0  # frames send() began and the sender thread finished (the link was full)

    def start(self) -> WorkerProcess:
        self._spawn()
        for target, name in ((self._send_loop, "kukey-worker-send"), (self._watch, "kukey-worker-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def send(self, frame: dict[str, Any]) -> None:
        """Hand one frame to the worker; returns at once, never waiting for the worker to read."""
        data = json.dumps(frame, separators=(",", ":")).encode()
        with self._lock:
            self._next += 1
            number = self._next
            self._pending[number] = data
            if self._behind or self._link is None or not self._write_now(number, self._link):
                self._queue(number)

    def _write_now(self, number: int, link: socket.socket) -> bool:
        """Write frame `number` from this thread without blocking (under the lock, with nothing queued);
        False: the link took none of it. The part of it not taken is left to the sender thread, next."""
        wire = _frame_wire(number, self._pending[number])
        try:
            written = link.send(wire, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:  # the worker died; _watch starts another and sends it what is owed
            self._sent[number] = self._generation
            return True
        self._sent[number] = self._generation
        if written < len(wire):
            self.split += 1
            self._rest = memoryview(wire)[written:]
            self._queue(_REST)
        else:
            self.direct += 1
        return True

    def _queue(self, number: int) -> None:
        """Leave `number` (or a sentinel) to the sender thread, for the current worker (under the lock)."""
        self._behind += 1
        self._outgoing.put((number, self._generation))

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
        """Send what is queued, let the worker finish it, and start no other."""
        self._stopping.set()
        with self._lock:
            self._queue(_STOP)
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
            if self._link is not None:
                self._link.close()
            left = len(self._pending)
        if left:
            log.error("worker stopped with work not done", extra={"owed": left})

    def _spawn(self) -> None:
        mine, theirs = socket.socketpair()
        mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        mine.settimeout(None)  # blocking whatever socket.setdefaulttimeout says; send() asks not to wait itself
        argv = [*self._command, "--link-fd", str(theirs.fileno()), "--parent", str(os.getpid())]
        proc = subprocess.Popen(argv, pass_fds=(theirs.fileno(),), start_new_session=True,  # noqa: S603 # ours
                                env=self._env)
        theirs.close()
        replies = Connection(os.dup(mine.fileno()))  # the worker's messages, in the stdlib's framing
        with self._lock:
            old, self._link, self._proc = self._link, mine, proc
            self._generation += 1
            self.starts += 1
            for number in sorted(self._pending):  # what the last worker did not finish, in order, first
                self._queue(number)
        if old is not None:
            old.close()
        threading.Thread(target=self._read_loop, args=(replies,), name="kukey-worker-read", daemon=True).start()

    def _send_loop(self) -> None:
        while (entry := self._outgoing.get())[0] != _STOP:
            try:
                self._write_queued(*entry)
            finally:
                with self._lock:
                    self._behind -= 1
        with self._lock:
            link = self._link
        if link is not None:
            with contextlib.suppress(OSError):  # the worker is gone already
                link.sendall(_wire(b'{"stop":true}'))

    def _write_queued(self, number: int, queued_for: int) -> None:
        """Write frame `number`, or the rest of the one send() began, blocking until the worker takes it."""
        with self._lock:
            link, generation = self._link, self._generation
            wire: bytes | memoryview | None = None
            if number == _REST:
                wire, self._rest = self._rest, None
            elif (data := self._pending.get(number)) is not None and self._sent.get(number) != generation:
                wire = _frame_wire(number, data)
            if queued_for != generation or wire is None:
                return  # for a dead worker (_spawn queued the new one's, whole and in order), done, or sent
            if number != _REST:
                self._sent[number] = generation
        assert link is not None
        with contextlib.suppress(OSError):  # the worker died; _watch starts another and sends it what is owed
            link.sendall(wire)

    def _read_loop(self, link: Connection) -> None:
        with link:
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


def _frame_wire(number: int, data: bytes) -> bytes:
    """Frame `number` (`data`: the frame's JSON) as the worker reads it off the link."""
    return _wire(b'{"n":%d,"frame":%b}' % (number, data))


def _wire(payload: bytes) -> bytes:
    """`payload` in multiprocessing.connection's framing, as Connection.send_bytes writes it."""
    return struct.pack("!i", len(payload)) + payload


def worker_command() -> list[str]:
    """`kukey worker` with this interpreter."""
    return [sys.executable, "-m", "bot", "worker"]
