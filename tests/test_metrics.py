"""bot.metrics: Prometheus text format, thread safety, and /healthz and /metrics over real HTTP."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request

import pytest

from bot.metrics import (
    CONTENT_TYPE,
    Counter,
    Gauge,
    Histogram,
    Metrics,
    MetricsServer,
    Registry,
    health_route,
    metrics_route,
    routes,
)

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"')


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[dict[str, tuple[str, str]], Samples]:
    """A small exposition-format parser: ({name: (type, help)}, {(name, labels): value})."""
    meta: dict[str, list[str]] = {}
    samples: Samples = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            meta.setdefault(name, ["", ""])[1] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            meta.setdefault(name, ["", ""])[0] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            labels = frozenset(_LABEL.findall(match.group(2) or ""))
            samples[(match.group(1), labels)] = float(match.group(3))
    return {k: (v[0], v[1]) for k, v in meta.items()}, samples


def test_render_is_exact_exposition_text() -> None:
    """Counters, gauges and histograms render with HELP/TYPE, escaped labels, cumulative buckets and +Inf."""
    reg = Registry()
    c = reg.add(Counter("t_total", "Things.\nTwo lines \\ here.", ["code"]))
    g = reg.add(Gauge("t_level", "A level."))
    h = reg.add(Histogram("t_seconds", "Latency.", buckets=[0.1, 1.0]))
    c.inc(code='a"b\\c\nd')
    c.inc(2, code="x")
    g.set(1.5)
    for v in (0.05, 0.5, 0.5, 3.0):
        h.observe(v)
    assert reg.render() == (
        "# HELP t_total Things.\\nTwo lines \\\\ here.\n"
        "# TYPE t_total counter\n"
        't_total{code="a\\"b\\\\c\\nd"} 1\n'
        't_total{code="x"} 2\n'
        "# HELP t_level A level.\n"
        "# TYPE t_level gauge\n"
        "t_level 1.5\n"
        "# HELP t_seconds Latency.\n"
        "# TYPE t_seconds histogram\n"
        't_seconds_bucket{le="0.1"} 1\n'
        't_seconds_bucket{le="1"} 3\n'
        't_seconds_bucket{le="+Inf"} 4\n'
        "t_seconds_sum 4.05\n"
        "t_seconds_count 4\n"
    )


def test_kukey_metrics_render_and_parse_back() -> None:
    """Every kukey metric is declared, requests by state come from the callback, errors count by code."""
    m = Metrics(requests_by_state=lambda: {"pending": 2, "done": 5})
    m.approval()
    m.approval()
    m.totp_failure()
    m.kucoin_call("GET /api/v1/user/api-key", 0.02)
    m.kucoin_call("POST /api/v1/sub/api-key", 0.3, code="400100")
    m.kucoin_error("429000")
    m.slack_ack(0.04, 200)
    meta, samples = parse(m.render())
    assert {name: kind for name, (kind, _) in meta.items()} == {
        "kukey_requests": "gauge", "kukey_approvals_total": "counter", "kukey_totp_failures_total": "counter",
        "kukey_kucoin_call_seconds": "histogram", "kukey_kucoin_errors_total": "counter",
        "kukey_slack_ack_seconds": "histogram"}
    assert all(help_text for _, help_text in meta.values())
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


def test_unused_metrics_still_render_zeroes() -> None:
    """Before anything happens, unlabelled counters and the ack histogram show 0, so a series exists."""
    _, samples = parse(Metrics().render())
    assert samples[("kukey_approvals_total", frozenset())] == 0
    assert samples[("kukey_slack_ack_seconds_count", frozenset())] == 0
    assert not any(name == "kukey_requests" for name, _ in samples)


def test_failing_requests_source_does_not_break_the_scrape() -> None:
    """A callback that raises leaves kukey_requests empty; every other metric still renders."""
    def broken() -> dict[str, int]:
        raise RuntimeError("database is locked")
    m = Metrics(requests_by_state=broken)
    m.approval()
    _, samples = parse(m.render())
    assert samples[("kukey_approvals_total", frozenset())] == 1
    assert not any(name == "kukey_requests" for name, _ in samples)


def test_wrong_labels_and_negative_increments_are_refused() -> None:
    """A metric refuses missing or extra labels, a counter refuses to go down, and names are validated."""
    c = Counter("x_total", "X.", ["code"])
    with pytest.raises(ValueError):
        c.inc()
    with pytest.raises(ValueError):
        c.inc(code="1", other="2")
    with pytest.raises(ValueError):
        c.inc(-1, code="1")
    with pytest.raises(ValueError):
        Counter("bad-name", "X.")
    reg = Registry()
    reg.add(Counter("dup_total", "X."))
    with pytest.raises(ValueError):
        reg.add(Counter("dup_total", "X."))


def test_concurrent_updates_are_not_lost() -> None:
    """Eight threads updating the same counter and histogram while another renders lose no update."""
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
    assert m.approvals.value() == 16000
    assert m.kucoin_errors.value(code="500000") == 16000
    assert m.kucoin_seconds.count(endpoint="GET /x") == 16000


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - a loopback http URL
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_metrics_server_serves_healthz_and_metrics_over_http() -> None:
    """A real GET on 127.0.0.1 returns "ok" on /healthz, the exposition text on /metrics, 404 elsewhere."""
    m = Metrics(requests_by_state=lambda: {"approved": 1})
    m.totp_failure()
    with MetricsServer("127.0.0.1", 0, routes(m)) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert _get(base + "/healthz") == (200, "text/plain; charset=utf-8", "ok\n")
        status, ctype, body = _get(base + "/metrics")
        assert (status, ctype) == (200, CONTENT_TYPE)
        _, samples = parse(body)
        assert samples[("kukey_totp_failures_total", frozenset())] == 1
        assert samples[("kukey_requests", frozenset({("state", "approved")}))] == 1
        assert _get(base + "/nope")[0] == 404


def test_health_route_reports_unhealthy_when_the_check_fails() -> None:
    """/healthz answers 503 when its check returns False or raises, and 200 once it passes again."""
    state = {"ok": False}

    def check() -> bool:
        if state.get("boom"):
            raise RuntimeError("engine gone")
        return state["ok"]

    route = health_route(check)
    assert route()[0] == 503
    state["ok"] = True
    assert route() == (200, "text/plain; charset=utf-8", b"ok\n")
    state["boom"] = True
    assert route()[0] == 503
    assert metrics_route(Metrics())()[1] == CONTENT_TYPE
