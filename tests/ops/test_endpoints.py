"""bot.ops.endpoints: /livez, /readyz, /healthz and /metrics over real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.endpoints import ops_server
from bot.ops.health import Readiness
from bot.ops.metrics import Metrics


class Switch:
    """A readiness check the test turns on and off (or makes raise)."""

    def __init__(self) -> None:
        self.ok = True
        self.boom = False

    def __call__(self) -> bool:
        if self.boom:
            raise RuntimeError("engine gone")
        return self.ok


@pytest.fixture
def ops() -> Iterator[tuple[str, Metrics, dict[str, Switch]]]:
    metrics, readiness = Metrics(requests_by_state=lambda: {"approved": 1}), Readiness()
    switches = {"database": Switch(), "scheduler": Switch()}
    for name, switch in switches.items():
        readiness.add(name, switch)
    server = ops_server(metrics, readiness, host="127.0.0.1", port=0).start()
    yield f"http://127.0.0.1:{server.port}", metrics, switches
    server.stop()


def test_livez_and_readyz_answer_ok_when_every_check_passes(ops: tuple[str, Metrics, dict[str, Switch]]) -> None:
    """/livez, /readyz and its alias /healthz answer 200 "ok" while every readiness check passes."""
    base, _, _ = ops
    for path in ("/livez", "/readyz", "/healthz"):
        answer = httpx.get(base + path)
        assert (answer.status_code, answer.text) == (200, "ok\n"), path


def test_readyz_names_the_failing_checks(ops: tuple[str, Metrics, dict[str, Switch]],
                                         caplog: pytest.LogCaptureFixture) -> None:
    """/readyz and /healthz answer 503 naming each failing check (one that raises fails too, logged once),
    /livez stays 200, and readiness comes back when the checks pass again."""
    base, _, switches = ops
    switches["scheduler"].ok = False
    assert (httpx.get(base + "/readyz").status_code, httpx.get(base + "/readyz").text) == (
        503, "not ready: scheduler\n")
    switches["database"].boom = True
    caplog.set_level(logging.INFO, logger="kukey")
    answer = httpx.get(base + "/healthz")
    assert (answer.status_code, answer.text) == (503, "not ready: database, scheduler\n")
    assert [(r.getMessage(), getattr(r, "check", "")) for r in caplog.records] == [
        ("readiness check failed", "database")]
    assert httpx.get(base + "/livez").status_code == 200
    switches["scheduler"].ok, switches["database"].boom = True, False
    assert httpx.get(base + "/readyz").status_code == 200


def test_metrics_is_prometheus_exposition_with_process_and_build_info(
        ops: tuple[str, Metrics, dict[str, Switch]]) -> None:
    """/metrics answers prometheus_client's text format: kukey's series, the process collector's and
    kukey_build_info; a scraper asking for OpenMetrics gets it."""
    base, metrics, _ = ops
    metrics.totp_failure()
    answer = httpx.get(base + "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(answer.text) for s in family.samples}
    assert samples[("kukey_totp_failures_total", ())] == 1
    assert samples[("kukey_requests", (("state", "approved"),))] == 1
    assert samples[("process_cpu_seconds_total", ())] >= 0
    assert any(name == "kukey_build_info" for name, _ in samples)
    open_metrics = httpx.get(base + "/metrics", headers={"Accept": "application/openmetrics-text"})
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")


def test_other_paths_and_methods_are_refused(ops: tuple[str, Metrics, dict[str, Switch]]) -> None:
    """Anything else is 404 (the Slack endpoint is not here), and only GET is served."""
    base, _, _ = ops
    assert httpx.get(base + "/slack/events").status_code == 404
    assert httpx.get(base + "/").status_code == 404
    assert httpx.post(base + "/readyz", content=b"x").status_code == 405


def test_a_check_name_is_taken_once() -> None:
    """Two readiness checks cannot share a name; the checks keep the order they were added in."""
    readiness = Readiness()
    readiness.add("database", lambda: True)
    readiness.add("slack", lambda: False)
    with pytest.raises(ValueError, match="database"):
        readiness.add("database", lambda: False)
    assert readiness.names() == ["database", "slack"]
    assert readiness.failing() == ["slack"]
