"""The audit chain's arithmetic: the signed bytes of an event, its HMAC, and the streaming walk.

Standard library only (no SQLAlchemy), so that bot.storage.audit.verify() can hand seq ranges of a
large log to worker processes that start quickly. See bot.storage.audit for the design.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.domain.actions import AuditAction

GENESIS = "0" * 64
REKEYED = AuditAction.AUDIT_REKEYED.value
COLUMNS = ("seq", "ts", "actor", "action", "request_id", "sub_account", "api_key", "outcome",
           "detail", "key_id", "prev_hash", "hash")
SELECT_RANGE = f"SELECT {', '.join(COLUMNS)} FROM audit_event WHERE seq >= ? AND seq <= ? ORDER BY seq"  # noqa: S608
SELECT_REKEYS = f"SELECT seq, detail FROM audit_event WHERE action = '{REKEYED}' ORDER BY seq"  # noqa: S608

_TEMPLATE = ('{"action":%s,"actor":%s,"api_key":%s,"detail":%s,"key_id":%s,"outcome":%s,"prev_hash":%s,'
             '"request_id":%s,"seq":%d,"sub_account":%s,"ts":%s}')
_jstr = json.encoder.encode_basestring_ascii


def content(seq: int, ts: str, actor: str, action: str, request_id: str | None, sub_account: str | None,
            api_key: str | None, outcome: str, detail: str, key_id: str, prev_hash: str) -> bytes:
    """The signed bytes: canonical JSON of every field but `hash`. Byte for byte what json.dumps gives
    with sort_keys, separators (",", ":") and ensure_ascii; written out because verify runs it 10^6 times."""
    j = _jstr
    return (_TEMPLATE % (
        j(action), j(actor), "null" if api_key is None else j(api_key), j(detail), j(key_id), j(outcome),
        j(prev_hash), "null" if request_id is None else j(request_id), seq,
        "null" if sub_account is None else j(sub_account), j(ts),
    )).encode("ascii")


def sign(audit_key: bytes, message: bytes) -> str:
    """Hex HMAC-SHA256."""
    return hmac.digest(audit_key, message, hashlib.sha256).hex()


def rekeys(rows: Iterable[tuple[Any, Any]]) -> dict[str, int]:
    """Key id -> seq of the first "audit.rekeyed" event that retired it (read before verifying: a forged
    rekey event fails its own check, which comes first)."""
    retired: dict[str, int] = {}
    for seq, detail in rows:
        try:
            old = json.loads(detail).get("old_key_id")
        except (TypeError, ValueError, AttributeError):
            continue
        if isinstance(old, str):
            retired.setdefault(old, int(seq))
    return retired


@dataclass(frozen=True)
class Span:
    """The outcome of walking seq range lo..hi: `good` events verified before `problem` (if any)."""

    lo: int
    good: int
    first_prev: str | None  # prev_hash of event `lo`, for linking to the range before
    last_hash: str | None
    bad_seq: int | None = None
    problem: str = ""


def walk(rows: Iterable[tuple[Any, ...]], *, lo: int, hi: int, prev: str | None,
         keys: Mapping[str, bytes | None], retired: Mapping[str, int], current_id: str,
         checkpoint: tuple[int, str] | None) -> Span:
    """Verify events lo..hi in seq order; `prev` is the hash event lo must link to (None: the caller
    links it). Stops at the first broken event."""
    bases = {kid: hmac.new(key, digestmod=hashlib.sha256) for kid, key in keys.items() if key is not None}
    cp_seq, cp_hash = checkpoint or (0, "")
    expected, first_prev, last = lo, None, prev

    def bad(seq: int, problem: str) -> Span:
        return Span(lo, expected - lo, first_prev, last, seq, problem)

    for seq, ts, actor, action, req, sub, api, outcome, detail, kid, prev_hash, mac in rows:
        if seq != expected:
            if isinstance(seq, int) and seq > expected:
                return bad(expected, _missing(expected))
            return bad(seq, f"event {seq} appears out of order after event {expected - 1}: inserted")
        if seq == lo:
            first_prev = prev_hash
        if (seq != lo or prev is not None) and prev_hash != last:
            return bad(seq, unlinked(seq))
        base = bases.get(kid)
        if base is None:
            return bad(seq, f"event {seq} is signed with key {kid!r}, which the current master key "
                            f"(id {current_id}) cannot verify: forged, or the wrong master key")
        if kid in retired and seq > retired[kid]:
            return bad(seq, f"event {seq} is signed with key {kid}, retired at event {retired[kid]}: forged")
        h = base.copy()
        try:
            h.update(content(seq, ts, actor, action, req, sub, api, outcome, detail, kid, prev_hash))
        except (TypeError, ValueError):
            return bad(seq, f"event {seq} has a malformed field: edited")
        if h.hexdigest() != mac:
            return bad(seq, f"event {seq} does not match its hash: edited, or forged without the key")
        if seq == cp_seq and mac != cp_hash:
            return bad(seq, f"event {seq} differs from the checkpoint: the log was rewritten")
        last, expected = mac, expected + 1
    if expected <= hi:
        return bad(expected, _missing(expected))
    return Span(lo, expected - lo, first_prev, last)


def walk_db(conn: Any, lo: int, hi: int, keys: Mapping[str, bytes | None], retired: Mapping[str, int],
            current_id: str, checkpoint: tuple[int, str] | None) -> Span:
    """walk() over seq lo..hi of an open sqlite3 connection (from lo=1: also anything below 1)."""
    rows = conn.execute(SELECT_RANGE, (lo if lo > 1 else -(2**63), hi))
    return walk(rows, lo=lo, hi=hi, prev=GENESIS if lo == 1 else None, keys=keys, retired=retired,
                current_id=current_id, checkpoint=checkpoint)


def walk_file(path: str, lo: int, hi: int, keys: Mapping[str, bytes | None], retired: Mapping[str, int],
              current_id: str, checkpoint: tuple[int, str] | None) -> Span:
    """walk_db() on its own read-only connection: what a worker process runs."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")
        return walk_db(conn, lo, hi, keys, retired, current_id, checkpoint)
    finally:
        conn.close()


