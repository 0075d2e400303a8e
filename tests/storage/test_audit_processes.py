"""Several processes appending to one audit log at the same time produce one unbroken chain, on SQLite and
on PostgreSQL (there also from sessions of plain engines, without kukey's write lock)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.domain.clock import FakeClock
from bot.storage import audit_read, audit_verify
from bot.storage.audit import AuditLog
from bot.storage.db import session_scope
from tests.storage.audit_helpers import fill, new_master, open_engine

ROOT = Path(__file__).resolve().parents[2]
PER_PROCESS = 150
ACTORS = ("UALPHA", "UBRAVO", "UCHARLIE")
WRITER = """
import sys
from sqlalchemy import create_engine
from bot.domain.clock import SystemClock
from bot.storage import urls
from bot.storage.audit import AuditLog
from bot.storage.db import make_engine, session_scope

url, actor, count, plain = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "plain"
master = bytes.fromhex(sys.stdin.readline().strip())
engine = create_engine(urls.normalized(url)) if plain else make_engine(url)
log = AuditLog(master, SystemClock())
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    with session_scope(engine) as session:
        log.record(session, "test.append", actor=actor, detail={"i": i})
engine.dispose()
"""


def _append_from_processes(url: str, master: bytes, engine_kind: str) -> None:
    """Start one writer per actor, let them all go at once, and wait for every one to finish cleanly."""
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, actor, str(PER_PROCESS), engine_kind],
                                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for actor in ACTORS]
    try:
        for proc in writers:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(master.hex() + "\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "ready"
        for proc in writers:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.close()
        for proc in writers:
            assert proc.stdout is not None
            proc.stdout.close()
            assert proc.wait(timeout=90) == 0
    finally:
        for proc in writers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _one_chain(url: str, engine_kind: str) -> None:
    master = new_master()
    engine = open_engine(url)
    try:
        fill(engine, AuditLog(master, FakeClock()), FakeClock(), 1)
        _append_from_processes(url, master, engine_kind)
        result = audit_verify.verify(engine, master_key=master)
        with session_scope(engine) as s:
            events = audit_read.events(s)
    finally:
        engine.dispose()
    assert (result.ok, result.count) == (True, len(ACTORS) * PER_PROCESS + 1), result.problem
    for actor in ACTORS:
        assert [e.detail["i"] for e in events if e.actor == actor] == list(range(PER_PROCESS))


def test_processes_append_without_forking_the_chain(database_url: str) -> None:
    """3 x 150 events written concurrently by three kukey processes verify as one chain of 451, no seq lost."""
    _one_chain(database_url, "kukey")


def test_the_append_lock_alone_keeps_one_chain_on_postgresql(pg_url: str) -> None:
    """On PostgreSQL the append's own advisory lock keeps one chain even for sessions of plain SQLAlchemy
    engines, whose transactions do not take kukey's write lock."""
    _one_chain(pg_url, "plain")
