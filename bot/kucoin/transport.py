"""One signed KuCoin call with the retry rules: rate limits, clock skew, 5xx on safe calls.

A call that is not `safe` (create) is never repeated once it may have reached KuCoin: a timeout, a
dropped connection or a 5xx after sending raises KucoinOutcomeUnknown, and the caller reconciles.
Answers KuCoin gives before acting (429000, 400002) and failures to connect are retried for every call.
Logs carry method, path, code and latency only: never a query, a body, a header or a signature.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bot.domain.clock import Clock
from bot.domain.secret import Secret
from bot.errors import KucoinError, KucoinOutcomeUnknown, KucoinRateLimited, KucoinUnavailable, KucoinUntrusted
from bot.kucoin import codes
from bot.kucoin.ratelimit import MANAGEMENT_POOL_BUDGET, BudgetExceeded, RateGate, RateHeaders, RetryPolicy, Sleep
from bot.kucoin.signing import Credentials, QueryParams, auth_headers, encode_body, wire_query
from bot.tls import certificate_refused

log = logging.getLogger("bot.kucoin")
_PASSPHRASE_IN_TEXT = re.compile(r"(passphrase=)[^&\s\"']*", re.IGNORECASE)


class QueryRedactingFilter(logging.Filter):
    """httpx logs each request URL at INFO, and a DELETE's query holds a key passphrase: drop queries."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        if isinstance(record.msg, str) and "passphrase=" in record.msg.lower():
            record.msg = _PASSPHRASE_IN_TEXT.sub(r"\1**redacted**", record.msg)
        return True


def _without_query(arg: object) -> object:
    if isinstance(arg, httpx.URL) and arg.query:
        return arg.copy_with(query=None)
    if isinstance(arg, str) and "passphrase=" in arg.lower():
        return _PASSPHRASE_IN_TEXT.sub(r"\1**redacted**", arg)
    return arg


