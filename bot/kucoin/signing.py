"""KuCoin request signing: pure functions, no I/O.

prehash = timestamp + METHOD + path [+ "?" + raw query] + body, where the raw query is the NOT
URL-encoded `k=v&k=v` text in the exact order it goes on the wire (never sorted) and body is the exact
JSON text sent. KC-API-SIGN = base64(HMAC-SHA256(secret, prehash)); KC-API-PASSPHRASE =
base64(HMAC-SHA256(secret, passphrase)); KC-API-KEY-VERSION = 3.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.domain.secret import Secret

KEY_VERSION = "3"

QueryParams = Sequence[tuple[str, str]]


def hmac_b64(secret: str, message: str) -> str:
    """base64(HMAC-SHA256(key=secret, msg=message)), both UTF-8."""
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def raw_query(params: QueryParams) -> str:
    """The query as KuCoin signs it: unencoded, in the given (wire) order."""
    return "&".join(f"{name}={value}" for name, value in params)


def wire_query(params: QueryParams) -> str:
    """The query as sent: every name and value percent-encoded (space -> %20), same order."""
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params)


def encode_body(payload: Mapping[str, Any]) -> str:
    """Serialize a JSON body once, compactly, keeping key order (the text signed is the text sent)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def prehash(timestamp: str, method: str, path: str, params: QueryParams = (), body: str = "") -> str:
    """The exact string KuCoin signs."""
    endpoint = path + ("?" + raw_query(params) if params else "")
    return f"{timestamp}{method.upper()}{endpoint}{body}"


@dataclass(frozen=True)
class Credentials:
    """A KuCoin API key with its secret and passphrase (the secret parts stay wrapped)."""

    api_key: str
    api_secret: Secret
    api_passphrase: Secret


def auth_headers(
    creds: Credentials, *, timestamp: str, method: str, path: str, params: QueryParams = (), body: str = ""
) -> dict[str, str]:
    """The five KC-API-* headers (plus Content-Type) for one request."""
    secret = creds.api_secret.reveal()
    return {
        "KC-API-KEY": creds.api_key,
        "KC-API-SIGN": hmac_b64(secret, prehash(timestamp, method, path, params, body)),
        "KC-API-TIMESTAMP": timestamp,
        "KC-API-PASSPHRASE": hmac_b64(secret, creds.api_passphrase.reveal()),
        "KC-API-KEY-VERSION": KEY_VERSION,
        "Content-Type": "application/json",
    }
