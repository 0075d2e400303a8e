"""Issue 16, point 6: kukey's memory and the acks of `/kukey list`, `pending` and `status` on an empty
database and on one with a year of history (bench.fill), side by side in one run.

Two scenes, each with its own world and its own `kukey run --http` process: "empty" holds only the open
requests (what pending shows, status asks for), "full" the same plus `cfg.growth_requests` closed requests
with their approvals, keys, jobs and outbox items, and `cfg.growth_events` audit events. Both bots start,
sit idle for `cfg.growth_idle` seconds (their RSS is read then), and then get the same commands from one
sender (concurrency 1, so that each ack is the command's own cost), in rounds that alternate between the
two bots so that whatever else runs on the machine meanwhile weighs on both alike. After the `list`
rounds the bench waits until each bot has done the work behind every list (its audit events), so that
it does not run under the acks of the next command.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fill, load, pg
from bench.acks import UNLIMITED
from bench.config import Config
from bench.scene import Scene, wait_until
from bench.stats import summary_ms
from kukey_sandbox.world import REQUESTER, TRADING

COMMANDS = {"list": "list", "pending": "pending", "status": f"status {fill.STATUS_ID}"}
DATABASES = ("empty", "full")


def run(cfg: Config, home: Path) -> dict[str, Any]:
    now = datetime.now(UTC)
    with Scene(home / "empty", management_budget=UNLIMITED, database_url=pg.database_url(cfg)) as empty, \
            Scene(home / "full", management_budget=UNLIMITED, database_url=pg.database_url(cfg)) as full:
        scenes = {"empty": empty, "full": full}
        made = {name: fill.fill(scene.world.database_url, base64.b64decode(scene.world.master_key),
                                requests=cfg.growth_requests if name == "full" else 0,
                                events=cfg.growth_events if name == "full" else 0, now=now)
                for name, scene in scenes.items()}
        heads = {name: scene.count("SELECT coalesce(max(seq), 0) FROM audit_event") for name, scene in scenes.items()}
        for scene in scenes.values():
            scene.start_bot()
        for scene in scenes.values():
            scene.wait_started()
        idle_until = time.monotonic() + cfg.growth_idle
        while time.monotonic() < idle_until:  # idle: nobody talks to the bots
            time.sleep(0.1)
        memory = {name: {"idle_rss_mb": _mb(_bot(scene).status()["VmRSS"])} for name, scene in scenes.items()}
        for scene in scenes.values():
            _answered(scene)
        acks = {"list": _interleaved(cfg, scenes, COMMANDS["list"])}
        _drain(cfg, scenes, heads)
        acks |= {command: _interleaved(cfg, scenes, COMMANDS[command]) for command in ("pending", "status")}
        for name, scene in scenes.items():
            status = _bot(scene).status()
            memory[name] |= {"rss_mb": _mb(status["VmRSS"]), "peak_rss_mb": _mb(status["VmHWM"]),
                             "threads": status["Threads"], "db_mb": _db_mb(scene)}
    return {"requests": cfg.growth_requests, "events": cfg.growth_events, "acks_per_command": cfg.growth_acks,
            "rounds": cfg.growth_rounds, "fill": made, "memory": memory, "acks": acks}


def _interleaved(cfg: Config, scenes: dict[str, Scene], text: str) -> dict[str, Any]:
    """`cfg.growth_acks` commands to each bot, one at a time, in rounds alternating between the bots."""
    per_round = max(1, cfg.growth_acks // cfg.growth_rounds)
    latencies: dict[str, list[float]] = {name: [] for name in scenes}
    medians: dict[str, list[float]] = {name: [] for name in scenes}  # per round: how steady the machine was
    statuses: dict[str, dict[str, int]] = {name: {} for name in scenes}
    for scene in scenes.values():  # warm-up, not timed
        _send(scene, text, min(per_round, 5))
    for r in range(cfg.growth_rounds):
        for name in DATABASES if r % 2 == 0 else DATABASES[::-1]:
            result = _send(scenes[name], text, per_round)
            latencies[name] += result.latencies
            medians[name].append(summary_ms(result.latencies)["p50"])
            for code, n in result.statuses.items():
                statuses[name][code] = statuses[name].get(code, 0) + n
    out: dict[str, Any] = {name: {**summary_ms(latencies[name]), "statuses": statuses[name],
                                  "round_p50s": medians[name]} for name in scenes}
    out["p50_ratio"] = round(out["full"]["p50"] / out["empty"]["p50"], 2)
    out["p99_ratio"] = round(out["full"]["p99"] / out["empty"]["p99"], 2)
    return out


def _answered(scene: Scene) -> None:
    """`pending` and `status` are answered with the open requests (not a usage error, say), before they are timed."""
    shown = f"`{fill.STATUS_ID}` New API key for"  # the request's line, as both show it
    for command in ("pending", "status"):
        ack = scene.world.driver.slash(REQUESTER, TRADING, COMMANDS[command])
        if not (ack.ok and shown in json.dumps(ack.message())):
            raise AssertionError(f"`/kukey {COMMANDS[command]}` did not show {fill.STATUS_ID}: {ack.body[:300]}")


def _send(scene: Scene, text: str, count: int) -> load.LoadResult:
    bodies = scene.slash_bodies(text, count, user=REQUESTER)
    return load.run_in_process(_bot(scene).url, scene.fake.signing_secret, bodies, 1)


def _drain(cfg: Config, scenes: dict[str, Scene], heads: dict[str, int]) -> None:
    """Until each bot has recorded every list it acked (warm-up included): its work after those acks is done."""
    per_round = max(1, cfg.growth_acks // cfg.growth_rounds)
    expected = min(per_round, 5) + per_round * cfg.growth_rounds
    for name, scene in scenes.items():
        sql = f"SELECT count(*) FROM audit_event WHERE seq > {heads[name]} AND action = 'inventory.listed'"  # noqa: S608
        wait_until(lambda scene=scene, sql=sql: scene.count(sql) >= expected, cfg.drain_timeout,  # type: ignore[misc]
                   f"the {name} bot's lists recorded", every=0.05)


def _bot(scene: Scene) -> Any:
    assert scene.bot is not None
    return scene.bot


def _db_mb(scene: Scene) -> float:
    if scene.world.database_url.startswith("sqlite"):
        return _mb(sum(p.stat().st_size for p in scene.home.glob("kukey.db*")) / 1024)
    return _mb(scene.count("SELECT pg_database_size(current_database())") / 1024)


def _mb(kib: float) -> float:
    return round(kib / 1024, 1)


# --- the report (bench.report): issue 16.6's targets, the table and docs/benchmarks.md's tables ----------------
IDLE_RSS_MB = 80.0  # idle, on an empty database
FULL_RSS_MB = 150.0  # with 100,000 requests and 1,000,000 audit events, after the acks
ACKS_VS_EMPTY = 1.2  # list, pending and status ack within 1.2x of an empty database's


def targets(g: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each of issue 16.6's targets."""
    memory, size = g["memory"], f"{g['requests']:,} requests, {g['events']:,} audit events"
    idle, full = memory["empty"]["idle_rss_mb"], memory["full"]["rss_mb"]
    out = [(f"idle RSS <= {IDLE_RSS_MB:g} MB (empty database)", f"{idle} MB", idle <= IDLE_RSS_MB),
           (f"RSS <= {FULL_RSS_MB:g} MB with {size}", f"{full} MB (peak {memory['full']['peak_rss_mb']})",
            full <= FULL_RSS_MB)]
    for command, acks in g["acks"].items():
        for q in ("p50", "p99"):
            ratio = acks[f"{q}_ratio"]
            out.append((f"`/kukey {command}` ack {q} with {size} <= {ACKS_VS_EMPTY}x empty",
                        f"{ratio}x ({acks['full'][q]} vs {acks['empty'][q]} ms)", ratio <= ACKS_VS_EMPTY))
    return out


