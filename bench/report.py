"""Targets of issue 8 checked against a run's results, and the run printed as a table."""

from __future__ import annotations

from typing import Any

from bench import growth
from bench.revoke import CASES as REVOKE_CASES

ACK_P99_MS = 100.0  # at 50 concurrent senders
VS_BARE = 1.5  # kukey's p99 within 1.5 times the bare Bolt app's
POST_DELAY_MS = 200.0  # issue 16: a create's approvals post within 200 ms of its ack (p99)
SLOW_SAME = 1.2  # "unchanged" while KuCoin is slow: p99 within 1.2x (or +5 ms) of the normal run's
LIFECYCLE_MS = {"SQLite": 50.0, "PostgreSQL": 75.0}  # issue 16.2, by kukey's database
VERIFY_PER_S = 200_000
REVOKE_VS_FLOOR = 1.2
FAILOVER_S = 15.0  # issue 14: a survivor finishes a dead replica's incident revoke within 15 s
KILL_VS_FLOOR = 1.1  # issue 16: the kill switch within 1.1x the Management pool's floor
KILL_PROGRESS_GAP_S = 5.0  # issue 16: its progress message updated at least every 5 s


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it was met (only for phases that ran)."""
    out: list[dict[str, Any]] = []

    def add(name: str, measured: Any, met: bool) -> None:
        out.append({"target": name, "measured": measured, "met": bool(met)})

    acks = r.get("acks")
    if acks:
        bare = {row["concurrency"]: row for row in acks["bare"]}
        kukey = {row["concurrency"]: row for row in acks["kukey"]}
        top = max(kukey)
        add(f"ack p99 < {ACK_P99_MS:g} ms at {top} concurrent", f"{kukey[top]['p99']} ms",
            kukey[top]["p99"] < ACK_P99_MS)
        for level, row in kukey.items():
            ratio = row["p99"] / bare[level]["p99"]
            add(f"kukey p99 <= {VS_BARE}x bare Bolt at {level} concurrent", f"{ratio:.2f}x", ratio <= VS_BARE)
        steady = acks.get("kukey_steady")
        if steady and steady.get("post_delay_ms"):
            delay = steady["post_delay_ms"]["p99"]
            add(f"approvals post p99 < {POST_DELAY_MS:g} ms after the ack at {steady['rate']:g} creates/s",
                f"{delay} ms", delay < POST_DELAY_MS)
    slow = r.get("slow_kucoin")
    if slow and acks:
        normal = {row["concurrency"]: row for row in acks["kukey"]}
        for row in slow["kukey"]:
            base = normal[row["concurrency"]]["p99"]
            add(f"ack p99 unchanged with KuCoin at {row['kucoin_latency_s']:g} s, {row['concurrency']} concurrent",
                f"{row['p99']} ms vs {base} ms", row["p99"] <= max(SLOW_SAME * base, base + 5))
    if slow:
        life = slow["lifecycles"]
        add("every lifecycle completes while KuCoin is slow", f"{life['completed']} of {life['lifecycles']}",
            life["completed"] == life["lifecycles"])
    lifecycle = r.get("lifecycle")
    if lifecycle:
        median = lifecycle["total_ms"]["p50"]
        limit = LIFECYCLE_MS[_db(r)]
        add(f"lifecycle median < {limit:g} ms ({_db(r)})", f"{median} ms", median < limit)
    audit = r.get("audit")
    if audit:
        rate = audit["verify"]["events_per_s"]
        add(f"audit verify >= {VERIFY_PER_S:,} events/s", f"{rate:,}/s", rate >= VERIFY_PER_S)
        rate = audit["cli_verify"]["events_per_s"]
        add(f"`kukey audit verify` >= {VERIFY_PER_S:,} events/s", f"{rate:,}/s", rate >= VERIFY_PER_S)
    failover = r.get("failover")
    if failover:
        add(f"failover: last key gone within {FAILOVER_S:g} s of the kill", f"{failover['max_s']} s (max)",
            failover["max_s"] <= FAILOVER_S)
    if r.get("growth"):
        for name, measured, met in growth.targets(r["growth"]):
            add(name, measured, met)
    revoke = r.get("revoke")
    if revoke:
        for case in ("warm", "cold"):
            if case in revoke:
                ratio = revoke[case]["vs_floor"]
                add(f"revoke ({case}) <= {REVOKE_VS_FLOOR}x floor", f"{ratio}x", ratio <= REVOKE_VS_FLOOR)
                add(f"revoke ({case}) without a 429", str(revoke[case]["answers_429"]),
                    revoke[case]["answers_429"] == 0)
    kill = r.get("killswitch")
    if kill:
        add(f"kill switch <= {KILL_VS_FLOOR}x floor", f"{kill['vs_floor']}x", kill["vs_floor"] <= KILL_VS_FLOOR)
        add("kill switch without a 429", str(kill["answers_429"]), kill["answers_429"] == 0)
        add(f"kill switch progress updated every <= {KILL_PROGRESS_GAP_S:g} s", f"{kill['largest_progress_gap_s']} s",
            kill["largest_progress_gap_s"] <= KILL_PROGRESS_GAP_S)
    return out


def _kill_line(k: dict[str, Any]) -> str:
    return (f"Kill switch of {k['keys']} keys across {k['sub_accounts']} sub-accounts ({k['pool']}; KuCoin at "
            f"{k['kucoin_latency_s'] * 1000:g} ms per call): floor {k['floor_s']} s ({k['windows']} windows), last key "
            f"gone {k['last_key_gone_s']} s ({k['vs_floor']}x floor), report done {k['report_done_s']} s, 429s: "
            f"{k['answers_429']}, progress changed {k['progress_changes']} times, largest gap "
            f"{k['largest_progress_gap_s']} s")


def _collector_line(held: dict[str, dict[str, Any]]) -> str:
    """bench.collector: the stand-ins' process ran no automatic collection while a phase measured kukey."""
    ran = sum(h["collections"] for h in held.values())
    longest = max((h["longest_ms"] for h in held.values()), default=0.0)
    peak = max((h["peak_rss_mb"] for h in held.values()), default=0.0)
    return (f"The bench process (Slack fake, KuCoin sandbox, drivers) held its garbage collector in every phase: "
            f"{ran} collections ran anyway (longest {longest:g} ms); its peak RSS {peak:g} MB.")


