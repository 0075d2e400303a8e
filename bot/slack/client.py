"""The Slack Web API client every part of kukey uses, with one bounded retry policy.

`make_web_client(settings)` builds slack_sdk's `WebClient` with slack_sdk's own retry handlers
(`slack_sdk.http_retry`), each held to one `RetryBudget` per call: at most `retries` retries and
`max_wait` seconds asleep in all.

- Rate limits (HTTP 429 `ratelimited` + Retry-After): waited out when the wait fits the budget; when it does
  not (or the retries are spent) the call fails at once with `SlackRateLimited`, carrying Retry-After, so a
  worker thread never sleeps for a minute: the caller decides to try again later.
- Transient server failures (HTTP 5xx; `internal_error`, `fatal_error`, `service_unavailable`,
  `request_timeout`) and connection errors (reset, refused, closed without an answer): retried with
  exponential backoff and jitter, within the same budget; then the last failure is raised as slack_sdk does.
  Slack says some of the operation may have succeeded before an `internal_error`; kukey's calls are posts
  and updates whose worst repeat is a duplicate line, never a duplicate action.

Every client verifies Slack with the process's one TLS context (bot.tls), through urllib's process-wide
opener, which also keeps the connections to Slack alive (bot.slack.connections; through a proxy, the client's
`ssl`, a new connection for each call). Left with urllib's own opener,
Python 3.11's http.client builds a new context for each connection, loading the whole CA bundle into it:
~30 ms of CPU on every Web API call (a dozen per request lifecycle), unseen against a plain-HTTP fake
(tests/scenarios/test_slack_tls.py runs the fake on HTTPS); handed the context as `ssl`, urllib builds a
whole opener for each call (~0.2 ms).

`auth_probe(client)` is the readiness probe: Slack reachable and the token still valid.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.web import SlackResponse

from bot.config import Settings
from bot.slack.connections import keep_alive
from bot.tls import certificate_refused, shared_context

log = logging.getLogger("kukey.slack")

TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
AUTH_ERRORS = frozenset({"invalid_auth", "token_revoked", "account_inactive", "not_authed", "token_expired"})
TIMEOUT_S = 10  # one HTTP attempt; Slack answers in well under a second when it is well
_WAITED = "kukey_waited"  # RetryState.custom_values key: seconds slept so far for this call


@dataclass(frozen=True)
class RetryBudget:
    """Per call: at most `retries` retries after the first attempt, and `max_wait` seconds asleep in all."""

    retries: int = 3
    max_wait: float = 6.0


DEFAULT_BUDGET = RetryBudget()


class SlackRateLimited(SlackApiError):
    """Slack answered `ratelimited` and waiting is beyond the retry budget: try again in `retry_after` s.
    A slack_sdk `SlackApiError` (error "ratelimited"), so code catching that keeps working."""

    def __init__(self, method: str, retry_after: float, response: SlackResponse) -> None:
        super().__init__(f"Slack rate-limited {method}; retry after {retry_after:g} s", response)  # type: ignore[no-untyped-call]
        self.method = method
        self.retry_after = retry_after


def make_web_client(settings: Settings, *, budget: RetryBudget = DEFAULT_BUDGET,
                    handlers: list[RetryHandler] | None = None) -> WebClient:
    """The bot token's WebClient against `settings.slack_api_url` over the shared TLS context, with kukey's
    retry policy (`handlers`: these instead)."""
    client = WebClient(token=settings.slack_bot_token.reveal(), base_url=settings.slack_api_url, timeout=TIMEOUT_S,
                       retry_handlers=retry_handlers(budget) if handlers is None else handlers)
    if client.proxy is None:  # urllib's process-wide opener, on the shared context, Slack's connections kept alive
        keep_alive(settings.slack_api_url)
    else:  # HTTPS_PROXY: slack_sdk builds an opener for every call, with the client's context
        client.ssl = shared_context()
    return client


def retry_handlers(budget: RetryBudget = DEFAULT_BUDGET) -> list[RetryHandler]:
    """Rate limit, transient server error, connection error: slack_sdk's handlers held to `budget`."""
    return [BudgetedRateLimitHandler(budget), BudgetedServerErrorHandler(budget),
            BudgetedConnectionErrorHandler(budget)]


