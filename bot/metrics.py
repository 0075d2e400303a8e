"""Health and Prometheus metrics, with no dependency beyond the standard library.

`Registry` holds counters, gauges and fixed-bucket histograms and renders them in the Prometheus text
exposition format 0.0.4. `Metrics` is kukey's own set (requests by state, approvals, TOTP failures,
KuCoin call latency and errors, Slack ack latency). `health_route()` and `metrics_route()` make GET
routes for bot.slack.transport.HttpTransport; `MetricsServer` serves them on their own port in Socket
Mode, where there is no HTTP transport. Every metric is thread-safe.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("kukey.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KUCOIN_SUCCESS = "200000"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)  # Slack gives up after 3 s

# (status, content type, body), the same shape as bot.slack.transport.GetRoute
GetRoute = Callable[[], tuple[int, str, bytes]]
LabelValues = tuple[str, ...]
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it: integers without a point, +Inf, -Inf, NaN."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _series(name: str, names: Sequence[str], values: Sequence[str], value: float) -> str:
    labels = ",".join(f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True))
    return f"{name}{{{labels}}} {format_value(value)}" if labels else f"{name} {format_value(value)}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        if not _NAME.match(name) or not all(_LABEL.match(label) for label in labels):
            raise ValueError(f"not a valid metric or label name: {name} {labels}")
        self.name, self.help, self.labels = name, help, tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> LabelValues:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {} if labels else {(): 0.0}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [_series(self.name, self.labels, key, value) for key, value in items]


class Gauge(_Metric):
    """A value set directly, or read from `source` (label values -> value) at render time."""

    kind = "gauge"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (),
                 source: Callable[[], Mapping[LabelValues, float]] | None = None) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {}
        self.source = source

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def samples(self) -> list[str]:
        values = dict(self._from_source()) if self.source is not None else None
        with self._lock:
            items = sorted((values if values is not None else self._values).items())
        return [_series(self.name, self.labels, key, value) for key, value in items]

    def _from_source(self) -> Mapping[LabelValues, float]:
        assert self.source is not None
        try:
            return self.source()
        except Exception as exc:  # a metrics scrape must not fail because one source did
            log.warning("metrics source failed", extra={"metric": self.name, "error": type(exc).__name__})
            return {}


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (),
                 buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(float(b) for b in buckets if not math.isinf(b)))
        self._data: dict[LabelValues, list[float]] = {} if labels else {(): self._empty()}

    def _empty(self) -> list[float]:
        return [0.0] * (len(self.buckets) + 2)  # one count per bucket (not cumulative), then sum, count

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            data = self._data.setdefault(key, self._empty())
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    data[i] += 1
                    break
            data[-2] += value
            data[-1] += 1

    def count(self, **labels: str) -> int:
        with self._lock:
            data = self._data.get(self._key(labels))
            return int(data[-1]) if data else 0

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted((key, list(data)) for key, data in self._data.items())
        names = (*self.labels, "le")
        lines: list[str] = []
        for key, data in items:
            running = 0.0
            for i, bound in enumerate(self.buckets):
                running += data[i]
                lines.append(_series(f"{self.name}_bucket", names, (*key, format_value(bound)), running))
            lines.append(_series(f"{self.name}_bucket", names, (*key, "+Inf"), data[-1]))
            lines.append(_series(f"{self.name}_sum", self.labels, key, data[-2]))
            lines.append(_series(f"{self.name}_count", self.labels, key, data[-1]))
        return lines


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def add(self, metric: _Metric) -> Any:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        with self._lock:
            metrics = list(self._metrics.values())
        lines: list[str] = []
        for metric in metrics:
            lines += metric.header() + metric.samples()
        return "\n".join(lines) + "\n"


class Metrics:
    """kukey's metrics. `requests_by_state` (state -> count) is read at each render, e.g. from the DB."""

    def __init__(self, requests_by_state: Callable[[], Mapping[str, int]] | None = None) -> None:
        self.registry = Registry()
        self._requests_source = requests_by_state
        r = self.registry
        self.requests: Gauge = r.add(Gauge("kukey_requests", "Requests by state.", ["state"],
                                           source=self._requests))
        self.approvals: Counter = r.add(Counter("kukey_approvals_total", "Approvals accepted."))
        self.totp_failures: Counter = r.add(Counter("kukey_totp_failures_total", "TOTP codes refused."))
        self.kucoin_seconds: Histogram = r.add(Histogram(
            "kukey_kucoin_call_seconds", "KuCoin API call latency, by endpoint.", ["endpoint"]))
        self.kucoin_errors: Counter = r.add(Counter(
            "kukey_kucoin_errors_total", "KuCoin calls that failed, by KuCoin code.", ["code"]))
        self.ack_seconds: Histogram = r.add(Histogram(
            "kukey_slack_ack_seconds", "Time to answer (ack) a Slack request.", buckets=ACK_BUCKETS))

    def set_requests_source(self, source: Callable[[], Mapping[str, int]]) -> None:
        self._requests_source = source

    def _requests(self) -> Mapping[LabelValues, float]:
        if self._requests_source is None:
            return {}
        return {(str(state),): float(n) for state, n in self._requests_source().items()}

    def approval(self) -> None:
        self.approvals.inc()

    def totp_failure(self) -> None:
        self.totp_failures.inc()

    def kucoin_call(self, endpoint: str, seconds: float, code: str = KUCOIN_SUCCESS) -> None:
        """One KuCoin answer (or failure: code = KuCoin's code, an HTTP status or an error name)."""
        self.kucoin_seconds.observe(seconds, endpoint=endpoint)
        if code != KUCOIN_SUCCESS:
            self.kucoin_error(code)

    def kucoin_error(self, code: str) -> None:
        self.kucoin_errors.inc(code=code)

    def slack_ack(self, seconds: float, status: int = 200) -> None:
        """Matches bot.slack.transport.AckObserver: (seconds, HTTP status)."""
        self.ack_seconds.observe(seconds)

    def render(self) -> str:
        return self.registry.render()


# --- routes and the standalone server ---------------------------------------------------------------

def health_route(check: Callable[[], bool] | None = None) -> GetRoute:
    """GET /healthz: 200 "ok" while `check()` is true (or always, without a check), else 503."""
    def route() -> tuple[int, str, bytes]:
        try:
            healthy = check() if check is not None else True
        except Exception:  # a failing check means unhealthy, never a 500 with a traceback
            healthy = False
        if healthy:
            return 200, "text/plain; charset=utf-8", b"ok\n"
        return 503, "text/plain; charset=utf-8", b"unhealthy\n"
    return route


def metrics_route(metrics: Metrics) -> GetRoute:
    """GET /metrics: the Prometheus text format."""
    return lambda: (200, CONTENT_TYPE, metrics.render().encode("utf-8"))


def routes(metrics: Metrics, check: Callable[[], bool] | None = None) -> dict[str, GetRoute]:
    return {"/healthz": health_route(check), "/metrics": metrics_route(metrics)}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            status, ctype, body = 404, "text/plain; charset=utf-8", b"not found\n"
        else:
            status, ctype, body = route()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, GetRoute]


class MetricsServer:
    """Serves GET routes (/healthz, /metrics) on host:port in a background thread (port 0: any)."""

    def __init__(self, host: str, port: int, routes: Mapping[str, GetRoute]) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.routes = dict(routes)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="kukey-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