def table(r: dict[str, Any]) -> str:
    lines: list[str] = []
    m = r["machine"]
    lines.append(f"kukey benchmark ({r['mode']}, {_setup(r)}) on {m['nproc']} x {m['cpu_model']}, "
                 f"{m['ram_gib']} GiB, "
                 f"Python {m['python']}; load average {r['load_before']} -> {r['load_after']}; "
                 f"{r['duration_s']} s")
    if r.get("cpu"):
        other = sum(c["other_cpu_s"] for c in r["cpu"].values())
        total = sum(c["available_cpu_s"] for c in r["cpu"].values())
        phases = ", ".join(f"{k} {c['other_cpu_s']:g}" for k, c in r["cpu"].items())
        lines.append(f"Other processes on the machine used {other:.0f} of {total:.0f} CPU-seconds during the run "
                     f"({100 * other / total:.0f}%): {phases}")
    if r.get("bench_collector"):
        lines.append(_collector_line(r["bench_collector"]))
    for title, rows in _ack_sections(r):
        head = f"  {'app':10} {'conc':>4} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'req/s':>7}"
        lines += ["", title, head]
        for row in rows:
            lines.append(f"  {row['app']:10} {row['concurrency']:>4} {row['n']:>5} {row['p50']:>8} {row['p95']:>8} "
                         f"{row['p99']:>8} {row['max']:>8} {row['throughput_rps']:>7}{_post_delay(row)}")
    slow = r.get("slow_kucoin")
    if slow:
        life = slow["lifecycles"]
        lines += ["", f"Lifecycles at once with KuCoin at {life['kucoin_latency_s']:g} s per call: "
                      f"{life['completed']} of {life['lifecycles']} completed; each took "
                      f"{life['lifecycle_s']['p50'] / 1000:.1f} s median, "
                      f"{life['lifecycle_s']['max'] / 1000:.1f} s max; "
                      f"acks of their steps p99 {life['step_acks_ms']['p99']} ms"]
    lifecycle = r.get("lifecycle")
    if lifecycle:
        lines += ["", f"Lifecycle, kukey's own time (ms, {lifecycle['lifecycles']} lifecycles): "
                      f"median {lifecycle['total_ms']['p50']}, p95 {lifecycle['total_ms']['p95']}"]
        lines += [f"  {step:14} median {s['p50']:>7} ms   ack {lifecycle['acks_ms'][step]['p50']:>6} ms"
                  for step, s in lifecycle["steps_ms"].items()]
    audit = r.get("audit")
    if audit:
        lines += ["", f"Audit log, {audit['events']:,} events ({audit['db_mb']} MB):",
                  f"  verify (bot.storage.audit.verify)   {audit['verify']['seconds']:>6} s  "
                  f"{audit['verify']['events_per_s']:>9,}/s",
                  f"  verify, one process                 {audit['verify_one_process']['seconds']:>6} s  "
                  f"{audit['verify_one_process']['events_per_s']:>9,}/s",
                  f"  `kukey audit verify` (process)      {audit['cli_verify']['seconds']:>6} s  "
                  f"{audit['cli_verify']['events_per_s']:>9,}/s",
                  f"  append, 1 per transaction          {audit['append_one_per_transaction']['events_per_s']:>17,}/s",
                  f"  append, 1,000 per transaction      {audit['append_1000_per_transaction']['events_per_s']:>17,}/s"]
    revoke = r.get("revoke")
    if revoke:
        lines += ["", f"Incident revoke of {revoke['keys']} keys, KuCoin at {revoke['kucoin_latency_s'] * 1000:g} ms "
                      f"per call; floor {revoke['floor_s'] * 1000:g} ms ({revoke['pool']})"]
        for case in REVOKE_CASES:
            if case in revoke:
                c = revoke[case]
                lines.append(f"  {case:14} last key gone {c['last_key_gone_s'] * 1000:7.1f} ms  "
                             f"({c['vs_floor']}x floor), 429s: {c['answers_429']}")
    if r.get("killswitch"):
        lines += ["", _kill_line(r["killswitch"])]
    failover = r.get("failover")
    if failover:
        lines += ["", _failover_title(failover)]
        lines += [f"  kill -9 with {x['keys_left_at_kill']} keys left: last key gone "
                  f"{x['last_key_gone_after_kill_s']} s, announced {x['announced_after_kill_s']} s after the kill"
                  for x in failover["runs"]]
    if r.get("growth"):
        lines += ["", *growth.lines(r["growth"])]
    startup = r.get("startup")
    if startup:
        lines += ["", f"Start to ready (median of {len(startup['runs'])}): {startup['ready_s_median']} s; "
                      f"idle RSS {startup['rss_mb_median']} MB"
                      f" (+ worker {startup['runs'][-1].get('worker_rss_mb', 0)} MB)"]
    if r.get("targets"):
        lines += ["", "Targets:"]
        lines += [f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['measured']}" for t in r["targets"]]
    return "\n".join(lines)


