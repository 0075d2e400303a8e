"""Processes under test: `kukey run --http` and the bare Bolt app, each its own Python process on ports
picked beforehand (Slack's and the ops port), ready when GET /readyz on the ops port answers 200; RSS read
from /proc/<pid>/status."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.slack.http import EVENTS_PATH

ROOT = Path(__file__).resolve().parents[1]


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment plus `extra`, with the repository on PYTHONPATH (for `-m bench.*` from anywhere)."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ready(ops_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/readyz", timeout=1.0) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS) and Threads from /proc/<pid>/status (kB, kB, count)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "Threads"):
            out[name] = int(value.split()[0])
    return out


@dataclass
class Served:
    """A process serving Slack requests on 127.0.0.1:port."""

    proc: subprocess.Popen[bytes]
    port: int
    ops_port: int
    log_path: Path
    ready_after: float  # seconds from spawn until /readyz answered

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{EVENTS_PATH}"

    def status(self) -> dict[str, int]:
        return proc_status(self.proc.pid)

    def stop(self, *, kill: bool = False, timeout: float = 30.0) -> None:
        """SIGTERM (kukey drains its worker pool), SIGKILL if `kill` or after `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def spawn(args: list[str], env: Mapping[str, str], log_path: Path, *, ops_port: int,
          ready_timeout: float = 30.0) -> Served:
    """Start `python <args> --port N` and wait until /readyz on `ops_port` answers 200."""
    port = free_port()
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *args, "--port", str(port)], env=python_env(env),
                                stdout=log, stderr=subprocess.STDOUT)
    served = Served(proc, port, ops_port, log_path, 0.0)
    deadline = started + ready_timeout
    while not ready(ops_port):
        if proc.poll() is not None or time.perf_counter() > deadline:
            served.stop(kill=True)
            raise RuntimeError(f"{' '.join(args)} did not become ready:\n{_tail(log_path)}")
        time.sleep(0.005)
    served.ready_after = time.perf_counter() - started
    return served


RUN_OPTIONS: list[str] = []  # more options for `kukey run` in every phase (bench --no-worker)


def spawn_kukey(env: Mapping[str, str], log_path: Path) -> Served:
    ops_port = free_port()
    return spawn(["-m", "bot", "run", "--http", "--host", "127.0.0.1", *RUN_OPTIONS],
                 {**env, "KUKEY_METRICS_PORT": str(ops_port)}, log_path, ops_port=ops_port)


def spawn_bare(env: Mapping[str, str], log_path: Path) -> Served:
    ops_port = free_port()
    return spawn(["-m", "bench.bare", "--ops-port", str(ops_port)], env, log_path, ops_port=ops_port)


def _tail(path: Path, chars: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-chars:]
    return ""