def title(g: dict[str, Any]) -> str:
    return (f"Growth: an empty database and one with {g['requests']:,} closed requests and {g['events']:,} audit "
            f"events, side by side; {g['acks_per_command']} acks per command and database, one at a time, in "
            f"{g['rounds']} alternating rounds")


def lines(g: dict[str, Any]) -> list[str]:
    out = [title(g)]
    out += [f"  {db:5} idle RSS {m['idle_rss_mb']} MB, after the acks {m['rss_mb']} MB "
            f"(peak {m['peak_rss_mb']}), database {m['db_mb']} MB" for db, m in g["memory"].items()]
    out += [f"  {command:8} ack p50 {a['empty']['p50']:>7} -> {a['full']['p50']:>7} ms ({a['p50_ratio']}x), "
            f"p99 {a['empty']['p99']:>7} -> {a['full']['p99']:>7} ms ({a['p99_ratio']}x)"
            for command, a in g["acks"].items()]
    return out


def markdown(g: dict[str, Any]) -> list[str]:
    out = [f"**{title(g)}**", "", "| database | rows | fill | idle RSS | RSS after the acks | peak RSS | size |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for db, m in g["memory"].items():
        made = g["fill"][db]
        rows = ", ".join(f"{k}: {v:,}" for k, v in made["rows"].items())
        out.append(f"| {db} | {rows} | {made['seconds']} s | {m['idle_rss_mb']} MB | {m['rss_mb']} MB | "
                   f"{m['peak_rss_mb']} MB | {m['db_mb']} MB |")
    out += ["", "| command | empty p50 | full p50 | ratio | empty p99 | full p99 | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    out += [f"| `/kukey {c}` | {a['empty']['p50']} ms | {a['full']['p50']} ms | {a['p50_ratio']}x | "
            f"{a['empty']['p99']} ms | {a['full']['p99']} ms | {a['p99_ratio']}x |" for c, a in g["acks"].items()]
    return out