def _db(r: dict[str, Any]) -> str:
    """kukey's database in the phases that take --db (audit builds a SQLite log; failover needs PostgreSQL)."""
    return "PostgreSQL" if r.get("config", {}).get("db") == "postgres" else "SQLite"


def _setup(r: dict[str, Any]) -> str:
    """The run's database, and HTTPS where the Slack fake or the KuCoin sandbox spoke it (--slack-tls, --kucoin-tls)."""
    config = r.get("config", {})
    return (f"--db {_db(r)}" + (", Slack over HTTPS" if config.get("slack_tls") else "")
            + (", KuCoin over HTTPS" if config.get("kucoin_tls") else ""))


def _failover_title(f: dict[str, Any]) -> str:
    return (f"Failover: {f['replicas']} replicas on PostgreSQL, lease {f['lease_s']} s; incident revoke of "
            f"{f['keys']} keys, KuCoin at {f['kucoin_latency_s']:g} s per call, {f['hanging_deletes']} deletes "
            f"held by KuCoin; the replica running it killed (bound: lease + 1 s tick + one call = "
            f"{f['bound_s']:g} s)")


def _post_delay(row: dict[str, Any]) -> str:
    """The delay from a create's ack to its approvals post, where the run measured it."""
    cell = _delay_cell(row)
    return f"  post after ack: {cell}" if cell else ""


