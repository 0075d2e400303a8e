"""The revoke's Python floor: the same deletes sent by the bare KuCoin client, all at once, from a fresh
process that already talked to KuCoin (clock synced, rate-limit budget known), without kukey's command,
TOTP check, database or job. `python -m bench.direct`, spec as JSON on stdin, result as JSON on stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.procs import python_env
from bot.domain.clock import SystemClock
from bot.domain.secret import Secret
from bot.kucoin.client import KucoinClient


def delete_all(spec: dict[str, Any]) -> dict[str, float]:
    creds = spec["credentials"]
    with KucoinClient(base_url=spec["url"], api_key=creds[0], api_secret=Secret(creds[1]),
                      api_passphrase=Secret(creds[2]), clock=SystemClock()) as client:
        client.list_keys(spec["sub_account"])  # clock offset and the pool's budget, as a running bot has them
        keys: list[tuple[str, str]] = [(str(k), str(p)) for k, p in spec["keys"]]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(keys)) as pool:
            list(pool.map(lambda k: client.delete_key(spec["sub_account"], k[0], Secret(k[1])), keys))
        return {"started": started, "all_answered": time.perf_counter()}


def run_in_process(spec: dict[str, Any]) -> subprocess.Popen[str]:
    """Start the deletes in their own process; read the result with `result(proc)`."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.direct"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=python_env())
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec) + "\n")  # one line: the child starts once it has read it
    proc.stdin.flush()
    return proc


def result(proc: subprocess.Popen[str], timeout: float = 120.0) -> dict[str, float]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"direct deletes failed ({proc.returncode}): {err[-2000:]}")
    return dict(json.loads(out))


def main() -> int:
    json.dump(delete_all(json.loads(sys.stdin.readline())), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
