"""Issue 14, point 8: failover. Three `kukey run --http` replicas (default settings: 10 s lease) on one
PostgreSQL database behind a round-robin load balancer; the responder commands an incident revoke of
`failover_keys` keys with every KuCoin call taking `failover_latency` s and `failover_hanging` deletes held
by KuCoin without acting on them; once every delete has been sent, the replica running the revoke gets
kill -9. Timed from the kill until the bench, woken by the sandbox at each removal, sees the last key gone
(and until the revoke is announced). The least it can be: the lease (the killed replica's last renewal may
have come just before the kill), plus up to one scheduler interval (1 s) for a survivor to claim the job,
plus one KuCoin call for the deletes left."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench import pg
from bench.config import Config
from bench.scene import Scene
from bot.domain.jobs import DEFAULT_LEASE_SECONDS
from kukey_sandbox.seeding import seed_keys
from kukey_sandbox.world import INCIDENT, RESPONDER

SUB = "alpha-trading"
KEYS = "/api/v1/sub/api-key"
SCHEDULER_INTERVAL_S = 1.0  # bot.app.build's default


def run(cfg: Config, home: Path) -> dict[str, Any]:
    runs = [one(cfg, home / f"run-{i}") for i in range(cfg.failover_runs)]
    gone = [r["last_key_gone_after_kill_s"] for r in runs]
    return {"replicas": cfg.failover_replicas, "keys": cfg.failover_keys, "kucoin_latency_s": cfg.failover_latency,
            "hanging_deletes": cfg.failover_hanging, "lease_s": DEFAULT_LEASE_SECONDS,
            "bound_s": DEFAULT_LEASE_SECONDS + SCHEDULER_INTERVAL_S + cfg.failover_latency, "runs": runs,
            "median_s": round(statistics.median(gone), 2), "max_s": max(gone)}


def one(cfg: Config, home: Path) -> dict[str, Any]:
    with Scene(home, keys_per_sub=cfg.failover_keys + 5, database_url=pg.new_database()) as scene:
        world, sandbox = scene.world, scene.sandbox
        keys = set(seed_keys(world, SUB, cfg.failover_keys, remark="FAILOVER"))
        world.start_replicas(cfg.failover_replicas)
        world.enroll(RESPONDER)
        sandbox.set_latency(cfg.failover_latency, path=KEYS)
        sandbox.drop_next(cfg.failover_hanging, path=KEYS, method="DELETE", commit=False, hang=60)
        world.driver.slash(RESPONDER, INCIDENT, f"revoke {SUB} all failover benchmark")
        world.wait(lambda: world.fake.modal(RESPONDER) is not None, what="the incident revoke form")
        announced_before = len(world.fake.messages(INCIDENT))
        assert not world.driver.submit(RESPONDER, {"code": world.code(RESPONDER)}).errors
        assert sandbox.wait_calls(f"DELETE {KEYS}", cfg.failover_keys, 60), "not every delete was sent"
        owner = world.replica_calling("DELETE", KEYS)  # the one running the revoke (any replica may)
        left = len(keys & _remaining(scene))
        scene.abandon_kucoin_calls()
        owner.kill()
        killed = time.perf_counter()
        assert sandbox.wait_keys_gone(SUB, keys, 60), "the survivors left keys behind"
        gone = time.perf_counter() - killed
        world.wait(lambda: len(world.fake.messages(INCIDENT)) > announced_before, 60, "the announcement")
        announced = time.perf_counter() - killed
    return {"keys_left_at_kill": left, "last_key_gone_after_kill_s": round(gone, 2),
            "announced_after_kill_s": round(announced, 2)}


def _remaining(scene: Scene) -> set[str]:
    return {k["api_key"] for k in scene.sandbox.keys(SUB)}
