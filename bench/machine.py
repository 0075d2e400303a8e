"""The machine a run happened on: CPUs, CPU model, memory, Python, kernel."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def describe() -> dict[str, Any]:
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "ram_gib": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
    }


def cpu_seconds() -> dict[str, float]:
    """Busy and stolen CPU seconds of the whole machine (/proc/stat), and this process's with its
    finished children's (os.times): their difference is what other processes used meanwhile."""
    hz = os.sysconf("SC_CLK_TCK")
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    own = os.times()
    return {"machine_busy": (user + nice + system + irq + softirq) / hz, "steal": steal / hz,
            "bench": own.user + own.system + own.children_user + own.children_system}


def cpu_used(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, float]:
    busy = after["machine_busy"] - before["machine_busy"]
    bench = after["bench"] - before["bench"]
    return {"wall_s": round(wall, 1), "available_cpu_s": round(wall * len(os.sched_getaffinity(0)), 1),
            "bench_cpu_s": round(bench, 1), "other_cpu_s": round(max(busy - bench, 0.0), 1),
            "steal_s": round(after["steal"] - before["steal"], 1)}
