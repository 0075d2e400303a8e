"""What happens before a command runs: `kukey run` starts despite warnings, a wrong master key never
touches the database, and an unexpected failure is one line plus a file for the bug report."""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.clock import FakeClock, SystemClock
from bot.domain.secret import Secret
from bot.security.crypto import SecretBox, generate_master_key
from bot.storage.audit import AuditLog
from bot.storage.db import init_db, make_engine, session_scope
from bot.storage.tables import Enrollment
from kukey_sandbox.world import APPROVER, KukeyWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KukeyWorld]:
    """The default sandbox: its master key has more permissions than kukey needs (a WARN)."""
    with KukeyWorld(home=tmp_path, run_bot=False, clock=SystemClock()) as w:
        yield w


def _kukey(world: KukeyWorld, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=60,
                          cwd=world.home, env={**base, **world.env(), **env}, check=False)


def test_run_prints_warnings_and_starts(world: KukeyWorld) -> None:
    """A WARN (a master key with more than General) is printed on stderr and `kukey run` starts anyway."""
    proc = world.spawn("run", "--http", "--host", "127.0.0.1", "--port", "0")
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "listening on http://127.0.0.1:" in line:
                break
    finally:
        proc.terminate()
        seen.append(proc.communicate(timeout=30)[0])
    out = "".join(seen)
    assert "kukey: warning: kucoin key: master key 65a1f0c2d4e5f60718293a4b (uid 100000001) has more than kukey " \
           "needs: Futures, InnerTransfer, Margin, Spot; fix: edit the master API key" in out
    assert "listening on http://127.0.0.1:" in out, out


def _database(world: KukeyWorld) -> None:
    master = base64.b64decode(world.master_key)
    engine = make_engine(f"sqlite:///{world.db_path}")
    try:
        init_db(engine)
        with session_scope(engine) as s:
            AuditLog(master, FakeClock(datetime.now(UTC))).record(s, "kukey.started", actor="kukey")
            s.add(Enrollment(user_id=APPROVER, created_at=datetime.now(UTC), seed_enc=SecretBox(master).encrypt(
                Secret("JBSWY3DPEHPK3PXP"), aad=f"totp:{APPROVER}")))
    finally:
        engine.dispose()


def _rows(world: KukeyWorld) -> tuple[int, int]:
    engine = make_engine(f"sqlite:///{world.db_path}")
    try:
        with engine.connect() as conn:
            events = conn.exec_driver_sql("SELECT count(*) FROM audit_event").scalar_one()
            enrolled = conn.exec_driver_sql("SELECT count(*) FROM enrollment").scalar_one()
    finally:
        engine.dispose()
    return int(events), int(enrolled)


@pytest.mark.parametrize("args", [("totp", "reset", APPROVER), ("rekey", "--new-key-env", "NEW_KEY")])
def test_a_wrong_master_key_never_touches_the_database(world: KukeyWorld, args: tuple[str, ...]) -> None:
    """`totp reset` and `rekey` with another master key than the database's are refused before they write:
    nothing is signed or re-encrypted with the wrong key."""
    _database(world)
    done = _kukey(world, *args, KUKEY_MASTER_KEY=generate_master_key(), NEW_KEY=generate_master_key())
    assert done.returncode == 2
    assert re.fullmatch(r"kukey: master key: the audit log was last signed by master key \w+, but this key is \w+; "
                        r"fix: set KUKEY_MASTER_KEY .*\nkukey: (totp reset|rekey) did not start \(1 problem\); "
                        r"`kukey doctor` runs every check\n", done.stderr), done.stderr
    assert _rows(world) == (1, 1)


def test_an_unexpected_failure_is_one_line_and_a_private_file(world: KukeyWorld, tmp_path: Path) -> None:
    """A failure no command expects (here a database file that is not a database) prints one line naming
    a file, readable only by its owner, that holds the traceback; the exit code says it is a bug."""
    world.db_path.write_bytes(b"this is not a database " * 100)
    done = _kukey(world, "audit", "tail", TMPDIR=str(tmp_path))
    assert done.returncode == 70
    assert done.stdout == ""
    match = re.fullmatch(r"kukey: unexpected error: file is not a database; the details for a bug report are in "
                         r"(\S+)\n", done.stderr)
    assert match, done.stderr
    report = Path(match.group(1))
    assert report.parent == tmp_path
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert "Traceback (most recent call last)" in report.read_text(encoding="utf-8")
