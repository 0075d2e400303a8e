"""The bench process's own garbage collector, held while a phase measures kukey.

The bench process hosts the stand-ins for Slack and KuCoin (the fake and the sandbox, with every message
and key they keep) and the drivers. Its full collections grew with what the stand-ins held: 100 to 450 ms
each, several a minute, in the acks phase (measured with `gc.callbacks`, 2026-12-02). For that long the
fake and the sandbox answer nobody, so a post that kukey sent on time was stamped late and KuCoin's calls
took longer, and kukey's figures carried a pause that was not kukey's (the approvals post p99 at 20/s missed
its target in full runs with a cluster of posts 0.1-0.8 s late, never in the same part run alone).

`held()` collects once, freezes what is there (the worlds of earlier phases, imported modules) and turns
automatic collection off until the phase ends; it counts any collection that still happens (an explicit
`gc.collect()` somewhere) and reads the process's peak RSS, so the report shows what the hold cost.
kukey's own processes are not touched: they run their collector as in production.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator
from typing import Any

from bench import procs


@contextlib.contextmanager
def held() -> Iterator[dict[str, Any]]:
    """Automatic collection off in this process for the block; yields what it saw, filled in at the end:
    collections that ran anyway, the longest of them (ms), and this process's peak RSS (MB)."""
    seen: dict[str, Any] = {"collections": 0, "longest_ms": 0.0}
    started: list[float] = []

    def probe(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            seen["collections"] += 1
            seen["longest_ms"] = max(seen["longest_ms"], round((time.perf_counter() - started[0]) * 1000, 1))

    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    gc.callbacks.append(probe)
    try:
        yield seen
    finally:
        gc.callbacks.remove(probe)
        seen["peak_rss_mb"] = round(procs.proc_status(os.getpid())["VmHWM"] / 1024, 1)
        gc.unfreeze()
        if was_enabled:
            gc.enable()
        gc.collect()
