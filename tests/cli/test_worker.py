"""The work behind the acks in a worker process (bot.cli.worker, bot.ops.worker, bot.slack.handoff): the ack
never waits for it, a worker that dies is started again and gets what it had not finished, each create is
made once, a stopping kukey lets its worker finish, and a worker dies with its serving process."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app import Kukey, build
from bot.cli.worker import NICE, Line, serve
from bot.config import Settings
from bot.domain.clock import SystemClock
from bot.ops.worker import WorkerProcess, worker_command
from kukey_sandbox.replicas import Replica, children, running
from kukey_sandbox.slack.driver import SlackDriver
from kukey_sandbox.world import APPROVALS, REQUESTER, TRADING, KukeyWorld

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 worker test"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock()) as w:
        yield w


def _serving(world: KukeyWorld, *, restart_after: float = 0.2) -> tuple[Kukey, WorkerProcess]:
    """kukey serving Slack in this process, with the work behind its acks in a `kukey worker` child (as
    `kukey run` does)."""
    settings = Settings.from_env(world.env(), need=["kucoin", "master_key", "policy", "slack_http"])
    kukey = build(settings, clock=world.clock, scheduler_interval=0.05)
    worker = WorkerProcess(worker_command(), restart_after=restart_after, env={**os.environ, **world.env()})
    kukey.hand_off_to(worker.start())
    world.driver = SlackDriver(world.fake, url=kukey.start_http().url)
    world.bot = kukey  # stopped with the world
    return kukey, worker


def _requests(kukey: Kukey) -> int:
    with kukey.services.deps.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM request")).scalar_one())


def _posted(world: KukeyWorld) -> list[object]:
    return [m for m in world.fake.messages(APPROVALS) if "alpha-trading" in m.content]


def test_a_create_is_acked_while_its_worker_is_frozen_and_posted_once_it_runs(world: KukeyWorld) -> None:
    """The ack does not wait for the work: with the worker stopped (SIGSTOP) a create is acked and nothing is
    recorded; once the worker continues, the request is made and posted."""
    kukey, worker = _serving(world)
    assert worker.pid is not None
    world.wait(lambda: kukey.readiness.failing() == [], timeout=30, what="kukey and its worker ready")
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        ack = world.driver.slash(REQUESTER, TRADING, CREATE)
        assert ack.ok, ack
        assert worker.owed() == 1 and _requests(kukey) == 0
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    world.wait(lambda: _posted(world), timeout=30, what="request posted")
    world.wait(lambda: worker.owed() == 0, what="the worker said it is done")
    assert _requests(kukey) == 1


def test_a_killed_worker_is_started_again_and_runs_what_it_had_not_finished_once(world: KukeyWorld) -> None:
    """kill -9 of a worker holding a create: another worker is started, is handed that create again, and the
    request is made and posted exactly once."""
    kukey, worker = _serving(world)
    first = worker.pid
    assert first is not None
    world.wait(lambda: kukey.readiness.failing() == [], timeout=30, what="kukey and its worker ready")
    os.kill(first, signal.SIGSTOP)  # it may have read the frame or not: either way it never finishes it
    assert world.driver.slash(REQUESTER, TRADING, CREATE).ok
    os.kill(first, signal.SIGKILL)
    world.wait(lambda: worker.starts == 2 and worker.alive(), timeout=30, what="a second worker")
    assert worker.pid != first
    world.wait(lambda: _posted(world), timeout=30, what="request posted")
    world.wait(lambda: worker.owed() == 0, what="the second worker said it is done")
    assert _requests(kukey) == 1 and len(_posted(world)) == 1


def test_stopping_kukey_lets_its_worker_finish_what_the_acks_left(world: KukeyWorld) -> None:
    """kukey.stop() right after an ack (KuCoin slow) returns only once the worker has made the request."""
    kukey, worker = _serving(world)
    world.wait(lambda: kukey.readiness.failing() == [], timeout=30, what="kukey and its worker ready")
    world.sandbox.set_latency(0.5)
    assert world.driver.slash(REQUESTER, TRADING, CREATE).ok
    kukey.stop()
    world.bot = None
    assert worker.owed() == 0 and not worker.alive()
    assert _requests(kukey) == 1


def test_the_serving_process_learns_the_sub_accounts_and_counts_the_kucoin_calls_of_its_worker(
        world: KukeyWorld) -> None:
    """The worker lists the sub-accounts at KuCoin and tells the serving process, whose acks then refuse an
    unknown one; the KuCoin calls the worker makes are on the serving process's /metrics."""
    kukey, _ = _serving(world)
    world.wait(lambda: kukey.services.sub_accounts.known(), timeout=30, what="the sub-accounts from the worker")
    ack = world.driver.slash(REQUESTER, TRADING, CREATE.replace("alpha-trading", "alpha-tradin"))
    assert "Unknown sub-account `alpha-tradin`" in ack.body
    assert world.driver.slash(REQUESTER, TRADING, CREATE).ok
    world.wait(lambda: _posted(world), timeout=30, what="request posted")
    listings = 'kukey_kucoin_call_seconds_count{endpoint="GET /api/v1/sub/api-key"}'
    world.wait(lambda: listings in kukey.metrics.render(), what="the worker's key listing counted here")


