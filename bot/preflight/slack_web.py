"""Just enough of Slack's Web API for the preflight: one form POST per method, over httpx.

slack_sdk stays inside bot/slack (tests/test_architecture.py); the preflight needs four read-only methods
and the `Date` and `X-OAuth-Scopes` headers of an answer, which a plain httpx call gives directly.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.domain.clock import Clock
from bot.errors import KukeyError
from bot.preflight.results import untrusted_fix
from bot.tls import certificate_refused

UNREACHABLE_FIX = "check SLACK_API_URL (default https://slack.com/api/), the network and any proxy"


class SlackUnreachable(KukeyError):
    """No answer from Slack's Web API at all (refused connection, timeout, DNS), or from a server whose
    certificate failed verification; `fix` says what to do about it."""

    fix = UNREACHABLE_FIX


class SlackUntrusted(SlackUnreachable):
    """The server at SLACK_API_URL showed a certificate this host does not trust (a TLS-inspecting proxy
    whose CA kukey lacks, or not Slack): no request was sent."""

    fix = untrusted_fix("SLACK_API_URL")


@dataclass(frozen=True)
class SlackAnswer:
    """Slack's JSON answer, its Date header, and the host's clock when the call was sent and answered."""

    data: dict[str, Any]
    date: datetime | None
    sent: datetime
    received: datetime
    scopes: frozenset[str] | None = None  # the token's scopes (Slack's X-OAuth-Scopes header), if it said

    @property
    def ok(self) -> bool:
        return bool(self.data.get("ok"))

    @property
    def error(self) -> str:
        return str(self.data.get("error") or "")


class SlackWebApi:
    def __init__(self, base_url: str, *, http: httpx.Client, clock: Clock) -> None:
        self.base_url = base_url
        self._http = http
        self._clock = clock

    def api_call(self, method: str, token: str, **params: str) -> SlackAnswer:
        """Call `method` with `token`; an answer that is not Slack's JSON becomes error `http_<status>`."""
        sent = self._clock.now()
        try:
            response = self._http.post(self.base_url + method, data=params,
                                       headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            refused = certificate_refused(exc)
            if refused is not None:
                raise SlackUntrusted(f"{self.base_url}: its TLS certificate is not trusted here "
                                     f"({refused.verify_message})") from exc
            raise SlackUnreachable(f"no answer from {self.base_url}: {_reason(exc)}") from exc
        received = self._clock.now()
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {"ok": False, "error": f"http_{response.status_code}"}
        return SlackAnswer(data, _date(response.headers.get("Date")), sent, received,
                           _scopes(response.headers.get("X-OAuth-Scopes")))


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the answer"
    return "the connection failed"


def _scopes(header: str | None) -> frozenset[str] | None:
    return None if header is None else frozenset(s.strip() for s in header.split(",") if s.strip())


def _date(header: str | None) -> datetime | None:
    if not header:
        return None
    try:
        return email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
