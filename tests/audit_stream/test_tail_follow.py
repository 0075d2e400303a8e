"""`kukey audit tail --follow` as a real process: JSON lines of the events after a seq (or the last -n),
then each new event as it is written, until SIGTERM or SIGINT (exit 0, no traceback)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.cli import main
from tests.audit_stream.helpers import Log, exported, wait_until

ROOT = Path(__file__).resolve().parents[2]


class Follower:
    """`python -m bot audit tail --follow ARGS` against `database_url`, its stdout lines collected."""

    def __init__(self, database_url: str, *args: str) -> None:
        env = {"PATH": os.environ.get("PATH", ""), "KUKEY_DATABASE_URL": database_url}
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "audit", "tail", "--follow", "--interval", "0.1",
                                      *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def printed(self, count: int) -> list[str]:
        """Wait until `count` lines were printed in all; return them."""
        def enough() -> bool:
            while not self.lines.empty():
                self.seen.append(self.lines.get())
            return len(self.seen) >= count
        wait_until(enough, f"{count} lines from tail --follow")
        return self.seen

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """Send `signum`; the exit code and everything printed on stderr."""
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=30)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        self.kill()
        return code, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def follow() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for follower in started:
        follower.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_since_seq_prints_the_events_after_n_then_new_ones_until_a_signal(
        database_url: str, engine: Engine, log: Log, follow: list[Follower], signum: int,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`--since-seq 6` on a log of 10 prints events 7-10, then 11-13 as they are written, each line exactly
    what `export --format jsonl` prints; SIGTERM or SIGINT ends it with exit 0 and nothing on stderr."""
    log.write(10)
    follower = Follower(database_url, "--since-seq", "6")
    follow.append(follower)
    lines = exported(database_url, monkeypatch, capsys)
    assert follower.printed(4) == lines[6:10]
    log.write(3)
    assert follower.printed(7) == exported(database_url, monkeypatch, capsys)[6:13]
    code, err = follower.stop(signum)
    assert (code, err) == (0, "")
    assert follower.seen == exported(database_url, monkeypatch, capsys)[6:13]


def test_without_since_seq_it_starts_with_the_last_n_and_keeps_to_the_sub_account(
        database_url: str, log: Log, follow: list[Follower], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`-n 2 --sub-account sub-b` prints the last two sub-b events, then only new sub-b events."""
    log.write(4, sub_account="sub-a")
    log.write(3, sub_account="sub-b")
    log.write(2, sub_account="sub-a")
    follower = Follower(database_url, "-n", "2", "--sub-account", "sub-b")
    follow.append(follower)
    assert [line[:10] for line in follower.printed(2)] == ['{"seq": 6,', '{"seq": 7,']
    log.write(2, sub_account="sub-a")
    log.write(1, sub_account="sub-b")
    lines = exported(database_url, monkeypatch, capsys)
    assert follower.printed(3) == [lines[5], lines[6], lines[11]]
    assert follower.stop() == (0, "")


@pytest.mark.parametrize(("argv", "message"), [
    (["--since-seq", "3"], "--since-seq goes with --follow"),
    (["--follow", "-n", "3", "--since-seq", "2"], "-n and --since-seq choose where to start: give one"),
    (["--follow", "--since-seq", "-1"], "--since-seq must be 0 or more"),
    (["--follow", "--interval", "0"], "--interval must be 0.05-60 seconds"),
    (["--follow", "-n", "0"], "-n must be at least 1"),
])
def test_bad_follow_options_get_one_clear_line(argv: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Contradictory or out-of-range options exit 2 with one line on stderr, before reading anything."""
    assert main(["audit", "tail", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_follow_on_a_database_without_an_audit_log_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A database file with no audit table is one clear error, not an endless wait."""
    import sqlite3

    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    monkeypatch.setenv("KUKEY_DATABASE_URL", f"sqlite:///{path}")
    assert main(["audit", "tail", "--follow", "--since-seq", "0"]) == 2
    assert "no readable audit log" in capsys.readouterr().err
