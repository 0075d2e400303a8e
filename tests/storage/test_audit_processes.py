"""Two processes appending to one audit log at the same time produce one unbroken chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.domain.clock import FakeClock
from bot.storage import audit_read, audit_verify
from bot.storage.audit import AuditLog
from bot.storage.db import session_scope
from tests.storage.audit_helpers import db_url, fill, new_engine, new_master

ROOT = Path(__file__).resolve().parents[2]
PER_PROCESS = 200
WRITER = """
import sys
from bot.domain.clock import SystemClock
from bot.storage.audit import AuditLog
from bot.storage.db import make_engine, session_scope

url, actor = sys.argv[1], sys.argv[2]
master = bytes.fromhex(sys.stdin.readline().strip())
engine = make_engine(url)
log = AuditLog(master, SystemClock())
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(sys.argv[3])):
    with session_scope(engine) as session:
        log.record(session, "test.append", actor=actor, detail={"i": i})
engine.dispose()
"""


def test_two_processes_append_without_forking_the_chain(tmp_path: Path) -> None:
    """2 x 200 events written concurrently by two processes verify as one chain of 401 with no seq lost."""
    master = new_master()
    engine = new_engine(tmp_path)
    fill(engine, AuditLog(master, FakeClock()), FakeClock(), 1)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, db_url(tmp_path), actor, str(PER_PROCESS)],
                                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for actor in ("UALPHA", "UBRAVO")]
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
        result = audit_verify.verify(engine, master_key=master)
        with session_scope(engine) as s:
            events = audit_read.events(s)
    finally:
        for proc in writers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        engine.dispose()
    assert (result.ok, result.count) == (True, 2 * PER_PROCESS + 1), result.problem
    for actor in ("UALPHA", "UBRAVO"):
        assert [e.detail["i"] for e in events if e.actor == actor] == list(range(PER_PROCESS))
