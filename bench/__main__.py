"""`python -m bench [--quick] [--only PHASE,...]`: run the benchmark, print a table, write JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import acks, audit, failover, growth, killswitch, lifecycle, machine, procs, report, revoke, scene, startup
from bench.collector import held as collector_held
from bench.config import FULL, QUICK, Config

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
Phase = Callable[[Config, Path], dict[str, Any]]
PHASES: dict[str, Phase] = {
    "acks": acks.run,
    "slow_kucoin": acks.run_slow,
    "lifecycle": lifecycle.run,
    "audit": audit.run,
    "revoke": revoke.run,
    "killswitch": killswitch.run,  # issue 16: 500 keys across 100 sub-accounts, the pool on a short window
    "startup": startup.run,
    "failover": failover.run,  # always on PostgreSQL: replicas need it
    "growth": growth.run,
}


def run(cfg: Config, phases: list[str], workdir: Path, *, mode: str = "custom",
        progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run `phases` in order; returns the results with the targets checked."""
    procs.RUN_OPTIONS[:] = [] if cfg.worker else ["--no-worker"]
    scene.SLACK_TLS[:] = [cfg.slack_tls]
    scene.KUCOIN_TLS[:] = [cfg.kucoin_tls]
    try:
        return _run(cfg, phases, workdir, mode, progress)
    finally:
        scene.SLACK_TLS[:] = [False]
        scene.KUCOIN_TLS[:] = [False]


def _run(cfg: Config, phases: list[str], workdir: Path, mode: str, progress: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {"mode": mode, "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                               "machine": machine.describe(), "config": cfg.__dict__,
                               "load_before": _load(), "seconds": {}, "cpu": {}, "bench_collector": {}}
    for name in phases:
        progress(f"{name}...")
        t, cpu = time.perf_counter(), machine.cpu_seconds()
        with collector_held() as held:  # the stand-ins' pauses are not kukey's (bench.collector)
            results[name] = PHASES[name](cfg, workdir / name)
        results["bench_collector"][name] = held
        results["seconds"][name] = round(time.perf_counter() - t, 1)
        results["cpu"][name] = machine.cpu_used(cpu, machine.cpu_seconds(), time.perf_counter() - t)
        progress(f"{name} done in {results['seconds'][name]} s; CPU-s used by other processes meanwhile: "
                 f"{results['cpu'][name]['other_cpu_s']} of {results['cpu'][name]['available_cpu_s']}")
    results["load_after"] = _load()
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = report.targets(results)
    return results


def wait_quiet(limit: float, *, window: float = 5.0, busy: float = 0.1) -> str:
    """Wait until other processes used under `busy` of the CPUs for one `window`, at most `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        before, t = machine.cpu_seconds(), time.perf_counter()
        time.sleep(window)
        used = machine.cpu_used(before, machine.cpu_seconds(), time.perf_counter() - t)
        share = used["other_cpu_s"] / used["available_cpu_s"]
        if share < busy or time.monotonic() > deadline:
            return f"other processes used {100 * share:.0f}% of the CPUs in the last {window:g} s"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts: about a minute")
    parser.add_argument("--only", metavar="PHASES", help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite",
                        help="kukey's database in every phase (PostgreSQL: a server the bench starts)")
    parser.add_argument("--no-worker", action="store_true",
                        help="run kukey with --no-worker: the work behind the acks in the serving process")
    parser.add_argument("--slack-tls", action="store_true",
                        help="the Slack fake on HTTPS, as Slack is (its own CA, trusted through SSL_CERT_FILE)")
    parser.add_argument("--kucoin-tls", action="store_true",
                        help="the KuCoin sandbox on HTTPS, as KuCoin is (its own CA, trusted through SSL_CERT_FILE)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (databases, bot logs)")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="first wait up to SECONDS for other processes to leave the CPUs (mostly) idle")
    args = parser.parse_args(argv)
    phases = args.only.split(",") if args.only else list(PHASES)
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(unknown)}")
    if args.wait_quiet:
        print(f"[bench] {wait_quiet(args.wait_quiet)}", file=sys.stderr, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="kukey-bench-"))
    try:
        cfg = dataclasses.replace(QUICK if args.quick else FULL, db=args.db, worker=not args.no_worker,
                                  slack_tls=args.slack_tls, kucoin_tls=args.kucoin_tls)
        results = run(cfg, phases, workdir, mode="quick" if args.quick else "full",
                      progress=lambda line: print(f"[bench] {line}", file=sys.stderr, flush=True))
    finally:
        if args.keep:
            print(f"[bench] work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(report.table(results))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
