"""The worker's commands' work waits for a burst of acks to end (bot.cli.worker.Bursts): a frame that came
alone runs at once, one within a burst once the burst has been quiet (at most a cap), jobs never wait."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from bot.cli.worker import Bursts, serve


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


def _serving(bursts: Bursts, run_frame: Callable[[dict[str, object]], None]) -> tuple[Connection, threading.Thread]:
    ours, theirs = socket.socketpair()
    link, peer = Connection(theirs.detach()), Connection(ours.detach())
    thread = threading.Thread(target=serve, args=(link, run_frame, lambda _: None),
                              kwargs={"threads": 4, "job_threads": 1, "bursts": bursts}, daemon=True)
    thread.start()
    return peer, thread


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_serve_runs_a_burst_of_commands_after_it_ends_and_a_job_within_it() -> None:
    """Through serve(): of commands' frames sent back to back, the first runs at once and the rest only once
    no frame came for `quiet`; a job sent last in the burst runs before them."""
    ran: dict[str, float] = {}
    lock = threading.Lock()

    def run_frame(frame: dict[str, object]) -> None:
        with lock:
            ran[str(frame["name"])] = time.monotonic()

    peer, thread = _serving(Bursts(quiet=0.5, cap=30.0), run_frame)
    names = [f"command {i}" for i in range(5)]
    for n, name in enumerate(names, start=1):
        peer.send_bytes(json.dumps({"n": n, "frame": {"name": name, "urgent": False}}).encode())
    last_sent = time.monotonic()  # the job, last of the burst, arrives after this
    peer.send_bytes(json.dumps({"n": 6, "frame": {"name": "job", "urgent": True}}).encode())
    _wait(lambda: len(ran) == 6)
    peer.send_bytes(b'{"stop":true}')
    thread.join(timeout=10)
    assert ran["command 0"] < last_sent + 0.5  # it came alone: it did not wait for a quiet moment
    assert ran["job"] < min(ran[name] for name in names[1:])
    assert all(ran[name] >= last_sent + 0.5 for name in names[1:])
    peer.close()


def test_serve_runs_the_commands_of_an_endless_burst_after_the_cap_and_at_once_when_stopping() -> None:
    """A burst that does not end holds a command at most `cap`; a stop lets the waiting ones run at once."""
    ran: dict[str, float] = {}

    def run_frame(frame: dict[str, object]) -> None:
        ran[str(frame["name"])] = time.monotonic()

    peer, thread = _serving(Bursts(quiet=60.0, cap=0.3), run_frame)
    peer.send_bytes(json.dumps({"n": 1, "frame": {"name": "capped 1", "urgent": False}}).encode())
    second_sent = time.monotonic()  # the second frame arrives after this
    peer.send_bytes(json.dumps({"n": 2, "frame": {"name": "capped 2", "urgent": False}}).encode())
    _wait(lambda: len(ran) == 2)
    assert second_sent + 0.3 <= ran["capped 2"] < second_sent + 30
    peer.close()
    thread.join(timeout=10)

    ran.clear()
    peer, thread = _serving(Bursts(quiet=60.0, cap=60.0), run_frame)
    for n in (1, 2):
        peer.send_bytes(json.dumps({"n": n, "frame": {"name": f"held {n}", "urgent": False}}).encode())
    _wait(lambda: "held 1" in ran)
    stopped = time.monotonic()
    peer.send_bytes(b'{"stop":true}')
    thread.join(timeout=10)
    assert not thread.is_alive() and ran["held 2"] - stopped < 5.0
    peer.close()


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
