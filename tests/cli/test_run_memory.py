"""What `kukey run` keeps in memory: on SQLite, neither PostgreSQL's dialect nor Alembic (docs/benchmarks.md,
"Growth: memory"); and what start-up left, it and its worker keep out of the garbage collector's scans
(bot.ops.settle)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.clock import SystemClock
from bot.ops.worker import WorkerProcess
from bot.storage.db import init_db, make_engine
from kukey_sandbox.world import KukeyWorld

# `kukey run --http` in this process's main thread (it installs signal handlers); a second thread waits
# for its "listening" line, prints the modules then loaded and the garbage collector's counts (objects
# frozen, objects it still scans) and ends the process.
PROBE = """
import gc, io, os, sys, threading
from bot.cli import main
listening = threading.Event()
class Out(io.StringIO):
    def write(self, text):
        if "listening on" in text:
            listening.set()
        return super().write(text)
sys.stdout = Out()
def report():
    if listening.wait(60):
        sys.__stdout__.write("MODULES " + " ".join(sorted(sys.modules)) + "\\n")
        sys.__stdout__.write(f"GC {gc.get_freeze_count()} {len(gc.get_objects())}\\n")
        sys.__stdout__.flush()
        os._exit(0)
threading.Thread(target=report, daemon=True).start()
sys.exit(main(["run", "--http", "--host", "127.0.0.1", "--port", "0"]))
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    """The sandbox, without a bot: the test runs `kukey run` itself."""
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock()) as w:
        yield w


def _started(world: KukeyWorld) -> dict[str, list[str]]:
    """Start `kukey run --http` on the world's SQLite database at the head revision (a restart: a first start
    imports Alembic to create it) and read what PROBE printed once it listened, by line name."""
    engine = make_engine(world.database_url)
    init_db(engine)
    engine.dispose()
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False,
                          cwd=world.home, env={**os.environ, **world.env()})
    lines = {name: rest.split() for name, _, rest in (line.partition(" ") for line in proc.stdout.splitlines())
             if name in ("MODULES", "GC")}
    assert lines, f"kukey run did not start (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return lines


def test_run_on_sqlite_imports_neither_postgresql_nor_alembic(world: KukeyWorld) -> None:
    """A started `kukey run` on a SQLite database at the head revision has not imported SQLAlchemy's
    PostgreSQL dialect, psycopg or Alembic (megabytes held for good that SQLite never uses)."""
    modules = set(_started(world)["MODULES"])
    assert "bot.app" in modules
    assert sorted(m for m in modules if m.startswith(("sqlalchemy.dialects.postgresql", "psycopg", "alembic"))) == []


def test_kukey_run_keeps_what_its_start_up_made_out_of_the_collectors_scans(world: KukeyWorld) -> None:
    """Once `kukey run` listens, the objects its start-up made are frozen (bot.ops.settle): the collector's
    full collections scan only the few made since, where each used to scan them all (a 66-76 ms pause, the
    first of them on the first request's path)."""
    frozen, scanned = (int(n) for n in _started(world)["GC"])
    assert frozen > 50_000, (frozen, scanned)  # modules, classes, mappers, models: about 100,000 objects
    assert scanned < frozen / 10, (frozen, scanned)


# `kukey worker` as `kukey run` starts it (its arguments: the link's descriptor, the parent's pid); a second
# thread waits until the worker serves its link (its job runners are started) and writes the collector's
# counts to KUKEY_TEST_GC_OUT.
WORKER_PROBE = """
import gc, os, sys, threading, time
from bot.cli import main
def report():
    deadline = time.monotonic() + 60
    while not any(t.name == "kukey-job-0" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    out = os.environ["KUKEY_TEST_GC_OUT"]
    with open(out + ".part", "w") as f:
        f.write(f"{gc.get_freeze_count()} {len(gc.get_objects())}")
    os.replace(out + ".part", out)
threading.Thread(target=report, daemon=True).start()
sys.exit(main(["worker", *sys.argv[1:]]))
"""


def test_kukey_worker_keeps_what_its_start_up_made_out_of_the_collectors_scans(world: KukeyWorld) -> None:
    """`kukey run`'s worker settles too, before it takes its first frame: the revoke job's deletes went out
    after a 66 ms full collection in the worker, the first one after its start-up."""
    engine = make_engine(world.database_url)
    init_db(engine)
    engine.dispose()
    out = world.home / "worker-gc.txt"
    worker = WorkerProcess([sys.executable, "-c", WORKER_PROBE],
                           env={**os.environ, **world.env(), "KUKEY_TEST_GC_OUT": str(out)}).start()
    try:
        frozen, scanned = world.wait(lambda: out.exists() and [int(n) for n in out.read_text().split()],
                                     timeout=60, what="the worker's collector counts")
    finally:
        worker.stop()
    assert frozen > 50_000, (frozen, scanned)
    assert scanned < frozen / 10, (frozen, scanned)
