"""The forwarder ships every audit event to a real HTTP receiver on 127.0.0.1: in order, each exactly as
`kukey audit export` prints it, signed; through an outage; and from the durable cursor after a restart."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bot.domain.clock import FakeClock
from bot.ops.metrics import Metrics
from tests.audit_stream.helpers import Log, exported, seqs_of, streaming, wait_until
from tests.audit_stream.receivers import FAIL, WebhookReceiver
from tests.databases import rows

SECRET = "a-shared-secret-of-some-length"


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_every_event_arrives_in_order_exactly_as_exported_and_signed(
        database_url: str, log: Log, clock: FakeClock, webhook: WebhookReceiver,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Each event is POSTed once, in seq order, with the body `export --format jsonl` prints for it, its seq
    in X-Kukey-Seq and a valid HMAC-SHA256 signature; events written later follow live; the metrics count."""
    log.write(30)
    metrics = Metrics()
    with streaming(database_url, webhook.url, clock=clock, secret=SECRET, metrics=metrics):
        wait_until(lambda: len(webhook.acknowledged()) == 30, "30 events delivered")
        log.write(5, sub_account="sub-b")
        wait_until(lambda: len(webhook.acknowledged()) == 35, "5 more, written while it runs")
    lines = exported(database_url, monkeypatch, capsys)
    assert [p.body.decode() for p in webhook.posts] == lines
    assert webhook.seqs() == list(range(1, 36)) == seqs_of(lines)
    assert all(p.headers["x-kukey-seq"] == str(p.seq) for p in webhook.posts)
    assert all(p.signed_by(SECRET) and not p.signed_by(SECRET + "x") for p in webhook.posts)
    assert sample(metrics, "kukey_audit_forwarded_total") == 35
    assert sample(metrics, "kukey_audit_forward_lag") == 0


def test_an_outage_delays_events_but_loses_none_and_repeats_only_unacknowledged_ones(
        database_url: str, log: Log, clock: FakeClock, webhook: WebhookReceiver) -> None:
    """While the receiver answers 503 and then is down altogether, events wait; once it is back every event
    arrives in order, and the only repeats are of attempts that were not acknowledged."""
    metrics = Metrics()
    with streaming(database_url, webhook.url, clock=clock, metrics=metrics):
        log.write(5)
        wait_until(lambda: webhook.acknowledged() == [1, 2, 3, 4, 5], "the first 5 delivered")
        webhook.mode = FAIL
        log.write(5)
        wait_until(lambda: webhook.seqs().count(6) >= 3, "event 6 refused three times")
        webhook.stop()
        log.write(5)
        wait_until(lambda: sample(metrics, "kukey_audit_forward_failures_total", reason="ConnectError"),
                   "a delivery refused at the TCP level")
        wait_until(lambda: sample(metrics, "kukey_audit_forward_lag") == 10, "a lag of 10 events")
        webhook.mode = "ok"
        webhook.start()
        wait_until(lambda: webhook.acknowledged()[-1:] == [15], "all 15 delivered")
    seqs = webhook.seqs()
    assert seqs == sorted(seqs) and set(seqs) == set(range(1, 16))
    assert webhook.acknowledged() == list(range(1, 16))
    for seq in set(seqs):
        attempts = [p for p in webhook.posts if p.seq == seq]
        assert [p.acknowledged for p in attempts] == [False] * (len(attempts) - 1) + [True], seq
    assert sample(metrics, "kukey_audit_forward_failures_total", reason="http_503") >= 3
    assert sample(metrics, "kukey_audit_forward_lag") == 0


def test_a_restart_resumes_from_the_durable_cursor(database_url: str, log: Log, clock: FakeClock,
                                                   webhook: WebhookReceiver) -> None:
    """A second forwarder (a restarted kukey) starts after the last acknowledged event: nothing is sent
    twice, and the cursor row says how far the target got."""
    log.write(10)
    with streaming(database_url, webhook.url, clock=clock):
        wait_until(lambda: len(webhook.acknowledged()) == 10, "10 delivered")
    log.write(10)
    with streaming(database_url, webhook.url, clock=clock):
        wait_until(lambda: len(webhook.acknowledged()) == 20, "10 more delivered after the restart")
    assert webhook.seqs() == list(range(1, 21))
    assert rows(database_url, "SELECT last_seq, holder FROM audit_forward") == [(20, None)]


def test_a_new_target_starts_from_the_first_event(database_url: str, log: Log, clock: FakeClock,
                                                  engine: Engine) -> None:
    """Each target has its own cursor: a receiver configured later receives the whole log from event 1."""
    log.write(3)
    receivers = [WebhookReceiver(), WebhookReceiver()]
    try:
        for receiver in receivers:
            with streaming(database_url, receiver.url, clock=clock):
                wait_until(lambda r=receiver: len(r.acknowledged()) == 3, "3 delivered")  # type: ignore[misc]
        assert [r.seqs() for r in receivers] == [[1, 2, 3], [1, 2, 3]]
        assert len(rows(database_url, "SELECT target FROM audit_forward")) == 2
    finally:
        for receiver in receivers:
            receiver.stop()