def test_kukey_run_starts_a_worker_that_dies_with_it(world: KukeyWorld) -> None:
    """`kukey run` serves with a `kukey worker` child; kill -9 of `kukey run` takes the worker with it (no
    orphan goes on working for a dead replica)."""
    world.start_process()
    pid = world.process.process.pid
    (child,) = world.wait(lambda: children(pid), timeout=30, what="a worker process")
    assert world.driver.slash(REQUESTER, TRADING, CREATE).ok
    world.wait(lambda: _posted(world), timeout=30, what="request posted")
    world.kill_process()
    world.wait(lambda: not running(child), timeout=10, what="the worker gone")


def test_a_worker_runs_jobs_at_its_own_priority_and_commands_below_it() -> None:
    """Jobs (an incident revoke's deletes) run at the worker's CPU priority; commands' work NICE lower, so
    that the serving process's acks come first on a busy machine without slowing a revoke down."""
    ours, theirs = socket.socketpair()
    link, peer = Connection(theirs.detach()), Connection(ours.detach())
    seen: dict[str, int] = {}

    def run_frame(frame: dict[str, object]) -> None:
        seen[str(frame["name"])] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    for n, (name, urgent) in enumerate([("command", False), ("job", True)], start=1):
        peer.send_bytes(json.dumps({"n": n, "frame": {"name": name, "urgent": urgent}}).encode())
    peer.send_bytes(b'{"stop":true}')
    serve(link, run_frame, lambda _: None, threads=1, job_threads=1)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert seen == {"job": base, "command": min(base + NICE, 19)}
    peer.close()
    link.close()


def test_kukey_run_no_worker_serves_in_one_process(world: KukeyWorld) -> None:
    """`kukey run --no-worker` starts no child process and does the work behind its acks itself."""
    replica = Replica("one", world.spawn("run", "--http", "--host", "127.0.0.1", "--port", "0", "--no-worker"))
    try:
        replica.wait_started()
        world.driver = SlackDriver(world.fake, url=replica.url)
        assert world.driver.slash(REQUESTER, TRADING, CREATE).ok
        world.wait(lambda: _posted(world), timeout=30, what="request posted")
        assert children(replica.process.pid) == []
    finally:
        replica.kill()


def test_a_worker_takes_clicks_and_jobs_before_the_commands_that_came_earlier() -> None:
    """The worker's line gives urgent frames (clicks, whose modals need their trigger_id within seconds, and
    jobs) before commands that came earlier, the rest in the order they came, then ends its runners."""
    line = Line()
    for number, (name, urgent) in enumerate([("command", False), ("command too", False), ("click", True),
                                             ("job", True), ("last", False)], start=1):
        line.put(number, {"name": name, "urgent": urgent})
    line.close(2)
    taken = []
    while (item := line.take()) is not None:
        taken.append((item[0], item[1]["name"]))
    assert taken == [(3, "click"), (4, "job"), (1, "command"), (2, "command too"), (5, "last")]
    assert line.take() is None  # the second runner ends too


def test_a_worker_runs_every_frame_it_is_sent_and_says_done_for_each_until_told_to_stop() -> None:
    """serve() runs each frame from the link once, answers done for each, and returns on "stop" once they
    have all run."""
    ours, theirs = socket.socketpair()
    link, peer = Connection(theirs.detach()), Connection(ours.detach())
    ran: list[object] = []
    lock = threading.Lock()

    def say(message: dict[str, object]) -> None:
        with lock:
            link.send_bytes(json.dumps(message).encode())

    for n in range(1, 21):
        peer.send_bytes(json.dumps({"n": n, "frame": {"name": n, "urgent": n % 3 == 0}}).encode())
    peer.send_bytes(b'{"stop":true}')
    serve(link, lambda frame: ran.append(frame["name"]), say, threads=4)
    assert sorted(ran) == list(range(1, 21))  # type: ignore[type-var]
    assert sorted(json.loads(peer.recv_bytes())["done"] for _ in range(20)) == list(range(1, 21))
    peer.close()
    link.close()
