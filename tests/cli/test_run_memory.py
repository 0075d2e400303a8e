"""What `kukey run` keeps in memory: on SQLite, neither PostgreSQL's dialect nor Alembic (docs/benchmarks.md,
"Growth: memory")."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.clock import SystemClock
from bot.storage.db import init_db, make_engine
from kukey_sandbox.world import KukeyWorld

# `kukey run --http` in this process's main thread (it installs signal handlers); a second thread waits
# for its "listening" line, prints the modules then loaded and ends the process.
PROBE = """
import io, os, sys, threading
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


def test_run_on_sqlite_imports_neither_postgresql_nor_alembic(world: KukeyWorld) -> None:
    """A started `kukey run` on a SQLite database at the head revision has not imported SQLAlchemy's
    PostgreSQL dialect, psycopg or Alembic (megabytes held for good that SQLite never uses)."""
    engine = make_engine(world.database_url)
    init_db(engine)  # a restart: the database exists (a first start imports Alembic to create it)
    engine.dispose()
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False,
                          cwd=world.home, env={**os.environ, **world.env()})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MODULES ")]
    assert lines, f"kukey run did not start (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    modules = set(lines[0].split()[1:])
    assert "bot.app" in modules
    assert sorted(m for m in modules if m.startswith(("sqlalchemy.dialects.postgresql", "psycopg", "alembic"))) == []

