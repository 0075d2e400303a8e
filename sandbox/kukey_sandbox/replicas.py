"""Replicas: `kukey run` processes on one database (real processes, real clock), as a deployment runs them.

HTTP mode: every replica serves /slack/events on its own port and `RoundRobin` plays the load balancer in
front of them: each request goes to the next replica, and one that refuses the connection (killed) is
skipped, as a load balancer's health checks and connect retries do. Socket Mode: each replica opens its
own connections to the Slack fake, which gives every envelope to one of all the open connections.
`Replica.kill()` is kill -9: no shutdown code runs, exactly like a crash.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kukey_sandbox.slack.driver import Ack, SlackDriver
from kukey_sandbox.slack.failures import SlackDriverError
from kukey_sandbox.slack.fake import SlackFake

START_TIMEOUT_S = 60.0
_LISTENING = re.compile(r"listening on (http://\S+/slack/events)")
_CONNECTED = "connected to Slack (Socket Mode)"


@dataclass
class Replica:
    """One `kukey run` process and what it printed."""

    name: str
    process: subprocess.Popen[str]
    url: str = ""  # HTTP mode: its /slack/events; "" in Socket Mode
    output: list[str] = field(default_factory=list)
    _started: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Collect the process's output until it ends, noting when it has started serving."""
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self.output.append(line)
                match = _LISTENING.search(line)
                if match:
                    self.url = match.group(1)
                if match or _CONNECTED in line:
                    self._started.set()
        self._started.set()  # the process ended: wait_started says whether it had started

    def wait_started(self, timeout: float = START_TIMEOUT_S) -> Replica:
        if not self._started.wait(timeout) or not (self.url or any(_CONNECTED in line for line in self.output)):
            self.kill()
            raise AssertionError(f"`kukey run` ({self.name}) did not start:\n" + "".join(self.output))
        return self

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """kill -9."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)


def start(spawn: Callable[..., subprocess.Popen[str]], count: int, *, http: bool = True,
          extra_env: dict[str, str] | None = None, first: int = 0) -> list[Replica]:
    """Start `count` replicas at once with `spawn` (KukeyWorld.spawn) and wait until each serves."""
    args = ("run", "--http", "--host", "127.0.0.1", "--port", "0") if http else ("run",)
    replicas = [Replica(f"replica-{first + i}", spawn(*args, extra_env=extra_env)) for i in range(count)]
    return [replica.wait_started() for replica in replicas]


class RoundRobin(SlackDriver):
    """The SlackDriver behind a round-robin load balancer over the replicas' URLs. `sent` lists, in order,
    the URL each request was answered by."""

    def __init__(self, fake: SlackFake, replicas: Callable[[], list[Replica]], *, ack_timeout: float = 3.0) -> None:
        self._replicas = replicas
        first = next((r.url for r in replicas() if r.url), "")
        super().__init__(fake, url=first, ack_timeout=ack_timeout)
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.sent: list[str] = []

    def _post(self, body: bytes, headers: dict[str, str]) -> Ack:
        urls = [r.url for r in self._replicas() if r.url]
        with self._lock:
            start = next(self._turn)
        for i in range(len(urls)):
            url = urls[(start + i) % len(urls)]
            try:
                ack = SlackDriver(self.fake, url=url, ack_timeout=self.ack_timeout)._post(body, headers)
            except SlackDriverError as exc:
                if "cannot reach" in str(exc):
                    continue  # a dead replica: the load balancer tries the next one
                raise
            with self._lock:
                self.sent.append(url)
            return ack
        raise SlackDriverError(f"no replica accepts connections ({len(urls)} tried)")

    def last_replica(self) -> Replica:
        """The replica that answered the most recent request."""
        with self._lock:
            url = self.sent[-1]
        return next(r for r in self._replicas() if r.url == url)


def children(pid: int) -> list[int]:
    """The live child processes of process `pid` (`kukey run`'s worker; Linux: each of its threads lists
    those it started)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            found += [int(p) for p in (task / "children").read_text().split()]
    return [p for p in found if running(p)]


def running(pid: int) -> bool:
    """Process `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z"
    except FileNotFoundError:
        return False


def holding(replicas: list[Replica], local_port: int, remote_port: int) -> Replica:
    """The live replica one of whose processes (`kukey run` or its worker) holds the open TCP connection
    from `local_port` to `remote_port` on this host: the one whose call a stand-in is answering (it records
    each request's client port). A failover test kills that one: the replica that answered the last Slack
    request may have left the job to another replica's scheduler."""
    inodes = _inodes(local_port, remote_port)
    for replica in replicas:
        if replica.alive() and any(_socket_inodes(pid) & inodes
                                   for pid in (replica.process.pid, *children(replica.process.pid))):
            return replica
    raise AssertionError(f"no live replica holds a connection from port {local_port} to port {remote_port}")


def _inodes(local_port: int, remote_port: int) -> set[str]:
    """Socket inodes of the established TCP connections (IPv4 and IPv6) from `local_port` to `remote_port`."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                ports = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
                if fields[3] == "01" and ports == (local_port, remote_port):  # 01: ESTABLISHED
                    found.add(fields[9])
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
    return inodes
