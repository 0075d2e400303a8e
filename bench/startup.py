"""Issue 8, point 6: time from starting `kukey run --http` until /readyz answers, and the memory (RSS) of
the idle bot once its start-up work (clock sync, sub-account list) is done."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench import pg, procs
from bench.config import Config
from bench.scene import Scene
from kukey_sandbox.replicas import children


def run(cfg: Config, home: Path) -> dict[str, Any]:
    runs = []
    with Scene(home, database_url=pg.database_url(cfg)) as scene:
        for i in range(cfg.startups):
            served = scene.start_bot()
            try:
                scene.wait_started()
                idle_until = time.monotonic() + cfg.startup_idle
                while time.monotonic() < idle_until:  # idle: nobody talks to the bot
                    time.sleep(0.1)
                status = served.status()
                workers = [procs.proc_status(p) for p in children(served.proc.pid)]
            finally:
                scene.stop_bot()
            runs.append({"first_start": i == 0, "ready_s": round(served.ready_after, 3),
                         "rss_mb": round(status["VmRSS"] / 1024, 1), "peak_rss_mb": round(status["VmHWM"] / 1024, 1),
                         "threads": status["Threads"],
                         # `kukey run`'s worker process (bot.cli.worker), if any: its memory counts too
                         "worker_rss_mb": round(sum(w["VmRSS"] for w in workers) / 1024, 1)})
    return {"runs": runs, "ready_s_median": round(statistics.median(r["ready_s"] for r in runs), 3),
            "rss_mb_median": round(statistics.median(r["rss_mb"] for r in runs), 1),
            "note": "ready = from spawning the process until GET /readyz answers 200 on the ops port (DB created "
                    "on the first start); RSS read from /proc/<pid>/status after the start-up calls and "
                    f"{cfg.startup_idle:g} s idle"}

