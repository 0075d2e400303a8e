"""KucoinSandbox: a local HTTP server that answers like KuCoin for kukey's endpoints.

HTTP statuses: see messages.HTTP_STATUS. Auth failures carry no rate-limit headers (no UID is known
yet); every other answer carries gw-ratelimit-limit/remaining/reset of its pool.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from bot.domain.clock import Clock, SystemClock
from bot.domain.secret import Secret
from kukey_sandbox.kucoin.auth import authenticate, decode_query
from kukey_sandbox.kucoin.endpoints import PUBLIC_ROUTES, ROUTES, Call, dispatch
from kukey_sandbox.kucoin.faults import Fault, FaultPlan
from kukey_sandbox.kucoin.limits import Pools
from kukey_sandbox.kucoin.messages import Answer, RecordedRequest, answer
from kukey_sandbox.kucoin.server import SandboxServer
from kukey_sandbox.kucoin.state import ApiError, World, load_seed
from kukey_sandbox.tls import LocalCertificate

MANAGEMENT = "management"
PUBLIC = "public"


class MasterCredentials(NamedTuple):
    api_key: str
    api_secret: Secret
    api_passphrase: Secret


class KucoinSandbox:
    """`KucoinSandbox(seed=..., port=0).start()`; `.url`; `.master_credentials`; `.stop()` or `with`."""

    def __init__(
        self,
        seed: Path | str | dict[str, Any] | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        clock: Clock | None = None,
        window_seconds: float = 30.0,
        management_budget: int = 2000,
        public_budget: int = 2000,
        tls: LocalCertificate | None = None,
    ) -> None:
        """`tls`: serve HTTPS with that certificate, as KuCoin does (kukey_sandbox.tls); plain HTTP without."""
        self.world = World(load_seed(seed))
        self.faults = FaultPlan()
        self.pools = Pools(window_ms=int(window_seconds * 1000),
                           budgets={MANAGEMENT: management_budget, PUBLIC: public_budget})
        self.clock: Clock = clock or SystemClock()
        self.requests: deque[RecordedRequest] = deque(maxlen=2000)
        self._counts: Counter[str] = Counter()
        self._answers: Counter[str] = Counter()
        self._timeline: deque[tuple[str, str]] = deque(maxlen=4000)  # ("call" | "answer", "METHOD /path")
        self._recorded = threading.Condition()  # guards requests and the counts; notified at each request
        self._server = SandboxServer(self, host, port, tls)

    @property
    def refused_handshakes(self) -> int:
        """HTTPS only: TLS handshakes a client broke off (one that does not trust the certificate)."""
        return self._server.refused_handshakes

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> KucoinSandbox:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> KucoinSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def master_credentials(self) -> MasterCredentials:
        """The first seeded master key (sandbox-only fake credentials)."""
        return self.all_master_credentials()[0]

    def all_master_credentials(self) -> list[MasterCredentials]:
        with self.world.lock:
            return [MasterCredentials(k.api_key, Secret(k.api_secret), Secret(k.passphrase))
                    for k in self.world.masters()]

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000) + self.faults.clock_skew_ms

    # -- fault injection -----------------------------------------------------------------------
    def set_latency(self, seconds: float, path: str | None = None) -> None:
        with self.faults.lock:
            self.faults.latency[path or "*"] = seconds

    def fail_next(self, count: int = 1, *, status: int = 500, code: str = "500000", path: str | None = None,
                  method: str | None = None) -> None:
        self.faults.add(Fault("error", count, path, method, status=status, code=code))

    def rate_limit_next(self, count: int = 1, *, headers: bool = True, path: str | None = None,
                        method: str | None = None) -> None:
        self.faults.add(Fault("rate_limit", count, path, method, headers=headers))

    def drop_next(self, count: int = 1, *, path: str | None = None, method: str | None = None,
                  commit: bool = True, hang: float = 0.0) -> None:
        """Close the next matching connections without answering, after acting on them if `commit`."""
        self.faults.add(Fault("drop", count, path, method, commit=commit, hang=hang))

    def set_clock_skew(self, ms: int) -> None:
        with self.faults.lock:
            self.faults.clock_skew_ms = ms

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- state ---------------------------------------------------------------------------------
    def keys(self, sub_name: str) -> list[dict[str, Any]]:
        with self.world.lock:
            return [k.public_state() for k in self.world.subs[sub_name].keys.values()]

    def remove_key_out_of_band(self, sub_name: str, api_key: str) -> bool:
        """What happens outside the API: a person deletes a key in KuCoin's web UI (no passphrase needed
        there), or KuCoin removes an idle trading key without an IP whitelist after 30 days."""
        with self.world.lock:
            return self.world.remove(self.world.subs[sub_name], api_key) is not None

    def wait_keys_gone(self, sub_name: str, api_keys: Iterable[str], timeout: float) -> bool:
        """Block until none of `api_keys` is left in the sub-account (woken by each removal, no polling);
        False if some are still there after `timeout` seconds."""
        wanted = set(api_keys)
        with self.world.lock:
            sub = self.world.subs[sub_name]
            return self.world.removed.wait_for(lambda: not wanted & sub.keys.keys(), timeout)

    def wait_calls(self, call: str, count: int, timeout: float) -> bool:
        """Block until `call` ("DELETE /api/v1/sub/api-key") has been received `count` times in all (woken by
        each request, no polling); False if it has not after `timeout` seconds."""
        with self._recorded:
            return self._recorded.wait_for(lambda: self._counts[call] >= count, timeout)

    def call_counts(self) -> dict[str, int]:
        with self._recorded:
            return dict(self._counts)

    def connections_opened(self) -> int:
        """How many connections clients have opened to the sandbox so far."""
        return self._server.opened

    def answer_counts(self) -> dict[str, int]:
        with self._recorded:
            return dict(self._answers)

    def management_spent(self) -> int:
        """The weight the master account has spent in its Management pool's current window."""
        with self.world.lock:
            uid = next(k.master_uid for k in self.world.masters())
        return self.pools.spent(str(uid), MANAGEMENT, self.now_ms())

    def timeline(self) -> list[tuple[str, str]]:
        """The latest requests and answers in the order they happened: ("call", "DELETE /api/v1/sub/api-key")
        when a request arrived, ("answer", ...) when its answer (or a dropped connection) went out."""
        with self._recorded:
            return list(self._timeline)

    def state(self) -> dict[str, Any]:
        with self.world.lock:
            subs = {s.name: {"status": s.status, "opened_trade_types": list(s.opened_trade_types),
                             "keys": [k.public_state() for k in s.keys.values()]}
                    for s in self.world.subs.values()}
        return {"sub_accounts": subs, "calls": self.call_counts(), "answers": self.answer_counts(),
                "faults": self.faults.describe(), "now_ms": self.now_ms()}

    # -- request processing (called by the HTTP server) ----------------------------------------
    def record(self, req: RecordedRequest) -> None:
        with self._recorded:
            self.requests.append(req)
            self._counts[f"{req.method} {req.path}"] += 1
            self._timeline.append(("call", f"{req.method} {req.path}"))
            self._recorded.notify_all()

    def count_answer(self, code: str, call: str = "") -> None:
        """One answer with KuCoin code `code` ("dropped": none) to the request `call` ("METHOD /path")."""
        with self._recorded:
            self._answers[code] += 1
            if call:
                self._timeline.append(("answer", call))

    def handle(self, req: RecordedRequest, client_ip: str) -> Answer:
        """Faults first, then KuCoin's behaviour; a committed drop acts and then loses the answer."""
        fault = self.faults.take(req.method, req.path)
        if fault is not None and not (fault.kind == "drop" and fault.commit):
            return self._forced(fault, req, client_ip)
        result = self._process(req, client_ip)
        if fault is not None:
            return Answer(0, None, hang=fault.hang)
        return result

    def _forced(self, fault: Fault, req: RecordedRequest, client_ip: str) -> Answer:
        if fault.kind == "drop":
            return Answer(0, None, hang=fault.hang)
        if fault.kind == "error":
            return Answer(fault.status, {"code": fault.code, "msg": "Internal error (injected)"})
        if not fault.headers:  # server overload: the pool is untouched and no headers are sent
            return Answer(429, {"code": "429000", "msg": "Too Many Requests"})
        pool = self.pools.exhausted(self._owner(req.headers, client_ip), MANAGEMENT, self.now_ms())
        return Answer(429, {"code": "429000", "msg": "Too Many Requests"}, pool.headers())

    def _owner(self, headers: Mapping[str, str], client_ip: str) -> str:
        with self.world.lock:
            key = self.world.keys.get(headers.get("KC-API-KEY", ""))
        return str(key.master_uid) if key else client_ip

    def _process(self, req: RecordedRequest, client_ip: str) -> Answer:
        now = self.now_ms()
        target = (req.method, req.path)
        if target in PUBLIC_ROUTES:
            pool = self.pools.charge(client_ip, PUBLIC, PUBLIC_ROUTES[target], now)
            if not pool.allowed:
                return answer("429000", "Too Many Requests", pool)
            return Answer(200, {"code": "200000", "data": now}, pool.headers())
        route = ROUTES.get(target)
        if route is None:
            return answer("404000", "Url Not Found")
        if req.method == "POST" and "application/json" not in req.headers.get("CONTENT-TYPE", ""):
            return answer("415000", "Unsupported Media Type: use application/json")
        try:
            caller = authenticate(self.world, req.headers, method=req.method, path=req.path,
                                  raw_query=req.raw_query, body=req.body, now_ms=now, client_ip=client_ip)
        except ApiError as err:
            return answer(err.code, err.msg)
        pool = self.pools.charge(str(caller.master_uid), MANAGEMENT, route.weight, now)
        if not pool.allowed:
            return answer("429000", "Too Many Requests", pool)
        try:
            call = Call(caller, dict(decode_query(req.raw_query)), _json_body(req), now)
            data = dispatch(self.world, route, call)
        except ApiError as err:
            return answer(err.code, err.msg, pool)
        return Answer(200, {"code": "200000", "data": data}, pool.headers())


def _json_body(req: RecordedRequest) -> dict[str, Any]:
    if req.method != "POST":
        return {}
    try:
        doc = json.loads(req.body or b"{}")
    except ValueError:
        raise ApiError("400100", "The request body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ApiError("400100", "The request body must be a JSON object")
    return doc
