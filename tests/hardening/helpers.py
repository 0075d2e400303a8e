"""What the hardening tests share: a picture of everything the bot holds, raw HTTP, signed payloads."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode, urlsplit

from kukey_sandbox.slack.driver import Ack, SlackDriver
from kukey_sandbox.world import KukeyWorld
from tests.databases import rows

SUB_ACCOUNTS = ("alpha-trading", "beta-spot", "gamma-frozen", "delta-research")


def snapshot(world: KukeyWorld) -> dict[str, Any]:
    """Every row that matters (requests, approvals, keys, jobs, TOTP uses), the audit log's count and head
    hash, and the keys KuCoin holds: equal snapshots mean nothing happened."""
    url = world.database_url
    tables = ("request", "approval", "api_key", "job", "totp_use", "enrollment")
    found = {table: rows(url, f"SELECT * FROM {table} ORDER BY 1") for table in tables}  # noqa: S608 - fixed names
    head = rows(url, "SELECT count(*), (SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1) FROM audit_event")[0]
    kucoin = {sub: sorted(k["api_key"] for k in world.sandbox.keys(sub)) for sub in SUB_ACCOUNTS}
    return {"rows": found, "audit": head, "kucoin": kucoin}


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs between two snapshots, table by table ({} when nothing does)."""
    out: dict[str, Any] = {}
    for table in before["rows"]:
        gone = [r for r in before["rows"][table] if r not in after["rows"][table]]
        new = [r for r in after["rows"][table] if r not in before["rows"][table]]
        if gone or new:
            out[table] = {"before": gone, "after": new}
    for part in ("audit", "kucoin"):
        if before[part] != after[part]:
            out[part] = {"before": before[part], "after": after[part]}
    return out


def audit_actions(world: KukeyWorld, *, since: int = 0) -> list[str]:
    """The audit log's actions after event number `since`, in order."""
    return [r[0] for r in rows(world.database_url, "SELECT action FROM audit_event WHERE seq > ? ORDER BY seq",
                               (since,))]


def posted(world: KukeyWorld) -> bool:
    """Every request's approval post is recorded (the bot stores its ts a moment after posting it)."""
    return not rows(world.database_url, "SELECT 1 FROM request WHERE thread_ts IS NULL AND NOT incident")


def audit_count(world: KukeyWorld) -> int:
    return int(rows(world.database_url, "SELECT count(*) FROM audit_event")[0][0])


def form(payload: dict[str, Any]) -> bytes:
    """An interaction as Slack posts it: `payload=<json>` form-encoded."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def send_signed(driver: SlackDriver, body: bytes) -> Ack:
    return driver.send_raw(body, driver.signed_headers(body))


def exchange(url: str, head: str, body: bytes = b"") -> int:
    """Write one raw HTTP request (`head` is the request line and headers, without the blank line) and
    return the status the server answers; for requests urllib would not send as they are."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n\r\n" + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def concurrently(calls: Iterable[Callable[[], Any]], workers: int = 20) -> list[Any]:
    """Run every call at once (one thread each, up to `workers`) and return their results in order."""
    calls = list(calls)
    with ThreadPoolExecutor(max_workers=min(workers, len(calls))) as pool:
        return list(pool.map(lambda call: call(), calls))
