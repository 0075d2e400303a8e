"""How much work each phase does: the full run (issue 8's numbers), --quick, and the test suite's smoke run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    requests: int = 2000  # per concurrency level
    levels: tuple[int, ...] = (1, 10, 50)
    warmup: int = 50
    steady_rate: float = 20.0  # creates per second, sent at that pace, for the delay before each approvals post
    steady_requests: int = 600
    drain_timeout: float = 300.0  # waiting for kukey to post every request it acked
    slow_latency: float = 5.0  # seconds per KuCoin call in the slow phase
    slow_lifecycles: int = 10
    lifecycles: int = 30
    audit_events: int = 1_000_000
    audit_appends: int = 2000  # one event per transaction, as the bot writes them
    audit_batch: int = 20_000  # events appended through AuditLog.record in transactions of 1,000
    revoke_keys: int = 50
    revoke_latency: float = 0.1
    revoke_cold: bool = True  # also revoke after 30 s idle (kukey's view of the pool has expired)
    revoke_typing: float = 1.0  # seconds from the revoke's form opening until the responder submits the code
    kill_keys: int = 500  # issue 16: the kill switch deletes 500 keys across 100 sub-accounts
    kill_subs: int = 100
    kill_window: float = 3.0  # the sandbox's Management window (KuCoin's is 30 s): the ratio to the floor counts
    kill_latency: float = 0.1  # seconds per KuCoin call
    startups: int = 3
    startup_idle: float = 2.0  # seconds the bot sits idle before its memory is read
    worker: bool = True  # False: `kukey run --no-worker` (the work behind the acks in the serving process)
    slack_tls: bool = False  # True: the Slack fake speaks HTTPS, as Slack does (kukey_sandbox.tls)
    kucoin_tls: bool = False  # True: the KuCoin sandbox speaks HTTPS, as KuCoin does (kukey_sandbox.tls)
    db: str = "sqlite"  # the database of kukey in every phase: sqlite or postgres (--db)
    failover_replicas: int = 3
    failover_keys: int = 30  # keys an incident revoke deletes while its replica is killed
    failover_latency: float = 1.0  # seconds per KuCoin call (the kill lands while deletes are in flight)
    failover_hanging: int = 5  # deletes KuCoin holds without acting on them: left for the survivors
    failover_runs: int = 3
    growth_requests: int = 100_000  # closed requests behind the open ones in the full database
    growth_events: int = 1_000_000  # audit events in the full database
    growth_acks: int = 400  # per command and database, one at a time
    growth_rounds: int = 4  # alternating between the empty and the full database
    growth_idle: float = 5.0  # seconds both bots sit idle after start-up before their memory is read


FULL = Config()
QUICK = Config(requests=150, warmup=10, steady_requests=100, drain_timeout=120.0, slow_lifecycles=2, lifecycles=5,
               audit_events=100_000, audit_appends=300, audit_batch=5000, revoke_cold=False, startups=1,
               failover_runs=1, growth_requests=10_000, growth_events=100_000, growth_acks=100)
SMOKE = Config(requests=6, levels=(2,), warmup=2, steady_requests=4, drain_timeout=30.0, slow_latency=0.2,
               slow_lifecycles=1,
               lifecycles=1, audit_events=3000, audit_appends=10, audit_batch=100, revoke_keys=3,
               revoke_latency=0.02, revoke_cold=False, revoke_typing=0.0, startups=1, startup_idle=0.1,
               failover_replicas=2,
               kill_keys=6, kill_subs=3, kill_window=1.0, kill_latency=0.02,
               failover_keys=4, failover_latency=0.2, failover_hanging=1, failover_runs=1, growth_requests=300,
               growth_events=3000, growth_acks=4, growth_rounds=2, growth_idle=0.1)