def join(spans: Iterable[Span]) -> Span:
    """Combine consecutive spans (the first linked to GENESIS) into one, naming the first problem."""
    good, last = 0, GENESIS
    for span in spans:
        if span.first_prev is not None and span.lo > 1 and span.first_prev != last:
            return Span(1, good, GENESIS, last, span.lo, unlinked(span.lo))
        if span.bad_seq is not None:
            return Span(1, good + span.good, GENESIS, span.last_hash if span.good else last,
                        span.bad_seq, span.problem)
        good, last = good + span.good, span.last_hash or last
    return Span(1, good, GENESIS, last)


def _missing(seq: int) -> str:
    return f"event {seq} is missing: deleted"


def unlinked(seq: int) -> str:
    before = "the start of the log" if seq == 1 else f"event {seq - 1}"
    return (f"event {seq} does not link to {before} (prev_hash differs): reordered, inserted, "
            f"or {before} was replaced")


def walk_parallel(path: str, hi: int, workers: int, keys: Mapping[str, bytes | None],
                  retired: Mapping[str, int], current_id: str,
                  checkpoint: tuple[int, str] | None) -> Span | None:
    """Split 1..hi into `workers` ranges, each walked by a `python -m bot.storage.audit_chain` process
    (keys go over stdin, never argv); None if any worker failed, so the caller walks it alone."""
    size = -(-hi // workers)
    job = {"path": path, "keys": {k: v.hex() if v else None for k, v in keys.items()}, "retired": retired,
           "current_id": current_id, "checkpoint": checkpoint}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))
    procs = []
    for lo in range(1, hi + 1, size):
        proc = subprocess.Popen([sys.executable, "-m", "bot.storage.audit_chain"], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(proc)
        assert proc.stdin is not None
        with proc.stdin:
            proc.stdin.write(json.dumps({**job, "lo": lo, "hi": min(hi, lo + size - 1)}).encode())
    spans: list[Span | None] = []
    for proc in procs:
        assert proc.stdout is not None
        with proc.stdout:
            out = proc.stdout.read()
        spans.append(Span(**json.loads(out)) if proc.wait() == 0 and out else None)
    return None if None in spans else join(s for s in spans if s is not None)


def _worker() -> None:
    job = json.loads(sys.stdin.buffer.read())
    keys = {k: bytes.fromhex(v) if v else None for k, v in job["keys"].items()}
    checkpoint = (int(job["checkpoint"][0]), str(job["checkpoint"][1])) if job["checkpoint"] else None
    span = walk_file(job["path"], job["lo"], job["hi"], keys, job["retired"], job["current_id"],
                     checkpoint)
    sys.stdout.write(json.dumps(asdict(span)))


if __name__ == "__main__":
    _worker()