def install_log_redaction() -> None:
    """Add QueryRedactingFilter to the httpx logger (once)."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, QueryRedactingFilter) for f in httpx_log.filters):
        httpx_log.addFilter(QueryRedactingFilter())


@dataclass(frozen=True)
class ClockReading:
    """KuCoin's clock against this host's: KuCoin read its clock somewhere within the call, so the offset (to
    the call's midpoint) is known only to within half its round trip (retries and a slow answer included)."""

    offset_ms: int  # KuCoin's clock minus this host's
    uncertainty_ms: int


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    weight: int
    safe: bool  # may be sent again when its outcome is unknown
    signed: bool = True


CREATE_KEY = Endpoint("POST", "/api/v1/sub/api-key", 20, safe=False)
MODIFY_KEY = Endpoint("POST", "/api/v1/sub/api-key/update", 30, safe=True)  # full state: idempotent
LIST_KEYS = Endpoint("GET", "/api/v1/sub/api-key", 20, safe=True)
DELETE_KEY = Endpoint("DELETE", "/api/v1/sub/api-key", 30, safe=True)  # "already gone" counts as done
# As many deletes as one window of the Management pool pays for (2000 / 30 = 66): a revoke's burst.
DELETES_PER_WINDOW = MANAGEMENT_POOL_BUDGET // DELETE_KEY.weight
CONNECT_AHEAD_TIMEOUT_S = 10.0  # a connection opened ahead of a burst (KucoinClient.open_connections)
LIST_SUB_ACCOUNTS = Endpoint("GET", "/api/v2/sub/user", 20, safe=True)
WHOAMI = Endpoint("GET", "/api/v1/user/api-key", 20, safe=True)
SERVER_TIME = Endpoint("GET", "/api/v1/timestamp", 3, safe=True, signed=False)


class _Retry(Exception):
    """Internal: try the call again after `delay` seconds; `error` is raised if no attempt is left."""

    def __init__(self, delay: float, error: KucoinError, *, skew: bool = False) -> None:
        super().__init__(str(error))
        self.delay = delay
        self.error = error
        self.skew = skew


# (endpoint "METHOD /path", seconds, KuCoin code or exception name): metrics hook, no secrets in it
Observer = Callable[[str, float, str], None]


class _Budget:
    """Attempts and seconds waited so far for one call."""

    def __init__(self, policy: RetryPolicy, sleep: Sleep) -> None:
        self.policy = policy
        self.sleep = sleep
        self.attempts = 0
        self.waited = 0.0

    def left(self) -> float:
        return max(self.policy.max_total_wait - self.waited, 0.0)

    def retry_or_raise(self, retry: _Retry) -> None:
        self.attempts += 1
        if self.attempts >= self.policy.max_attempts or retry.delay > self.left():
            raise retry.error
        if retry.delay > 0:
            self.sleep(retry.delay)
            self.waited += retry.delay


class Transport:
    """Signs, sends and classifies KuCoin calls. Thread-safe; share one per master key."""

    def __init__(
        self,
        *,
        base_url: str,
        creds: Credentials,
        clock: Clock,
        http: httpx.Client,
        sleep: Sleep,
        policy: RetryPolicy,
        rng: random.Random,
        observer: Observer | None = None,
    ) -> None:
        self._observer = observer
        self._base_url = base_url.rstrip("/")
        self._creds = creds
        self._clock = clock
        self._http = http
        self._sleep = sleep
        self.policy = policy
        self._rng = rng
        self._rng_lock = threading.Lock()
        self._offset_ms: int | None = None
        self._sync_lock = threading.RLock()
        self.gate = RateGate(clock, sleep)
        install_log_redaction()

    # -- clock ---------------------------------------------------------------------------------
    def _local_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    def sync_clock(self) -> ClockReading:
        """Fetch KuCoin's time and keep the offset (server ms - local ms, against the call's midpoint)."""
        with self._sync_lock:
            before = self._local_ms()
            server_ms = int(self.call(SERVER_TIME))
            after = self._local_ms()
            self._offset_ms = server_ms - (before + after) // 2
            reading = ClockReading(self._offset_ms, (after - before + 1) // 2)
            log.info("kucoin clock offset %d ms (+- %d ms)", reading.offset_ms, reading.uncertainty_ms)
            return reading

    def _timestamp(self) -> str:
        if self._offset_ms is None:
            with self._sync_lock:
                if self._offset_ms is None:
                    self.sync_clock()
        return str(self._local_ms() + (self._offset_ms or 0))

    def _backoff(self, attempt: int) -> float:
        with self._rng_lock:
            return self.policy.backoff(attempt, self._rng)

    # -- calls ---------------------------------------------------------------------------------
    def call(
        self,
        ep: Endpoint,
        params: QueryParams = (),
        payload: dict[str, Any] | None = None,
        *,
        redact: Sequence[Secret] = (),
    ) -> Any:
        """Send one call (with bounded retries) and return KuCoin's `data`, or raise a KucoinError."""
        body = encode_body(payload) if payload is not None else ""
        budget = _Budget(self.policy, self._sleep)
        skew_retried = False
        while True:
            try:
                return self._attempt(ep, params, body, redact, budget)
            except _Retry as retry:
                if retry.skew:
                    if skew_retried:
                        raise retry.error from None
                    skew_retried = True
                    self.sync_clock()
                    continue
                log.info("kucoin %s %s: retrying in %.2f s", ep.method, ep.path, retry.delay)
                budget.retry_or_raise(retry)

    def _attempt(
        self, ep: Endpoint, params: QueryParams, body: str, redact: Sequence[Secret], budget: _Budget
    ) -> Any:
        probe = False
        if ep.signed:
            try:
                waited, probe = self.gate.reserve(ep.weight, max_wait=budget.left())
            except BudgetExceeded as exc:
                raise KucoinRateLimited(
                    f"KuCoin's rate limit is used up for {ep.method} {ep.path}; "
                    f"try again in {exc.retry_after:.0f} s.",
                    retry_after=exc.retry_after, code=codes.RATE_LIMITED, path=ep.path,
                ) from None
            budget.waited += waited
        rate: RateHeaders | None = None
        try:
            response = self._send(ep, params, body, budget)
            rate = RateHeaders.parse(response.headers)
        finally:
            if ep.signed:
                self.gate.update(rate, probe=probe, weight=ep.weight)
        return self._classify(ep, response, rate, redact, budget)

    def _send(self, ep: Endpoint, params: QueryParams, body: str, budget: _Budget) -> httpx.Response:
        url = self._base_url + ep.path + ("?" + wire_query(params) if params else "")
        headers = {"Content-Type": "application/json"}
        if ep.signed:
            stamp = self._timestamp()
            headers = auth_headers(
                self._creds, timestamp=stamp, method=ep.method, path=ep.path, params=params, body=body
            )
        started = time.monotonic()
        try:
            response = self._http.request(
                ep.method, url, content=body.encode("utf-8") if body else None, headers=headers,
                timeout=self.policy.timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._log_failure(ep, exc, started)
            refused = certificate_refused(exc)
            if refused is not None:  # nothing was sent, and no retry makes the certificate trusted
                raise KucoinUntrusted(f"KuCoin's TLS certificate at {self._base_url} is not trusted here "
                                      f"({refused.verify_message}).", path=ep.path) from exc
            error = KucoinUnavailable(f"Could not connect to KuCoin for {ep.method} {ep.path}.", path=ep.path)
            raise _Retry(self._backoff(budget.attempts + 1), error) from exc
        except httpx.TransportError as exc:
            self._log_failure(ep, exc, started)
            if ep.safe:
                error = KucoinUnavailable(f"KuCoin did not answer {ep.method} {ep.path}.", path=ep.path)
                raise _Retry(self._backoff(budget.attempts + 1), error) from exc
            raise KucoinOutcomeUnknown(
                f"KuCoin did not answer {ep.method} {ep.path}; it may or may not have acted.", path=ep.path
            ) from exc
        self._log_answer(ep, response, started)
        return response

    def _classify(
        self,
        ep: Endpoint,
        response: httpx.Response,
        rate: RateHeaders | None,
        redact: Sequence[Secret],
        budget: _Budget,
    ) -> Any:
        status = response.status_code
        doc = _json_object(response)
        code = str(doc.get("code", "")) if doc is not None else ""
        if doc is not None and 200 <= status < 300 and code == codes.SUCCESS:
            return doc.get("data")
        msg = codes.redact(str(doc.get("msg") or ""), redact) if doc is not None else ""
        if code == codes.TIMESTAMP:
            error = codes.error_for(code=code, http_status=status, method=ep.method, path=ep.path, msg=msg)
            raise _Retry(0.0, error, skew=True)
        if codes.is_rate_limited(code, status):
            delay = 0.0 if rate is not None else self._backoff(budget.attempts + 1)
            retry_after = rate.reset_ms / 1000 if rate is not None else delay
            error = codes.error_for(code=code, http_status=status, method=ep.method, path=ep.path, msg=msg,
                                    retry_after=retry_after)
            raise _Retry(delay, error)  # with headers, the gate waits for the reset
        if doc is None or codes.is_unavailable(code, status):
            error = codes.error_for(code=code or "", http_status=max(status, 500) if doc is None else status,
                                    method=ep.method, path=ep.path, msg=msg)
            if ep.safe:
                raise _Retry(self._backoff(budget.attempts + 1), error)
            raise KucoinOutcomeUnknown(
                f"KuCoin answered {ep.method} {ep.path} with an error ({code or status}); "
                "it may or may not have acted.",
                code=code, http_status=status, path=ep.path,
            ) from error
        raise codes.error_for(code=code, http_status=status, method=ep.method, path=ep.path, msg=msg)

    # -- logging -------------------------------------------------------------------------------
    def _log_answer(self, ep: Endpoint, response: httpx.Response, started: float) -> None:
        doc = _json_object(response)
        code = str(doc.get("code", "?")) if doc is not None else "?"
        elapsed = (time.monotonic() - started) * 1000
        log.info("kucoin %s %s -> %s (HTTP %d) in %.0f ms", ep.method, ep.path, code, response.status_code,
                 elapsed)
        if self._observer:
            self._observer(f"{ep.method} {ep.path}", elapsed / 1000, code)

    def _log_failure(self, ep: Endpoint, exc: Exception, started: float) -> None:
        elapsed = (time.monotonic() - started) * 1000
        log.warning("kucoin %s %s -> %s after %.0f ms", ep.method, ep.path, type(exc).__name__, elapsed)
        if self._observer:
            self._observer(f"{ep.method} {ep.path}", elapsed / 1000, type(exc).__name__)


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        doc = response.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
