"""bot.ops.metrics: kukey's metrics in prometheus_client, read back with prometheus_client's own parser."""

from __future__ import annotations

import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import __version__
from bot.ops.metrics import Metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[dict[str, str], Samples]:
    """({family name: type}, {(sample name, labels): value}) of an exposition text."""
    kinds: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        kinds[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return kinds, samples


def test_kukey_metrics_render_and_parse_back() -> None:
    """Every kukey metric keeps its name and type, requests by state come from the callback, errors count by
    code, both latency histograms fill their buckets, and the Socket Mode connection metrics add up."""
    m = Metrics(requests_by_state=lambda: {"pending": 2, "done": 5})
    m.approval()
    m.approval()
    m.totp_failure()
    m.kucoin_call("GET /api/v1/user/api-key", 0.02)
    m.kucoin_call("POST /api/v1/sub/api-key", 0.3, code="400100")
    m.kucoin_error("429000")
    m.slack_ack(0.04, 200)
    m.slack_reconnect("stale")
    m.slack_reconnect("refresh_requested")
    m.slack_reconnect("stale")
    m.slack_offline(1.5)
    m.slack_offline(0.25)
    m.slack_connections(2)
    kinds, samples = parse(m.render())
    assert {name: kind for name, kind in kinds.items()
            if name.startswith("kukey_") and not name.endswith("_created")} == {
        "kukey_requests": "gauge", "kukey_approvals": "counter", "kukey_totp_failures": "counter",
        "kukey_kucoin_call_seconds": "histogram", "kukey_kucoin_errors": "counter",
        "kukey_slack_ack_seconds": "histogram", "kukey_build_info": "gauge", "kukey_slack_reconnects": "counter",
        "kukey_slack_offline_seconds": "counter", "kukey_slack_connections": "gauge",
        "kukey_audit_forwarded": "counter", "kukey_audit_forward_lag": "gauge",
        "kukey_audit_forward_failures": "counter", "kukey_audit_forward_leader": "gauge"}
    assert samples[("kukey_requests", frozenset({("state", "pending")}))] == 2
    assert samples[("kukey_requests", frozenset({("state", "done")}))] == 5
    assert samples[("kukey_approvals_total", frozenset())] == 2
    assert samples[("kukey_totp_failures_total", frozenset())] == 1
    assert samples[("kukey_kucoin_errors_total", frozenset({("code", "400100")}))] == 1
    assert samples[("kukey_kucoin_errors_total", frozenset({("code", "429000")}))] == 1
    create = frozenset({("endpoint", "POST /api/v1/sub/api-key")})
    assert samples[("kukey_kucoin_call_seconds_count", create)] == 1
    assert samples[("kukey_kucoin_call_seconds_bucket", create | {("le", "0.25")})] == 0
    assert samples[("kukey_kucoin_call_seconds_bucket", create | {("le", "0.5")})] == 1
    assert samples[("kukey_slack_ack_seconds_bucket", frozenset({("le", "+Inf")}))] == 1
    assert samples[("kukey_slack_ack_seconds_sum", frozenset())] == pytest.approx(0.04)
    assert samples[("kukey_slack_reconnects_total", frozenset({("reason", "stale")}))] == 2
    assert samples[("kukey_slack_reconnects_total", frozenset({("reason", "refresh_requested")}))] == 1
    assert samples[("kukey_slack_offline_seconds_total", frozenset())] == pytest.approx(1.75)
    assert samples[("kukey_slack_connections", frozenset())] == 2


def test_the_audit_stream_metrics_count_deliveries_lag_failures_and_the_lease() -> None:
    """Events forwarded add up, the lag and the leader flag show their last value, failures count by reason."""
    m = Metrics()
    m.audit_forwarded()
    m.audit_forwarded()
    m.audit_forward_lag(7)
    m.audit_forward_failed("timeout")
    m.audit_forward_failed("http_503")
    m.audit_forward_failed("timeout")
    m.audit_forward_leading(True)
    _, samples = parse(m.render())
    assert samples[("kukey_audit_forwarded_total", frozenset())] == 2
    assert samples[("kukey_audit_forward_lag", frozenset())] == 7
    assert samples[("kukey_audit_forward_failures_total", frozenset({("reason", "timeout")}))] == 2
    assert samples[("kukey_audit_forward_failures_total", frozenset({("reason", "http_503")}))] == 1
    assert samples[("kukey_audit_forward_leader", frozenset())] == 1


def test_build_info_and_the_process_and_platform_collectors_are_there() -> None:
    """The scrape carries kukey_build_info with the version, and the process and Python collectors' series."""
    _, samples = parse(Metrics(version="9.8.7").render())
    assert samples[("kukey_build_info", frozenset({("version", "9.8.7")}))] == 1
    assert samples[("process_resident_memory_bytes", frozenset())] > 0
    assert samples[("process_open_fds", frozenset())] > 0
    assert any(name == "python_info" for name, _ in samples)
    assert any(name == "python_gc_collections_total" for name, _ in samples)
    _, default = parse(Metrics().render())
    assert default[("kukey_build_info", frozenset({("version", __version__)}))] == 1


def test_unused_metrics_still_render_zeroes() -> None:
    """Before anything happens, unlabelled counters and the ack histogram show 0, so a series exists."""
    _, samples = parse(Metrics().render())
    assert samples[("kukey_approvals_total", frozenset())] == 0
    assert samples[("kukey_slack_ack_seconds_count", frozenset())] == 0
    assert not any(name == "kukey_requests" for name, _ in samples)


def test_failing_requests_source_does_not_break_the_scrape(caplog: pytest.LogCaptureFixture) -> None:
    """A callback that raises leaves kukey_requests empty and logs one line; every other metric renders."""
    def broken() -> dict[str, int]:
        raise RuntimeError("database is locked")
    m = Metrics(requests_by_state=broken)
    m.approval()
    _, samples = parse(m.render())
    assert samples[("kukey_approvals_total", frozenset())] == 1
    assert not any(name == "kukey_requests" for name, _ in samples)
    assert [r.getMessage() for r in caplog.records if r.name == "kukey.metrics"] == ["metrics source failed"]


def test_two_bots_in_one_process_keep_their_own_metrics() -> None:
    """Each Metrics owns its registry: a second one neither clashes with the first nor shares its counts."""
    first, second = Metrics(), Metrics()
    first.approval()
    assert parse(first.render())[1][("kukey_approvals_total", frozenset())] == 1
    assert parse(second.render())[1][("kukey_approvals_total", frozenset())] == 0


def test_concurrent_updates_are_not_lost() -> None:
    """Eight threads updating the same counter and histogram while another scrapes lose no update."""
    m = Metrics()
    start = threading.Barrier(9)
    done = threading.Event()

    def work() -> None:
        start.wait()
        for _ in range(2000):
            m.approval()
            m.kucoin_call("GET /x", 0.01, code="500000")

    def scrape() -> None:
        start.wait()
        while not done.is_set():
            parse(m.render())

    workers = [threading.Thread(target=work) for _ in range(8)]
    reader = threading.Thread(target=scrape)
    for t in [*workers, reader]:
        t.start()
    for t in workers:
        t.join()
    done.set()
    reader.join()
    _, samples = parse(m.render())
    assert samples[("kukey_approvals_total", frozenset())] == 16000
    assert samples[("kukey_kucoin_errors_total", frozenset({("code", "500000")}))] == 16000
    assert samples[("kukey_kucoin_call_seconds_count", frozenset({("endpoint", "GET /x")}))] == 16000
