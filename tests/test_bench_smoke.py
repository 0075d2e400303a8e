"""The benchmark (`make bench`) still runs: every phase once with tiny counts. No timing is asserted here;
only that each phase measures what it says and that kukey did the work behind it."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from bench import acks, audit, failover, fill, growth, killswitch, lifecycle, report, revoke, startup
from bench.__main__ import run
from bench.config import SMOKE
from bench.scene import Scene
from bot.storage.audit_verify import verify
from bot.storage.db import make_engine


def test_acks_phase_measures_bare_bolt_and_kukey(tmp_path: Path) -> None:
    """The ack phase times every request to the bare Bolt app and to kukey, and kukey posts every create; the
    paced run times each approvals post from its ack."""
    out = acks.run(SMOKE, tmp_path)
    for row in (*out["bare"], *out["kukey"], out["kukey_help"]):
        assert row["n"] == SMOKE.requests and row["statuses"] == {"200": SMOKE.requests}
    assert all(row["unexpected_answers"] == 0 for row in (*out["bare"], *out["kukey"]))
    assert all("all_posted_after_s" in row for row in out["kukey"])
    steady = out["kukey_steady"]  # sent at a pace, each post timed from its ack
    assert steady["n"] == SMOKE.steady_requests and steady["rate"] == SMOKE.steady_rate
    assert steady["post_delay_ms"]["n"] == SMOKE.steady_requests


def test_slow_kucoin_phase_completes_every_lifecycle(tmp_path: Path) -> None:
    """With KuCoin slowed down, the acks are still measured and every lifecycle ends with a revealed key."""
    out = acks.run_slow(SMOKE, tmp_path)
    assert [row["n"] for row in out["kukey"]] == [SMOKE.requests] * len(SMOKE.levels)
    assert out["lifecycles"]["completed"] == out["lifecycles"]["lifecycles"] == SMOKE.slow_lifecycles


def test_lifecycle_phase_times_every_step(tmp_path: Path) -> None:
    """A lifecycle is timed step by step, from the request to the revealed key."""
    out = lifecycle.run(SMOKE, tmp_path)
    assert out["lifecycles"] == SMOKE.lifecycles
    assert set(out["steps_ms"]) == set(lifecycle.STEPS) and out["total_ms"]["n"] == SMOKE.lifecycles


def test_audit_phase_verifies_the_log_it_built(tmp_path: Path) -> None:
    """The audit phase builds a chained log that verify() and `kukey audit verify` both accept."""
    out = audit.run(SMOKE, tmp_path)
    assert out["verify"]["ok"] and out["verify"]["count"] == SMOKE.audit_events
    assert out["cli_verify"]["exit"] == 0 and out["cli_verify"]["said"] == f"OK: {SMOKE.audit_events} events verified"


def test_revoke_phase_deletes_every_key_without_a_429(tmp_path: Path) -> None:
    """The revoke phase deletes every seeded key once through kukey, once through the bare client and once
    with no client at all (the stand-in's floor: raw signed requests the sandbox accepts)."""
    out = revoke.run(SMOKE, tmp_path)
    assert out["warm"]["deletes_sent"] == SMOKE.revoke_keys and out["warm"]["answers_429"] == 0
    assert out["direct_client"]["answers_429"] == 0 and out["floor_s"] == SMOKE.revoke_latency
    assert out["stand_in"]["answers_429"] == 0 and out["stand_in"]["last_key_gone_s"] >= SMOKE.revoke_latency


def test_killswitch_phase_deletes_every_key_across_sub_accounts(tmp_path: Path) -> None:
    """The kill switch phase deletes every seeded key, in several sub-accounts, once, without a 429, and
    watches its progress message change."""
    out = killswitch.run(SMOKE, tmp_path)
    assert out["keys"] == SMOKE.kill_keys and out["deletes_sent"] == SMOKE.kill_keys and out["answers_429"] == 0
    assert out["sub_accounts"] == SMOKE.kill_subs and out["progress_changes"] >= 2 and out["vs_floor"] > 0


def test_startup_phase_reads_memory_of_a_ready_bot(tmp_path: Path) -> None:
    """The start-up phase waits for /readyz and reads the idle bot's RSS."""
    out = startup.run(SMOKE, tmp_path)
    assert len(out["runs"]) == SMOKE.startups and out["runs"][0]["rss_mb"] > 0
    assert out["runs"][0]["worker_rss_mb"] > 0  # `kukey run`'s worker process is counted too


def test_a_run_checks_targets_and_prints_a_table(tmp_path: Path) -> None:
    """A run records the machine, checks the targets of the phases it ran, and renders as a table and JSON."""
    results = run(SMOKE, ["audit"], tmp_path)
    assert results["machine"]["nproc"] >= 1 and results["targets"]
    assert {t["target"].split(" >=")[0] for t in results["targets"]} == {"audit verify", "`kukey audit verify`"}
    assert "Audit log" in report.table(results)
    assert results["bench_collector"]["audit"]["collections"] == 0  # the phase ran with the collector held
    assert "held its garbage collector in every phase: 0 collections" in report.table(results)
    json.dumps(results)


def test_a_run_with_slack_on_https(tmp_path: Path) -> None:
    """`--slack-tls`: the lifecycles run against the Slack fake on HTTPS (kukey and the bare app trusting its
    CA), the report says so, and the scenes after the run are back on plain HTTP."""
    results = run(dataclasses.replace(SMOKE, slack_tls=True), ["lifecycle", "acks"], tmp_path)
    assert results["lifecycle"]["total_ms"]["n"] == SMOKE.lifecycles
    assert all(row["statuses"] == {"200": SMOKE.requests} for row in results["acks"]["bare"])
    assert "--db SQLite, Slack over HTTPS" in report.table(results)
    with Scene(tmp_path / "after") as scene:
        assert scene.fake.api_url.startswith("http://")


def test_a_run_with_kucoin_on_https(tmp_path: Path) -> None:
    """`--kucoin-tls`: the revoke phase runs against the KuCoin sandbox on HTTPS (kukey, the bench's seeding and
    the direct client trusting its CA), the report says so, and afterwards this process trusts what it did."""
    before = os.environ.get("SSL_CERT_FILE")
    results = run(dataclasses.replace(SMOKE, kucoin_tls=True), ["revoke"], tmp_path)
    assert results["revoke"]["warm"]["deletes_sent"] == SMOKE.revoke_keys
    assert results["revoke"]["direct_client"]["answers_429"] == 0
    assert "--db SQLite, KuCoin over HTTPS" in report.table(results)
    assert os.environ.get("SSL_CERT_FILE") == before
    with Scene(tmp_path / "after") as scene:
        assert scene.sandbox.url.startswith("http://")


def test_failover_phase_times_a_survivor_finishing_a_killed_replicas_revoke(tmp_path: Path) -> None:
    """The failover phase kills the replica running an incident revoke and times a survivor deleting every
    key, on PostgreSQL."""
    out = failover.run(SMOKE, tmp_path)
    (one,) = out["runs"]
    assert one["keys_left_at_kill"] >= SMOKE.failover_hanging and one["last_key_gone_after_kill_s"] > 0
    assert "failover" in report.table({"machine": {"nproc": 1, "cpu_model": "x", "ram_gib": 1, "python": "3"},
                                       "mode": "smoke", "load_before": "0", "load_after": "0", "duration_s": 1,
                                       "failover": out}).lower()


def test_kukey_acks_run_on_postgresql(tmp_path: Path) -> None:
    """With `--db postgres` a phase's kukey runs on a PostgreSQL database the bench started, and the bench
    sees every request kukey posted there."""
    row = acks.kukey(dataclasses.replace(SMOKE, db="postgres"), tmp_path, 2)
    assert row["n"] == SMOKE.requests and "all_posted_after_s" in row


def test_growth_phase_times_the_acks_on_an_empty_and_a_full_database(tmp_path: Path) -> None:
    """The growth phase starts kukey on an empty database and on one with a history, reads both bots' memory
    and answers every list, pending and status on both."""
    out = growth.run(SMOKE, tmp_path)
    rows = out["fill"]["full"]["rows"]
    assert rows["closed requests"] == SMOKE.growth_requests and rows["audit events"] == SMOKE.growth_events
    assert {command: {db: acks[db]["statuses"] for db in growth.DATABASES} for command, acks in out["acks"].items()} \
        == {command: {db: {"200": SMOKE.growth_acks} for db in growth.DATABASES} for command in growth.COMMANDS}
    assert all(m["idle_rss_mb"] > 0 and m["rss_mb"] > 0 for m in out["memory"].values())
    assert len(growth.targets(out)) == 2 + 2 * len(growth.COMMANDS) and "Growth" in "\n".join(growth.lines(out))


def test_the_filled_history_is_a_valid_audit_chain(tmp_path: Path) -> None:
    """The history the growth phase writes in bulk is an audit chain signed with the master key, that
    verify() accepts event by event."""
    url, master = f"sqlite:///{tmp_path / 'kukey.db'}", os.urandom(32)
    made = fill.fill(url, master, requests=40, events=400, now=datetime.now(UTC))
    engine = make_engine(url)
    try:
        result = verify(engine, master_key=master)
    finally:
        engine.dispose()
    assert made["rows"]["audit events"] == 400 and result.ok and result.count == 400
