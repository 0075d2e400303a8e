"""A throwaway PostgreSQL server for the suite: the real server programs, started and stopped by the tests.

PostgreSQL 15's `initdb`, `pg_ctl` and `postgres` are installed on every machine this project runs on,
CI's included, but nothing runs them. `PostgresServer` makes a cluster in a fresh directory, starts it on
127.0.0.1 on a free port (fsync off: the data is thrown away), and stops it afterwards. The server
refuses to run as root; when the suite runs as root, the cluster is made and run as the `postgres`
system user (runuser), as the issue's environment provides.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

START_TIMEOUT_S = 60
SUPERUSER = "kukey_admin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def available() -> str | None:
    """Why the server cannot run here, or None when it can."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        return "the PostgreSQL server programs (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres system user to run the server as"
    return None


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="kukey-pg-"))
        self.data = self.dir / "data"
        self.port = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", "postgres", "--", *args] if self._as_postgres else list(args)
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                              env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C.UTF-8")
        for _ in range(5):  # a port taken between choosing and binding: try another
            self.port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options,
                          "-w", "-t", str(START_TIMEOUT_S), "start")
                return self
            except RuntimeError:
                if "could not bind" not in self.log():
                    raise
        raise RuntimeError("PostgreSQL could not find a free port:\n" + self.log())

    def log(self) -> str:
        try:
            return (self.dir / "server.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def url(self, database: str = "postgres", *, user: str = SUPERUSER, password: str = "") -> str:
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"postgresql+psycopg://{auth}127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database,
                             autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # test-made SQL, never user input

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL (psycopg 3)."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):  # already gone is fine
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        deadline = time.monotonic() + 10
        while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
