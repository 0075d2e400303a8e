"""Several kukey processes on one database: exactly one forwards the audit stream at a time (the lease in
audit_forward), another takes over when it stops or dies, and a process that lost the lease cannot move
the cursor."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from bot.audit_stream.cursor import Claim, Cursor
from bot.audit_stream.reading import stream_engine
from bot.audit_stream.target import parse
from bot.domain.clock import FakeClock
from bot.ops.metrics import Metrics
from tests.audit_stream.helpers import Log, forwarder, streaming, wait_until
from tests.audit_stream.receivers import WebhookReceiver
from tests.audit_stream.test_webhook import sample
from tests.storage.audit_helpers import open_engine

LEASE = 30


def leading(metrics: Metrics) -> float:
    return sample(metrics, "kukey_audit_forward_leader")


def test_two_forwarders_on_one_postgres_database_only_one_forwards(pg_url: str, clock: FakeClock,
                                                                   webhook: WebhookReceiver) -> None:
    """Two forwarders on one PostgreSQL database deliver each event once: one holds the lease and sends all
    of them, the other none; when the leader stops, the other delivers what follows."""
    engine = open_engine(pg_url)
    log = Log(engine, clock)
    metrics = [Metrics(), Metrics()]
    streams = [forwarder(pg_url, webhook.url, clock=clock, metrics=m).start() for m in metrics]
    try:
        log.write(20)
        wait_until(lambda: len(webhook.acknowledged()) == 20, "20 delivered")
        wait_until(lambda: sorted(leading(m) for m in metrics) == [0, 1], "one leader, one standby")
        leader = next(i for i, m in enumerate(metrics) if leading(m))
        standby = 1 - leader
        wait_until(lambda: sample(metrics[leader], "kukey_audit_forwarded_total") == 20, "the leader counted 20")
        assert sample(metrics[standby], "kukey_audit_forwarded_total") == 0
        streams[leader].stop()
        log.write(5)
        wait_until(lambda: sample(metrics[standby], "kukey_audit_forwarded_total") == 5,
                   "5 more delivered by the other")
    finally:
        for stream in streams:
            stream.stop()
        engine.dispose()
    assert webhook.seqs() == list(range(1, 26))


def test_a_dead_holders_lease_is_taken_over_once_it_runs_out(database_url: str, engine: Engine, log: Log,
                                                             clock: FakeClock, webhook: WebhookReceiver) -> None:
    """A process that took the lease and died (never renewing, never releasing) holds the stream back only
    until its lease runs out; then the next process forwards every event."""
    log.write(5)
    key = parse(webhook.url).key
    dead_engine = stream_engine(database_url, read_only=False)
    dead = Cursor(dead_engine, key, clock=clock, lease=timedelta(seconds=LEASE), holder="crashed:1:dead")
    assert dead.claim() == Claim(leading=True, last_seq=0)
    metrics = Metrics()
    try:
        with streaming(database_url, webhook.url, clock=clock, metrics=metrics, lease_seconds=LEASE):
            wait_until(lambda: sample(metrics, "kukey_audit_forward_lag") == 5, "the standby sees the lag")
            assert webhook.posts == [] and leading(metrics) == 0
            clock.advance(timedelta(seconds=LEASE + 1))
            wait_until(lambda: len(webhook.acknowledged()) == 5, "delivered after the takeover")
            assert leading(metrics) == 1
            assert dead.advance(5) is False  # the dead process, were it to wake, cannot move the cursor
            assert not dead.claim().leading
    finally:
        dead_engine.dispose()
    assert webhook.seqs() == [1, 2, 3, 4, 5]
