"""Issue 8, point 4: the audit log's append rate, and verifying 1,000,000 events.

The big log is built directly (setup, timed but not a target): events shaped like kukey's own, chained with
bot.storage.audit_chain's content() and sign() (the functions AuditLog.record uses), inserted in large
transactions. Verifying uses the real bot.storage.audit.verify, and `kukey audit verify` as a process.
Appends go through AuditLog.record on that log: one event per transaction (as kukey writes them, each
with the state change it records) and 1,000 per transaction.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from bench.config import Config
from bot.domain.clock import SystemClock
from bot.security.crypto import key_id
from bot.storage import audit, audit_verify
from bot.storage.audit_chain import COLUMNS, GENESIS, content, sign
from bot.storage.db import init_db, make_engine, session_scope

_INSERT = f"INSERT INTO audit_event ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
_TEMPLATES: list[tuple[str, str, str | None, str]] = [
    ("request.created", "U0ALICE01", None,
     '{"approvals_needed":1,"expire_days":30,"ips":"203.0.113.5","kind":"create",'
     '"permissions":"General,Spot","reason":"market making bot"}'),
    ("request.approval", "U0BOB0001", None, '{"approvals":1,"needed":1,"step":58412345}'),
    ("key.created", "kukey", "65b2c3d4e5f60718293a4b5c",
     '{"expire_days":30,"ips":"203.0.113.5","permissions":"General,Spot"}'),
    ("key.revealed", "U0ALICE01", "65b2c3d4e5f60718293a4b5c", '{"delivery":"response_url"}'),
    ("totp.failed", "U0EVE0001", None, '{"failures":1,"purpose":"approve"}'),
]


def run(cfg: Config, home: Path) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    master = os.urandom(32)
    path = home / "audit.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        init_db(engine)
        build = build_log(path, master, cfg.audit_events)
        verify = timed_verify(engine, master, cfg.audit_events)
        single = timed_verify(engine, master, cfg.audit_events, workers=1)
        cli = cli_verify(path, master, cfg.audit_events)
        appends = append_rates(engine, master, cfg)
        return {"events": cfg.audit_events, "db_mb": round(path.stat().st_size / 2**20, 1), "build": build,
                "verify": verify, "verify_one_process": single, "cli_verify": cli, **appends}
    finally:
        engine.dispose()


def build_log(path: Path, master: bytes, count: int, *, batch: int = 50_000) -> dict[str, Any]:
    """Append `count` chained events with raw SQL in transactions of `batch`."""
    started = time.perf_counter()
    insert_events(path, events(master, count), batch=batch)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "events_per_s": round(count / seconds)}


def insert_events(path: Path, rows: Iterator[tuple[Any, ...]], *, batch: int = 50_000) -> None:
    """Insert audit rows (in COLUMNS order) into the SQLite file at `path` in transactions of `batch`."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA synchronous=OFF")  # setup only: kukey itself writes with synchronous=FULL
        while True:
            chunk = list(islice(rows, batch))
            if not chunk:
                break
            db.execute("BEGIN IMMEDIATE")
            db.executemany(_INSERT, chunk)
            db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a log this size has long been checkpointed


def _subject(seq: int) -> tuple[str, str]:
    return f"KK-{seq % 10**8:08d}", "alpha-trading"


def events(master: bytes, count: int, *, start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
           spacing: timedelta = timedelta(milliseconds=1),
           subject: Callable[[int], tuple[str, str]] = _subject) -> Iterator[tuple[Any, ...]]:
    """`count` events shaped like kukey's, chained and signed with `master`'s audit key as AuditLog.record
    signs them, as rows in COLUMNS order; event `seq` is at start + seq * spacing, about subject(seq)
    (its request id and sub-account)."""
    audit_key, kid = audit.audit_key_for(master), key_id(master)
    prev = GENESIS
    for seq in range(1, count + 1):
        action, actor, api_key, detail = _TEMPLATES[seq % len(_TEMPLATES)]
        request_id, sub_account = subject(seq)
        row: dict[str, Any] = {"seq": seq, "ts": audit.format_ts(start + seq * spacing), "actor": actor,
               "action": action, "request_id": request_id, "sub_account": sub_account, "api_key": api_key,
               "outcome": "ok", "detail": detail, "key_id": kid, "prev_hash": prev}
        row["hash"] = prev = sign(audit_key, content(**row))
        yield tuple(row[c] for c in COLUMNS)


def timed_verify(engine: Any, master: bytes, count: int, *, workers: int | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    result = audit_verify.verify(engine, master_key=master, workers=workers)
    seconds = time.perf_counter() - started
    return {"ok": result.ok, "count": result.count, "seconds": round(seconds, 2),
            "events_per_s": round(count / seconds), "workers": workers or "default"}


def cli_verify(path: Path, master: bytes, count: int) -> dict[str, Any]:
    """`kukey audit verify` in its own process: interpreter start, imports and all."""
    env = {**os.environ, "KUKEY_DATABASE_URL": f"sqlite:///{path}",
           "KUKEY_MASTER_KEY": base64.b64encode(master).decode()}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bot", "audit", "verify"], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    seconds = time.perf_counter() - started
    return {"exit": done.returncode, "said": done.stdout.strip().split(";")[0], "seconds": round(seconds, 2),
            "events_per_s": round(count / seconds)}


def append_rates(engine: Any, master: bytes, cfg: Config) -> dict[str, Any]:
    log = audit.AuditLog(master, SystemClock())
    detail = {"kind": "create", "permissions": "General,Spot", "ips": "203.0.113.5", "reason": "benchmark"}

    def one(s: Any, i: int) -> None:
        log.record(s, "request.created", actor="U0ALICE01", request_id=f"KK-B{i:07d}", sub_account="alpha-trading",
                   detail=detail)

    started = time.perf_counter()
    for i in range(cfg.audit_appends):
        with session_scope(engine) as s:
            one(s, i)
    single = time.perf_counter() - started
    started = time.perf_counter()
    done = 0
    while done < cfg.audit_batch:
        with session_scope(engine) as s:
            for _ in range(min(1000, cfg.audit_batch - done)):
                one(s, done)
                done += 1
    batched = time.perf_counter() - started
    n, m = cfg.audit_appends, cfg.audit_batch
    return {"append_one_per_transaction": {"events": n, "events_per_s": round(n / single),
                                           "ms_per_event": round(single / n * 1000, 3)},
            "append_1000_per_transaction": {"events": m, "events_per_s": round(m / batched),
                                            "ms_per_event": round(batched / m * 1000, 3)}}
