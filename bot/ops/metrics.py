"""kukey's Prometheus metrics, with prometheus_client, in a registry each `Metrics` owns (not the global one:
several bots in one test process must not share or clash).

Requests by state (`kukey_requests`) are read at scrape time from a source (the database); approvals and
TOTP failures are counted as the audit log records them; KuCoin call latency by endpoint and errors by
code; the Slack ack latency in both transports; Socket Mode's connections (live ones, replacements by
reason, seconds with none live); the audit stream (events forwarded, its lag in events, failures by
reason, whether this process forwards); prometheus_client's process (CPU, memory, file
descriptors), platform (Python version) and garbage-collector collectors; `kukey_build_info{version=...}`.
bot.ops.endpoints serves them on /metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot import __version__

log = logging.getLogger("kukey.metrics")

KUCOIN_SUCCESS = "200000"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)  # Slack gives up after 3 s
RequestsSource = Callable[[], Mapping[str, int]]


class RequestsByState(Collector):
    """`kukey_requests{state=...}`, read from `source` at each scrape. A failing source (database locked or
    gone) leaves the family empty and logs one line: the rest of the scrape still answers."""

    def __init__(self, source: RequestsSource | None = None) -> None:
        self.source = source

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        try:
            counts = dict(self.source()) if self.source is not None else {}
        except Exception as exc:  # a metrics scrape must not fail because one source did
            log.warning("metrics source failed", extra={"metric": family.name, "error": type(exc).__name__})
            counts = {}
        for state, count in sorted(counts.items()):
            family.add_metric([str(state)], float(count))
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("kukey_requests", "Requests by state.", labels=["state"])


class Metrics:
    """kukey's metrics and the registry that holds them. `requests_by_state` (state -> count) is read at
    each scrape, e.g. from the database."""

    def __init__(self, requests_by_state: RequestsSource | None = None, *, version: str = __version__) -> None:
        self.registry = r = CollectorRegistry()
        self._requests = RequestsByState(requests_by_state)
        r.register(self._requests)
        self.approvals = Counter("kukey_approvals", "Approvals accepted.", registry=r)
        self.totp_failures = Counter("kukey_totp_failures", "TOTP codes refused.", registry=r)
        self.kucoin_seconds = Histogram("kukey_kucoin_call_seconds", "KuCoin API call latency, by endpoint.",
                                        ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.kucoin_errors = Counter("kukey_kucoin_errors", "KuCoin calls that failed, by KuCoin code.", ["code"],
                                     registry=r)
        self.ack_seconds = Histogram("kukey_slack_ack_seconds", "Time to answer (ack) a Slack request.",
                                     buckets=ACK_BUCKETS, registry=r)
        self.slack_reconnects = Counter("kukey_slack_reconnects", "Socket Mode connections replaced, by reason "
                                        "(stale, closed, refresh_requested, warning, ...).", ["reason"], registry=r)
        self.slack_offline_seconds = Counter("kukey_slack_offline_seconds", "Seconds in Socket Mode without any "
                                             "live connection (open, and answering pings).", registry=r)
        self.slack_live_connections = Gauge("kukey_slack_connections", "Live Socket Mode connections.", registry=r)
        self.audit_forwarded_events = Counter("kukey_audit_forwarded", "Audit events the stream's target "
                                              "acknowledged.", registry=r)
        self.audit_forward_lag_events = Gauge("kukey_audit_forward_lag", "Audit events written but not yet "
                                              "acknowledged by the stream's target.", registry=r)
        self.audit_forward_failures = Counter("kukey_audit_forward_failures", "Audit stream deliveries that "
                                              "failed, by reason (timeout, http_503, ...).", ["reason"], registry=r)
        self.audit_forward_leader = Gauge("kukey_audit_forward_leader", "1 while this process forwards the "
                                          "audit stream (holds its lease).", registry=r)
        Info("kukey_build", "The running kukey.", registry=r).info({"version": version})
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    def relayed(self, message: dict[str, Any]) -> None:
        """Count what kukey's worker counted (a RelayedMetrics message); anything else is ignored."""
        name, args = message.get("metric"), message.get("args", [])
        if name in RELAYED and isinstance(args, list):
            getattr(self, str(name))(*args)

    def set_requests_source(self, source: RequestsSource) -> None:
        self._requests.source = source

    def approval(self) -> None:
        self.approvals.inc()

    def totp_failure(self) -> None:
        self.totp_failures.inc()

    def kucoin_call(self, endpoint: str, seconds: float, code: str = KUCOIN_SUCCESS) -> None:
        """One KuCoin answer (or failure: code = KuCoin's code, an HTTP status or an error name)."""
        self.kucoin_seconds.labels(endpoint=endpoint).observe(seconds)
        if code != KUCOIN_SUCCESS:
            self.kucoin_error(code)

    def kucoin_error(self, code: str) -> None:
        self.kucoin_errors.labels(code=code).inc()

    def slack_ack(self, seconds: float, status: int = 200) -> None:
        """Matches bot.slack.http.AckObserver: (seconds, HTTP status), in both transports."""
        self.ack_seconds.observe(seconds)

    def slack_reconnect(self, reason: str) -> None:
        """bot.slack.socket_mode.SocketObserver: a connection was replaced."""
        self.slack_reconnects.labels(reason=reason).inc()

    def slack_offline(self, seconds: float) -> None:
        self.slack_offline_seconds.inc(seconds)

    def slack_connections(self, live: int) -> None:
        self.slack_live_connections.set(live)

    def audit_forwarded(self) -> None:
        """bot.audit_stream.forwarder.ForwardObserver: the target acknowledged an event."""
        self.audit_forwarded_events.inc()

    def audit_forward_lag(self, events: int) -> None:
        self.audit_forward_lag_events.set(events)

    def audit_forward_failed(self, reason: str) -> None:
        self.audit_forward_failures.labels(reason=reason).inc()

    def audit_forward_leading(self, leading: bool) -> None:
        self.audit_forward_leader.set(1 if leading else 0)

    def render(self) -> str:
        """The Prometheus text exposition format (what /metrics answers a plain scrape)."""
        return generate_latest(self.registry).decode("utf-8")


RELAYED = ("approval", "totp_failure", "kucoin_call")  # what kukey's worker counts for its serving process


class RelayedMetrics(Metrics):
    """The metrics of kukey's worker (bot.cli.worker): it serves no /metrics, so what it counts goes to its
    serving process (`say`), which counts it with its own (`Metrics.relayed`)."""

    def __init__(self, say: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self._say = say

    def approval(self) -> None:
        self._say({"metric": "approval", "args": []})

    def totp_failure(self) -> None:
        self._say({"metric": "totp_failure", "args": []})

    def kucoin_call(self, endpoint: str, seconds: float, code: str = KUCOIN_SUCCESS) -> None:
        self._say({"metric": "kucoin_call", "args": [endpoint, seconds, code]})
