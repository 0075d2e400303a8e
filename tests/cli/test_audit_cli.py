"""`kukey audit verify|export|tail` against a real database file, in-process and as a real process."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.cli.audit import parse_since
from bot.domain.clock import FakeClock
from bot.errors import UsageError
from bot.storage import audit, audit_chain, audit_verify
from bot.storage.audit import AuditLog, audit_key_for
from bot.storage.audit_chain import content, sign
from bot.storage.db import session_scope
from tests.storage.audit_helpers import attacker, db_url, fill, new_engine, new_master

ROOT = Path(__file__).resolve().parents[2]
MASTER = new_master()
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A log of 10 events about sub-a then 5 about sub-b, one second apart, and the env pointing at it."""
    engine = new_engine(tmp_path)
    clock = FakeClock(START)
    log = AuditLog(MASTER, clock)
    fill(engine, log, clock, 10, sub_account="sub-a")
    fill(engine, log, clock, 5, sub_account="sub-b")
    monkeypatch.setenv("KUKEY_DATABASE_URL", db_url(tmp_path))
    monkeypatch.setenv("KUKEY_MASTER_KEY", base64.b64encode(MASTER).decode())
    yield engine
    engine.dispose()


def _head(engine: Engine) -> str:
    with session_scope(engine) as s:
        return audit_verify.format_checkpoint(*audit.head(s))


def _tamper(engine: Engine, statement: str) -> None:
    conn = attacker(engine)
    try:
        conn.execute(statement)
    finally:
        conn.close()


def test_verify_reports_ok_with_the_checkpoint(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """An untouched log verifies: exit 0, the count, and a checkpoint that verifies in turn."""
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out == f"OK: 15 events verified; checkpoint {_head(engine)}\n"
    assert main(["audit", "verify", "--checkpoint", _head(engine)]) == 0


def test_verify_names_an_edited_event(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """An edited event makes verify exit 1 and name it, and say which prefix still verifies."""
    _tamper(engine, "UPDATE audit_event SET outcome = 'ok' , actor = 'U9' WHERE seq = 7")
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("BROKEN at event 7: event 7 does not match its hash")
    assert out[1].startswith("events 1-6 verify; the last good checkpoint is 6:")


def test_verify_with_a_checkpoint_names_the_first_cut_event(engine: Engine,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A tail cut after the checkpoint was taken: exit 1, naming the first missing event."""
    checkpoint = _head(engine)
    _tamper(engine, "DELETE FROM audit_event WHERE seq > 12")
    assert main(["audit", "verify", "--checkpoint", checkpoint]) == 1
    assert capsys.readouterr().out.startswith("BROKEN at event 13: the log ends at event 12")


@pytest.mark.parametrize(("argv", "env", "message"), [
    (["audit", "verify", "--checkpoint", "12:abc"], {}, "kukey: not a checkpoint: '12:abc'"),
    (["audit", "verify"], {"KUKEY_MASTER_KEY": ""}, "KUKEY_MASTER_KEY is not set"),
    (["audit", "verify"], {"KUKEY_MASTER_KEY": "bm90LWEta2V5"}, "must be base64 of exactly 32 bytes"),
    (["audit", "export", "--since", "last tuesday"], {}, "kukey: --since 'last tuesday' is not a time"),
    (["audit", "tail", "-n", "0"], {}, "kukey: -n must be at least 1"),
    (["audit", "tail"], {"KUKEY_DATABASE_URL": "sqlite:////nonexistent/kukey.db"}, "which does not exist"),
])
def test_bad_input_gets_one_clear_message(engine: Engine, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                          env: dict[str, str], message: str) -> None:
    """Bad checkpoints, a missing or bad master key, a bad --since, a bad -n or a missing database exit 2
    with one message on stderr and no traceback."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_export_jsonl_has_every_field_and_honours_since(engine: Engine,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """jsonl export prints one object per event with every column; --since keeps events at or after it."""
    assert main(["audit", "export", "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, 16))
    assert set(lines[0]) == set(audit_chain.COLUMNS)
    assert (lines[0]["ts"], lines[0]["detail"], lines[0]["prev_hash"]) == (
        "2026-01-01T00:00:01.000000+00:00", {"n": 0}, "0" * 64)
    assert main(["audit", "export", "--since", "2026-01-01T00:00:13"]) == 0
    assert [json.loads(x)["seq"] for x in capsys.readouterr().out.splitlines()] == [13, 14, 15]


def test_export_csv_is_verifiable_by_an_outsider(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """CSV export has a header and one row per event, complete enough to recompute every hash."""
    assert main(["audit", "export", "--format", "csv", "--since", "2026-01-01T00:00:00+00:00"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 15
    key = audit_key_for(MASTER)
    for r in rows:
        fields = {k: (v if v != "" else None) for k, v in r.items() if k != "hash"}
        fields["seq"] = int(r["seq"])  # type: ignore[assignment]
        assert sign(key, content(**fields)) == r["hash"]  # type: ignore[arg-type]


def test_tail_prints_the_latest_events_in_order(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """tail -n 3 prints events 13-15 in order; --sub-account narrows to that sub-account."""
    assert main(["audit", "tail", "-n", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["13", "14", "15"]
    assert out[-1] == ("15  2026-01-01T00:00:15.000000+00:00  U1  request.created  ok  request_id=KK-0004  "
                       'sub_account=sub-b  {"n": 4}')
    assert main(["audit", "tail", "-n", "2", "--sub-account", "sub-a"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["9", "10"]


def test_since_accepts_times_and_durations() -> None:
    """--since takes ISO times (naive means UTC) and durations back from the clock's now."""
    clock = FakeClock(START)
    assert parse_since("2026-01-02", clock) == datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_since("2026-01-02T03:04:05+02:00", clock) == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert parse_since("90m", clock) == START - timedelta(minutes=90)
    assert parse_since("7d", clock) == START - timedelta(days=7)
    with pytest.raises(UsageError):
        parse_since("yesterday", clock)


def test_verify_as_a_process_exits_1_and_names_the_event(engine: Engine, tmp_path: Path) -> None:
    """`python -m bot audit verify` on a log with a deleted event exits 1, names it, prints no traceback."""
    _tamper(engine, "DELETE FROM audit_event WHERE seq = 4")
    env = {"PATH": os.environ.get("PATH", ""), "KUKEY_DATABASE_URL": db_url(tmp_path),
           "KUKEY_MASTER_KEY": base64.b64encode(MASTER).decode()}
    result = subprocess.run([sys.executable, "-m", "bot", "audit", "verify"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=env, check=False)
    assert result.returncode == 1
    assert result.stdout.startswith("BROKEN at event 4: event 4 is missing: deleted")
    assert "Traceback" not in result.stdout + result.stderr


def test_verify_without_audit_tables_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A database file without the audit tables is reported as broken, not as a crash."""
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    monkeypatch.setenv("KUKEY_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("KUKEY_MASTER_KEY", base64.b64encode(MASTER).decode())
    assert main(["audit", "verify"]) == 1
    assert "no readable audit log" in capsys.readouterr().out
    assert main(["audit", "tail"]) == 2
    assert "no readable audit log" in capsys.readouterr().err
