"""The ops port (KUKEY_METRICS_PORT), never the Slack endpoint, in both transports:

- `/livez`: 200 while the process serves at all;
- `/readyz` (and `/healthz`, its alias): 200 when every readiness check passes, else 503 naming the
  failing checks (bot.ops.health);
- `/metrics`: prometheus_client's own WSGI app over kukey's registry (bot.ops.metrics), which also
  answers OpenMetrics and gzip when the scraper asks.

They are served by the same embedded server as the Slack endpoint (bot.ops.server), with its own small
thread pool: one server, one set of limits and one way to stop, rather than prometheus_client's
wsgiref-based `start_http_server` next to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import make_wsgi_app

from bot.ops.health import Readiness
from bot.ops.metrics import Metrics
from bot.ops.server import OPS_LIMITS, Server, StartResponse, WsgiApp, plain


def ops_app(metrics: Metrics, readiness: Readiness) -> WsgiApp:
    scrape = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return plain(start_response, 405, "GET only\n")
        if path == "/metrics":
            return scrape(environ, start_response)  # type: ignore[no-any-return]
        if path == "/livez":
            return plain(start_response, 200, "ok\n")
        if path in ("/readyz", "/healthz"):
            failing = readiness.failing()
            if failing:
                return plain(start_response, 503, f"not ready: {', '.join(failing)}\n")
            return plain(start_response, 200, "ok\n")
        return plain(start_response, 404, "not found\n")

    return app


def ops_server(metrics: Metrics, readiness: Readiness, *, host: str, port: int) -> Server:
    """The ops endpoints on host:port (port 0: any), not started yet."""
    return Server(ops_app(metrics, readiness), host=host, port=port, limits=OPS_LIMITS, name="kukey-ops")