def _delay_cell(row: dict[str, Any]) -> str:
    delay = row.get("post_delay_ms")
    return f"p50 {delay['p50']} ms, p99 {delay['p99']} ms" if delay else ""


def _ack_sections(r: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    if r.get("acks"):
        rows = [*r["acks"]["bare"], *r["acks"]["kukey"], r["acks"]["kukey_help"],
                *([r["acks"]["kukey_steady"]] if r["acks"].get("kukey_steady") else [])]
        out.append(("Ack latency of `/kukey create` (ms; `kukey help`: the ack path alone, for comparison):", rows))
    if r.get("slow_kucoin"):
        slow = r["slow_kucoin"]["kukey"]
        out.append((f"Ack latency while every KuCoin call takes {slow[0]['kucoin_latency_s']:g} s (ms):", slow))
    return out


def markdown(r: dict[str, Any]) -> str:
    """The results as Markdown tables, for docs/benchmarks.md (`python -m bench.report results.json`)."""
    m = r["machine"]
    out = [f"Run: {r['mode']}, {_setup(r)}, {r['started_at']}, {r['duration_s']} s. "
           f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), "
           f"{m['ram_gib']} GiB RAM, {m['implementation']} {m['python']}, Linux {m['kernel']}. "
           f"Load average {r['load_before']} before, {r['load_after']} after."]
    if r.get("cpu"):
        other = sum(c["other_cpu_s"] for c in r["cpu"].values())
        total = sum(c["available_cpu_s"] for c in r["cpu"].values())
        phases = ", ".join(f"{k}: {c['other_cpu_s']:g}" for k, c in r["cpu"].items())
        out.append(f"Other processes used {other:.0f} of the {total:.0f} CPU-seconds the machine had during the run "
                   f"({phases}).")
    if r.get("bench_collector"):
        out.append(_collector_line(r["bench_collector"]))
    for title, rows in _ack_sections(r):
        out += ["", f"**{title}**", "",
                "| app | concurrent | requests | p50 | p95 | p99 | max | req/s | approvals post after the ack |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        out += [f"| {x['app']} | {x['concurrency']} | {x['n']} | {x['p50']} | {x['p95']} | {x['p99']} | {x['max']} | "
                f"{x['throughput_rps']} | {_delay_cell(x)} |" for x in rows]
    slow = r.get("slow_kucoin")
    if slow:
        life = slow["lifecycles"]
        out += ["", f"Lifecycles at once while every KuCoin call takes {life['kucoin_latency_s']:g} s: "
                    f"{life['completed']} of {life['lifecycles']} completed, in "
                    f"{life['lifecycle_s']['p50'] / 1000:.1f} s (median) to {life['lifecycle_s']['max'] / 1000:.1f} s; "
                    f"KuCoin calls: {life['kucoin_calls']}.",
                "", "| step | ack p50 (ms) | ack max (ms) |", "|---|---:|---:|"]
        out += [f"| {k} | {v['p50']} | {v['max']} |" for k, v in life.get("acks_ms", {}).items()]
    lifecycle = r.get("lifecycle")
    if lifecycle:
        out += ["", f"**kukey's own time per lifecycle step, {lifecycle['lifecycles']} lifecycles (ms)**", "",
                "| step | median | p95 | ack median |", "|---|---:|---:|---:|"]
        out += [f"| {k} | {v['p50']} | {v['p95']} | {lifecycle['acks_ms'][k]['p50']} |"
                for k, v in lifecycle["steps_ms"].items()]
        out.append(f"| **whole lifecycle** | **{lifecycle['total_ms']['p50']}** | {lifecycle['total_ms']['p95']} | |")
    audit = r.get("audit")
    if audit:
        out += ["", f"**Audit log of {audit['events']:,} events ({audit['db_mb']} MB)**", "",
                "| what | time | rate |", "|---|---:|---:|",
                f"| build the log (setup: raw SQL, synchronous=OFF) | {audit['build']['seconds']} s | "
                f"{audit['build']['events_per_s']:,}/s |"]
        for key, name in (("verify", "bot.storage.audit.verify (default workers)"),
                          ("verify_one_process", "bot.storage.audit.verify, workers=1"),
                          ("cli_verify", "`kukey audit verify` as a process")):
            out.append(f"| {name} | {audit[key]['seconds']} s | {audit[key]['events_per_s']:,}/s |")
        for key, name in (("append_one_per_transaction", "AuditLog.record, one event per transaction"),
                          ("append_1000_per_transaction", "AuditLog.record, 1,000 events per transaction")):
            out.append(f"| {name} ({audit[key]['events']:,} events) | {audit[key]['ms_per_event']} ms/event | "
                       f"{audit[key]['events_per_s']:,}/s |")
    revoke = r.get("revoke")
    if revoke:
        latency = revoke["kucoin_latency_s"] * 1000
        out += ["", f"**Incident revoke of {revoke['keys']} keys, every KuCoin call {latency:g} ms; "
                    f"floor {revoke['floor_s'] * 1000:g} ms**", "",
                "| case | last key gone | vs floor | 429 answers |", "|---|---:|---:|---:|"]
        out += [f"| {case} | {revoke[case]['last_key_gone_s'] * 1000:.1f} ms | {revoke[case]['vs_floor']}x | "
                f"{revoke[case]['answers_429']} |" for case in REVOKE_CASES if case in revoke]
    if r.get("killswitch"):
        out += ["", _kill_line(r["killswitch"])]
    failover = r.get("failover")
    if failover:
        out += ["", f"**{_failover_title(failover)}**", "",
                "| run | keys left at the kill | last key gone after the kill | announced after the kill |",
                "|---:|---:|---:|---:|"]
        out += [f"| {i} | {x['keys_left_at_kill']} | {x['last_key_gone_after_kill_s']} s | "
                f"{x['announced_after_kill_s']} s |" for i, x in enumerate(failover["runs"], 1)]
    if r.get("growth"):
        out += ["", *growth.markdown(r["growth"])]
    startup = r.get("startup")
    if startup:
        out += ["", "**Start to ready, idle memory**", "",
                "| start | ready after | RSS | peak RSS | threads | worker process RSS |",
                "|---|---:|---:|---:|---:|---:|"]
        out += [f"| {'first (creates the DB)' if x['first_start'] else 'again'} | {x['ready_s']} s | "
                f"{x['rss_mb']} MB | {x['peak_rss_mb']} MB | {x['threads']} | {x.get('worker_rss_mb', 0)} MB |"
                for x in startup["runs"]]
    if r.get("targets"):
        out += ["", "**Targets**", "", "| target | measured | |", "|---|---:|---|"]
        out += [f"| {t['target']} | {t['measured']} | {'met' if t['met'] else '**missed**'} |" for t in r["targets"]]
    return "\n".join(out)


def main() -> int:
    import json
    import sys
    from pathlib import Path

    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
