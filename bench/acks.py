"""Issue 8, points 1 and 2: ack latency of `/kukey create` at 1, 10 and 50 concurrent senders, next to a bare
Bolt app; then the same while every KuCoin call takes 5 s, and lifecycles that must still complete.

Each kukey run gets a fresh world and a fresh `kukey run --http` process. KuCoin's rate-limit budget is
lifted in these worlds (each create lists the sub-account's keys after its ack: 2,000 creates would
spend 40,000 weight): the pool is the revoke phase's subject, not this one's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from bench import lifecycle, load, pg, procs
from bench.config import Config
from bench.scene import Scene, wait_until
from bench.stats import summary_ms
from kukey_sandbox.world import REQUESTER

CREATE = "create alpha-trading perms=Spot ips=203.0.113.5 expire=30 benchmark load"
UNLIMITED = 10**12


def run(cfg: Config, home: Path) -> dict[str, Any]:
    """Point 1: the bare Bolt app, then kukey, at every concurrency level."""
    top = max(cfg.levels)
    return {"requests": cfg.requests, "warmup": cfg.warmup, "bare": bare(cfg, home / "bare"),
            "kukey": [kukey(cfg, home / f"kukey-{level}", level) for level in cfg.levels],
            # diagnostic: kukey's ack path without the work a create leaves behind (help is answered inline)
            "kukey_help": kukey(cfg, home / "kukey-help", top, text="help"),
            # issue 16: the delay before each approvals post at a pace the work keeps up with (an open loop);
            # in the closed-loop runs above the creates come faster than any worker makes them, so their posts
            # queue for seconds behind the acks, however they are handed over
            "kukey_steady": kukey(cfg, home / "kukey-steady", 10, rate=cfg.steady_rate, count=cfg.steady_requests)}


def run_slow(cfg: Config, home: Path) -> dict[str, Any]:
    """Point 2: the same while every KuCoin call takes `cfg.slow_latency`, then lifecycles that must complete."""
    return {"kukey": [kukey(cfg, home / f"slow-{level}", level, latency=cfg.slow_latency) for level in cfg.levels],
            "lifecycles": slow_lifecycles(cfg, home / "slow-lifecycles")}


def bare(cfg: Config, home: Path) -> list[dict[str, Any]]:
    """The bare Bolt app at every concurrency level (one process, warmed up once)."""
    rows = []
    with Scene(home) as scene:  # the bare app has no database
        fake = scene.fake
        env = {"SLACK_SIGNING_SECRET": fake.signing_secret, "SLACK_BOT_TOKEN": fake.bot_token,
               "SLACK_API_URL": fake.api_url,
               **{k: v for k, v in scene.world.env().items() if k == "SSL_CERT_FILE"}}  # --slack-tls
        served = procs.spawn_bare(env, home / "bare.log")
        try:
            warm = scene.slash_bodies(CREATE, cfg.warmup, user=REQUESTER)
            load.run_in_process(served.url, fake.signing_secret, warm, max(cfg.levels))
            for level in cfg.levels:
                bodies = scene.slash_bodies(CREATE, cfg.requests, user=REQUESTER)
                rows.append(_row("bare Bolt", level, load.run_in_process(served.url, fake.signing_secret, bodies,
                                                                         level)))
                rows[-1]["rss_mb"] = round(served.status()["VmRSS"] / 1024, 1)
        finally:
            served.stop()
    return rows


def kukey(cfg: Config, home: Path, level: int, *, latency: float = 0.0, text: str = CREATE, rate: float = 0.0,
          count: int = 0) -> dict[str, Any]:
    """kukey at one concurrency level (`count` requests, default cfg.requests; with `rate`, sent at that pace);
    with `latency`, every KuCoin call takes that long during the run. After a run of creates, waits until
    kukey has posted every request (its work behind the acks)."""
    count = count or cfg.requests
    with Scene(home, management_budget=UNLIMITED, database_url=pg.database_url(cfg)) as scene:
        served = scene.start_bot()
        scene.wait_started()
        secret = scene.fake.signing_secret
        warm = scene.slash_bodies(CREATE, cfg.warmup, user=REQUESTER)
        load.run_in_process(served.url, secret, warm, level)
        wait_until(lambda: posted(scene) >= cfg.warmup, cfg.drain_timeout, "warm-up requests posted")
        if latency:
            scene.sandbox.set_latency(latency)
        bodies = scene.slash_bodies(text, count, user=REQUESTER)
        started = time.perf_counter()
        result = load.run_in_process(served.url, secret, bodies, level, rate=rate)
        acked = time.perf_counter()
        name = "kukey" if text == CREATE else f"kukey {text}"
        row = {**_row(f"{name} at {rate:g}/s" if rate else name, level, result), **({"rate": rate} if rate else {})}
        row["rss_mb"] = round(served.status()["VmRSS"] / 1024, 1)
        row["kucoin_latency_s"] = latency
        expected = cfg.warmup + (count if text == CREATE else 0)
        if latency:
            row["posted_during_run"] = posted(scene) - cfg.warmup
            scene.abandon_kucoin_calls()
            scene.stop_bot(kill=True)  # thousands of 5 s calls are queued behind the acks: not worth waiting
            return row
        try:
            wait_until(lambda: posted(scene) >= expected, cfg.drain_timeout, "every request posted", every=0.05)
            row["all_posted_after_s"] = round(time.perf_counter() - started, 2)
            row["backlog_after_last_ack_s"] = round(time.perf_counter() - acked, 2)
            if text == CREATE:
                row["post_delay_ms"] = summary_ms(post_delays(scene, bodies, result))
        except TimeoutError:
            row["posted_by_timeout"] = posted(scene) - cfg.warmup
        scene.stop_bot()
    return row


def slow_lifecycles(cfg: Config, home: Path) -> dict[str, Any]:
    """`cfg.slow_lifecycles` lifecycles at once while every KuCoin call takes `cfg.slow_latency`."""
    with Scene(home, keys_per_sub=100, database_url=pg.database_url(cfg)) as scene:
        people = lifecycle.cast(scene, cfg.slow_lifecycles)
        scene.start_bot()
        scene.wait_started()
        lifecycle.enroll(scene, [u for r, a, _ in people for u in (r, a)])
        scene.sandbox.set_latency(cfg.slow_latency)
        started = time.perf_counter()
        done = lifecycle.run_many(scene, people, parallel=True, timeout=max(60.0, 20 * cfg.slow_latency))
        wall = time.perf_counter() - started
        acks = [s for one in done for s in one.acks.values()]
        return {"lifecycles": len(people), "completed": sum(1 for one in done if one.api_key),
                "kucoin_latency_s": cfg.slow_latency, "wall_s": round(wall, 2),
                "lifecycle_s": summary_ms([one.total for one in done]),
                "step_acks_ms": summary_ms(acks),
                "acks_ms": {step: summary_ms([one.acks[step] for one in done]) for step in lifecycle.STEPS},
                "kucoin_calls": scene.sandbox.call_counts()}


def posted(scene: Scene) -> int:
    """Requests kukey has posted for approval (read from its database)."""
    return scene.count("SELECT count(*) FROM request WHERE thread_ts IS NOT NULL")


def post_delays(scene: Scene, bodies: list[str], result: load.LoadResult) -> list[float]:
    """Per acked create: seconds from its ack to its post in the approvals channel (the post's Slack ts, which
    the fake stamps from the same wall clock; the request is found by its trigger id, its dedupe key)."""
    posts = dict(scene.rows("SELECT dedupe_key, thread_ts FROM request WHERE thread_ts IS NOT NULL"))
    delays = []
    for index, acked_at in result.acked_at.items():
        trigger = parse_qs(bodies[index])["trigger_id"][0]
        if trigger in posts:
            delays.append(max(0.0, float(posts[trigger]) - acked_at))
    return delays


def _row(app: str, level: int, result: load.LoadResult) -> dict[str, Any]:
    return {"app": app, "concurrency": level, **summary_ms(result.latencies),
            "throughput_rps": round(len(result.latencies) / result.wall, 1) if result.wall else None,
            "statuses": result.statuses, "unexpected_answers": result.non_empty, "samples": result.samples}