def auth_probe(client: WebClient) -> bool:
    """auth.test answers ok: Slack is reachable and the token is still valid (a revoked, invalid or
    deactivated token is logged once per check, by its error code only)."""
    try:
        client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "")) if exc.response is not None else ""
        log.warning("slack auth check failed", extra={"error": error, "token_rejected": error in AUTH_ERRORS})
        return False
    except OSError as exc:  # unreachable after the retries (URLError and socket errors are OSErrors)
        log.warning("slack auth check failed", extra={"error": type(exc).__name__})
        return False
    return True


class _Budgeted(RetryHandler):
    """What the three handlers share: the budget (RetryState is per call, so the count and the time asleep
    are per call), and the sleep that spends it."""

    def __init__(self, budget: RetryBudget = DEFAULT_BUDGET) -> None:
        super().__init__(max_retry_count=budget.retries)
        self.budget = budget

    def _waited(self, state: RetryState) -> float:
        return float((state.custom_values or {}).get(_WAITED, 0.0))

    def _spent(self, state: RetryState) -> bool:
        return self._waited(state) >= self.budget.max_wait

    def _sleep(self, state: RetryState, seconds: float, request: HttpRequest, why: str) -> None:
        seconds = max(0.0, min(seconds, self.budget.max_wait - self._waited(state)))
        log.info("slack call retrying", extra={"method": _method(request), "why": why, "wait_s": round(seconds, 2),
                                              "attempt": state.current_attempt + 2})
        time.sleep(seconds)
        state.custom_values = {**(state.custom_values or {}), _WAITED: self._waited(state) + seconds}
        state.next_attempt_requested = True
        state.increment_current_attempt()

    def _back_off(self, state: RetryState, request: HttpRequest, why: str) -> None:
        """Exponential backoff with jitter (slack_sdk's interval calculator), within the budget."""
        self._sleep(state, self.interval_calculator.calculate_sleep_duration(state.current_attempt), request, why)


class BudgetedRateLimitHandler(_Budgeted, RateLimitErrorRetryHandler):
    """slack_sdk's rate-limit handler, honouring Retry-After only within the budget; beyond it the call
    fails at once with SlackRateLimited."""

    def can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                  error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response)
        if state.current_attempt >= self.budget.retries or self._waited(state) + wait > self.budget.max_wait:
            raise SlackRateLimited(_method(request), wait, _as_slack_response(request, response))
        return True

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        wait = _retry_after(response) if response is not None else 1.0
        self._sleep(state, wait + random.uniform(0, 0.25), request, "ratelimited")  # noqa: S311 # jitter, not secrecy


class BudgetedServerErrorHandler(_Budgeted, ServerErrorRetryHandler):
    """HTTP 5xx, or Slack's transient error codes (on any status), with backoff, within the budget."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if response is None or self._spent(state):
            return False
        return 500 <= response.status_code < 600 or _error_code(response) in TRANSIENT_ERRORS

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        self._back_off(state, request, (_error_code(response) or f"http_{response.status_code}") if response else "")


class BudgetedConnectionErrorHandler(_Budgeted, ConnectionErrorRetryHandler):
    """Connection reset, refused or closed without an answer, with backoff, within the budget. A certificate
    that fails verification is not retried: no second try makes it trusted (a missing CA, an intercepting
    proxy), and the caller hears at once."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if error is not None and certificate_refused(error) is not None:
            return False
        return not self._spent(state) and super()._can_retry(state=state, request=request, response=response,
                                                             error=error)

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        self._back_off(state, request, type(error).__name__ if error is not None else "connection")


def _method(request: HttpRequest) -> str:
    return request.url.split("?", 1)[0].rsplit("/", 1)[-1]


def _header(response: HttpResponse, name: str) -> str | None:
    for key, values in response.headers.items():
        if key.lower() == name and values:
            return str(values[0])
    return None


def _retry_after(response: HttpResponse) -> float:
    """Retry-After in seconds (Slack sends whole seconds); 1 when missing or unreadable."""
    try:
        return max(0.0, float(_header(response, "retry-after") or 1))
    except ValueError:
        return 1.0


def _error_code(response: HttpResponse) -> str:
    body: Any = response.body
    if body is None and response.data:
        try:
            body = json.loads(response.data)
        except ValueError:
            body = None
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _as_slack_response(request: HttpRequest, response: HttpResponse) -> SlackResponse:
    headers = {key: values[0] for key, values in response.headers.items() if values}
    return SlackResponse(client=None, http_verb="POST", api_url=request.url.split("?", 1)[0], req_args={},
                         data={"ok": False, "error": "ratelimited"}, headers=headers, status_code=429)
