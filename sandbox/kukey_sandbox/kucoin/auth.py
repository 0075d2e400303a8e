"""KuCoin's request authentication, checked the way KuCoin checks it.

Written independently of bot.kucoin.signing (its own HMAC code), so a signing bug in the client cannot
be mirrored here. The signed query is the request line's query DECODED, pairs kept in wire order; for
GET/DELETE the body is not part of the prehash (a DELETE carrying its parameters in a body therefore
fails the signature or lacks its parameters, as on KuCoin).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import unquote_plus

from kukey_sandbox.kucoin.state import ApiError, Key, World

TIMESTAMP_WINDOW_MS = 5000
REQUIRED = ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE", "KC-API-KEY-VERSION")


def b64_hmac(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def decode_query(raw: str) -> list[tuple[str, str]]:
    """`a=1&b=x%20y` -> [("a", "1"), ("b", "x y")], order kept, blanks kept."""
    pairs: list[tuple[str, str]] = []
    for part in raw.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def signed_text(timestamp: str, method: str, path: str, raw_query: str, body: bytes) -> str:
    query = "&".join(f"{n}={v}" for n, v in decode_query(raw_query))
    endpoint = path + ("?" + query if query else "")
    payload = body.decode("utf-8", errors="replace") if method not in ("GET", "DELETE") else ""
    return f"{timestamp}{method}{endpoint}{payload}"


def authenticate(
    world: World,
    headers: Mapping[str, str],
    *,
    method: str,
    path: str,
    raw_query: str,
    body: bytes,
    now_ms: int,
    client_ip: str,
) -> Key:
    """The calling key, or ApiError with KuCoin's code."""
    missing = [h for h in REQUIRED if not headers.get(h)]
    if missing:
        raise ApiError("400001", f"Please check the header of your request for {', '.join(missing)}")
    with world.lock:
        key = world.keys.get(headers["KC-API-KEY"])
    if key is None or key.expired(now_ms):
        raise ApiError("400003", "KC-API-KEY not exists")
    if headers["KC-API-KEY-VERSION"] != "3":
        raise ApiError("400009", "Invalid KC-API-KEY-VERSION")
    stamp = headers["KC-API-TIMESTAMP"]
    if not stamp.isdigit() or abs(now_ms - int(stamp)) > TIMESTAMP_WINDOW_MS:
        raise ApiError("400002", "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 s")
    if not hmac.compare_digest(headers["KC-API-PASSPHRASE"], b64_hmac(key.api_secret, key.passphrase)):
        raise ApiError("400004", "Invalid KC-API-PASSPHRASE")
    expected = b64_hmac(key.api_secret, signed_text(stamp, method, path, raw_query, body))
    if not hmac.compare_digest(headers["KC-API-SIGN"], expected):
        raise ApiError("400005", "Invalid KC-API-SIGN")
    if key.ips and client_ip not in key.ips:
        raise ApiError("400006", f"Invalid request ip, the current clientIp is:{client_ip}")
    if key.master_uid in world.frozen_masters:
        raise ApiError("411100", "User is frozen")
    return key
