"""The commands' frames of a burst of acks wait in the serving process for the burst to end
(bot.ops.worker.Bursts, WorkerProcess): a frame that came alone goes to the worker at once, one within a burst
once the burst has been quiet (at most a cap), jobs never wait."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from bot.ops.worker import Bursts, WorkerProcess


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_frame_alone_runs_at_once_and_one_within_a_burst_waits_for_a_quiet_moment_or_the_cap() -> None:
    """Frames closer together than `quiet` are a burst: the first ran at once (nothing came before it); the
    others wait until no frame came for `quiet`, or until they waited `cap`; end() lets them all go."""
    clock = _Clock()
    bursts = Bursts(quiet=0.02, cap=1.0, clock=clock)
    first = bursts.arrived()
    assert bursts.delay(first) == 0.0
    clock.now += 0.005
    second = bursts.arrived()
    assert second == (100.005, True)
    assert round(bursts.delay(second), 6) == 0.02  # quiet for 20 ms after the latest frame
    for _ in range(100):  # the burst goes on: one frame every 10 ms for a second
        clock.now += 0.01
        bursts.arrived()
        assert 0 < bursts.delay(second) <= 0.02 or clock.now - second[0] >= 1.0
    assert bursts.delay(second) == 0.0  # waited the cap
    clock.now += 0.005
    third = bursts.arrived()
    assert bursts.delay(third) > 0
    clock.now += 0.02
    assert bursts.delay(third) == 0.0  # the burst is over
    clock.now += 1.0
    alone = bursts.arrived()
    assert alone[1] is False and bursts.delay(alone) == 0.0
    clock.now += 0.001
    late = bursts.arrived()
    assert bursts.delay(late) > 0
    bursts.end()
    assert bursts.delay(late) == 0.0


# A stand-in for `kukey worker`: says which frame reached it, then done (the real one runs the frame's work).
WORKER = """
import json, sys
from multiprocessing.connection import Connection
link = Connection(int(sys.argv[sys.argv.index("--link-fd") + 1]))
while True:
    try:
        message = json.loads(link.recv_bytes())
    except EOFError:
        break
    if message.get("stop"):
        break
    link.send_bytes(json.dumps({"reached": message["frame"]["name"]}).encode())
    link.send_bytes(json.dumps({"done": message["n"]}).encode())
"""


class _Reached:
    """What reached the worker, and when (this process's clock, as it heard so)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.order: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, message: dict[str, object]) -> None:
        with self._lock:
            self.at[str(message["reached"])] = time.monotonic()
            self.order.append(str(message["reached"]))


def _worker(bursts: Bursts, reached: _Reached) -> WorkerProcess:
    worker = WorkerProcess([sys.executable, "-c", WORKER], restart_after=0.05, bursts=bursts)
    worker.listen(reached)
    return worker.start()


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_burst_of_commands_reaches_the_worker_after_it_ends_and_a_job_within_it_at_once() -> None:
    """Of commands' frames sent back to back, the first goes at once and the rest, in order, only once no frame
    came for `quiet`; a job sent last in the burst goes before them."""
    reached = _Reached()
    worker = _worker(Bursts(quiet=0.5, cap=30.0), reached)
    names = [f"command {i}" for i in range(5)]
    for name in names:
        worker.send({"name": name, "urgent": False})
    last_sent = time.monotonic()  # the job, last of the burst, is sent after this
    worker.send({"name": "job", "urgent": True})
    _wait(lambda: len(reached.at) == 6)
    worker.stop()
    assert reached.at["command 0"] < last_sent + 0.5  # it came alone: it did not wait for a quiet moment
    assert reached.at["job"] < min(reached.at[name] for name in names[1:])
    assert all(reached.at[name] >= last_sent + 0.5 for name in names[1:])
    assert [name for name in reached.order if name != "job"] == names
    assert worker.owed() == 0


def test_the_commands_of_an_endless_burst_go_after_the_cap_and_at_once_when_stopping() -> None:
    """A burst that does not end holds a command at most `cap`; a stop sends the held ones at once."""
    reached = _Reached()
    worker = _worker(Bursts(quiet=60.0, cap=0.3), reached)
    worker.send({"name": "capped 1", "urgent": False})
    second_sent = time.monotonic()  # the second frame is sent after this
    worker.send({"name": "capped 2", "urgent": False})
    _wait(lambda: len(reached.at) == 2)
    assert second_sent + 0.3 <= reached.at["capped 2"] < second_sent + 30
    worker.stop()

    reached = _Reached()
    worker = _worker(Bursts(quiet=60.0, cap=60.0), reached)
    for n in (1, 2):
        worker.send({"name": f"held {n}", "urgent": False})
    _wait(lambda: "held 1" in reached.at)
    stopped = time.monotonic()
    worker.stop()
    assert reached.at["held 2"] - stopped < 5.0 and worker.owed() == 0 and not worker.alive()


def test_a_worker_started_again_during_a_burst_gets_the_held_frames_once() -> None:
    """The worker dies while a burst's frames are held: its successor is sent every frame not done, the held
    ones included, and when the burst ends none of them is sent again."""
    reached = _Reached()
    worker = _worker(Bursts(quiet=60.0, cap=60.0), reached)
    for n in range(1, 4):
        worker.send({"name": f"frame {n}", "urgent": False})
    _wait(lambda: "frame 1" in reached.at and worker.owed() == 2)
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: worker.starts == 2 and len(reached.order) == 3)
    worker.stop()  # ends the burst: the held frames would go now, were they not sent already
    assert reached.order == ["frame 1", "frame 2", "frame 3"] and worker.owed() == 0


def test_a_burst_goes_on_through_a_short_pause_and_creates_typed_20_a_second_are_never_one() -> None:
    """At `rate` frames within `window` a pause of the acks longer than `quiet` does not end the burst (the
    frames held do not all run in the middle of it); frames 50 ms apart, alone each, always run at once."""
    clock = _Clock()
    bursts = Bursts(quiet=0.02, rate=10, window=0.1, cap=5.0, clock=clock)
    for _ in range(50):  # 1,000 acks a second
        clock.now += 0.001
        held = bursts.arrived()
    clock.now += 0.03  # the acks pause for 30 ms: longer than quiet, shorter than the window
    assert held[1] and round(bursts.delay(held), 6) == 0.061  # until the tenth latest leaves the window
    clock.now += 0.061
    assert bursts.delay(held) == 0.0
    steady = Bursts(quiet=0.02, rate=10, window=0.1, cap=5.0, clock=clock)
    for _ in range(100):
        clock.now += 0.05
        assert steady.arrived()[1] is False


def test_stop_returns_once_what_the_worker_said_before_exiting_is_read() -> None:
    """The worker says "done" for its last frames and exits; stop() returns only once those words are read
    (not merely once the process is gone), so nothing it finished is counted as owed. Here the reading is held
    up: the listener, hearing the last frame, waits (at most a second) for stop() to have returned."""
    returned = threading.Event()
    heard: list[str] = []

    def slow(message: dict[str, object]) -> None:
        if message["reached"] == "last":
            returned.wait(timeout=1.0)
        heard.append(str(message["reached"]))

    worker = WorkerProcess([sys.executable, "-c", WORKER], restart_after=0.05, bursts=Bursts(quiet=60.0, cap=60.0))
    worker.listen(slow)
    worker.start()
    worker.send({"name": "first", "urgent": False})
    worker.send({"name": "last", "urgent": False})  # within a burst: held until stop() sends it
    _wait(lambda: heard == ["first"])
    worker.stop()
    returned.set()
    assert heard == ["first", "last"] and worker.owed() == 0
