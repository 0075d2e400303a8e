"""`kukey sandbox kucoin` runs the sandbox standalone, prints what to connect with, and stops on Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.clock import SystemClock
from bot.domain.secret import Secret
from bot.kucoin import KucoinClient
from kukey_sandbox.cli.sandbox import run_kucoin
from kukey_sandbox.kucoin.state import default_seed

ROOT = Path(__file__).resolve().parents[2]


class Running:
    """A `kukey sandbox kucoin` process whose stdout lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "sandbox", "kucoin", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def settings(self, timeout: float = 20) -> dict[str, str]:
        """Lines up to "Press Ctrl-C", as NAME=value pairs."""
        found: dict[str, str] = {}
        while True:
            line = self.lines.get(timeout=timeout)
            if line.startswith("Press Ctrl-C"):
                return found
            name, sep, value = line.partition("=")
            if sep and name.isupper():
                found[name] = value

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self._reader.join(timeout=5)


@pytest.fixture
def kucoin_cli() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for running in started:
        running.close()


def test_standalone_sandbox_serves_the_printed_credentials(kucoin_cli: list[Running]) -> None:
    """The printed URL and master credentials work with kukey's client; Ctrl-C stops it with exit 0."""
    running = Running("--port", "0")
    kucoin_cli.append(running)
    env = running.settings()
    assert env["KUCOIN_API_URL"].startswith("http://127.0.0.1:")
    with KucoinClient(base_url=env["KUCOIN_API_URL"], api_key=env["KUCOIN_API_KEY"],
                      api_secret=Secret(env["KUCOIN_API_SECRET"]),
                      api_passphrase=Secret(env["KUCOIN_API_PASSPHRASE"]), clock=SystemClock()) as client:
        assert client.whoami().is_master
        assert len(client.list_sub_accounts()) == 4
    assert running.interrupt() == 0


def test_seed_file_is_used(tmp_path: Path, kucoin_cli: list[Running]) -> None:
    """--seed FILE loads masters and sub-accounts from that file."""
    seed = default_seed()
    seed["masters"][0]["api_key"] = "0123456789abcdef01234567"
    seed["masters"][0]["sub_accounts"] = seed["masters"][0]["sub_accounts"][:1]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    running = Running("--seed", str(path))
    kucoin_cli.append(running)
    env = running.settings()
    assert env["KUCOIN_API_KEY"] == "0123456789abcdef01234567"
    with KucoinClient(base_url=env["KUCOIN_API_URL"], api_key=env["KUCOIN_API_KEY"],
                      api_secret=Secret(env["KUCOIN_API_SECRET"]),
                      api_passphrase=Secret(env["KUCOIN_API_PASSPHRASE"]), clock=SystemClock()) as client:
        assert [s.name for s in client.list_sub_accounts()] == ["alpha-trading"]
    assert running.interrupt() == 0


def test_missing_seed_file_is_a_usage_error(tmp_path: Path) -> None:
    """A --seed path that does not exist exits 2 with a one-line message, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox", "kucoin", "--seed", str(tmp_path / "nope.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=30, env=dict(os.environ), check=False,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


class _CtrlCWhenPrompted(io.StringIO):
    """Standard output that a person interrupts with Ctrl-C as the prompt line is printed: the interrupt
    lands before the sandbox starts waiting (seen in CI: exit 130 when the signal came that early)."""

    def write(self, text: str) -> int:
        if text.startswith("Press Ctrl-C") and "interrupted" not in self.getvalue():
            super().write("(interrupted)\n")
            raise KeyboardInterrupt
        return super().write(text)


def test_ctrl_c_before_the_wait_begins_still_stops_it_cleanly() -> None:
    """A Ctrl-C that arrives while the settings are still being printed stops the sandbox with exit 0 and
    its "stopped" line, as one during the wait does."""
    out = _CtrlCWhenPrompted()
    try:
        with contextlib.redirect_stdout(out):
            code = run_kucoin(argparse.Namespace(seed=None, port=0))
    except KeyboardInterrupt:  # reported here, not as pytest's own Ctrl-C
        pytest.fail("the Ctrl-C escaped the sandbox command")
    assert code == 0
    assert out.getvalue().splitlines()[-2:] == ["(interrupted)", "KuCoin sandbox stopped."]
