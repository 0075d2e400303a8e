"""Requests as they arrived and answers as they leave, plus KuCoin's code -> HTTP status mapping.

One consistent mapping: auth codes 400001-400006/400008/400009/411100 -> 401, 400007 -> 403,
400100 -> 400, 415000 -> 415, 429000 -> 429, 500000/503000/504000 -> 500/503/504, unknown URL -> 404
with code 404000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kukey_sandbox.kucoin.limits import PoolState

AUTH_CODES = ("400001", "400002", "400003", "400004", "400005", "400006", "400008", "400009", "411100")
HTTP_STATUS = {
    **dict.fromkeys(AUTH_CODES, 401),
    "400007": 403, "400100": 400, "404000": 404, "415000": 415, "429000": 429,
    "500000": 500, "503000": 503, "504000": 504,
}


@dataclass(frozen=True)
class RecordedRequest:
    """A request as it arrived (test-only: it holds signatures of the sandbox's fake keys).

    Header names are upper-cased."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    client_port: int = 0  # the TCP port it came from on 127.0.0.1 (kukey_sandbox.replicas.holding)


@dataclass
class Answer:
    status: int
    doc: dict[str, Any] | None  # None: drop the connection without answering
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


def answer(code: str, msg: str, pool: PoolState | None = None) -> Answer:
    return Answer(HTTP_STATUS.get(code, 400), {"code": code, "msg": msg}, pool.headers() if pool else {})
