"""KuCoin answer codes -> kukey's typed errors, with plain sentences a Slack layer can show."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.secret import Secret
from bot.errors import (
    KucoinAuthError,
    KucoinError,
    KucoinPermissionError,
    KucoinRateLimited,
    KucoinUnavailable,
    KucoinValidationError,
)

SUCCESS = "200000"
TIMESTAMP = "400002"
PARAMETER = "400100"
PERMISSION = "400007"
RATE_LIMITED = "429000"
UNAVAILABLE_CODES = frozenset({"500000", "503000", "504000"})

AUTH_SENTENCES = {
    "400001": "an authentication header was missing or the URL is wrong",
    "400002": "the request timestamp was outside KuCoin's 5-second window (check this server's clock)",
    "400003": "KuCoin does not know the configured API key",
    "400004": "KuCoin rejected the API passphrase",
    "400005": "KuCoin rejected the request signature (check the API secret)",
    "400006": "this server's IP address is not in the API key's IP whitelist",
    "400008": "KuCoin no longer accepts this API key version (create a v3 key)",
    "400009": "KuCoin rejected the API key version",
    "411100": "the KuCoin account is frozen",
}


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """Remove any secret value from a text KuCoin sent back (defensive: KuCoin may echo parameters)."""
    for secret in secrets:
        value = secret.reveal()
        if value:
            text = text.replace(value, "**redacted**")
    return text


def is_unavailable(code: str, http_status: int) -> bool:
    return http_status >= 500 or code in UNAVAILABLE_CODES


def is_rate_limited(code: str, http_status: int) -> bool:
    return code == RATE_LIMITED or http_status == 429


def error_for(
    *, code: str, http_status: int, method: str, path: str, msg: str, retry_after: float = 0.0
) -> KucoinError:
    """The typed error for a KuCoin answer that is not a success. `msg` must already be redacted."""
    where = f"{method} {path}"

    def make(cls: type[KucoinError], message: str) -> KucoinError:
        return cls(message, code=code, http_status=http_status, path=path)

    if code in AUTH_SENTENCES:
        return make(KucoinAuthError, f"KuCoin refused {where}: {AUTH_SENTENCES[code]} (code {code}).")
    if code == PERMISSION or http_status == 403:
        return make(
            KucoinPermissionError,
            f"KuCoin refused {where}: the master API key lacks a permission this needs (code {code}).",
        )
    if code == PARAMETER:
        reason = msg or "no reason given"
        return make(KucoinValidationError, f"KuCoin rejected a parameter of {where}: {reason}")
    if is_rate_limited(code, http_status):
        return KucoinRateLimited(
            f"KuCoin's rate limit was reached for {where}; try again in {retry_after:.0f} s.",
            retry_after=retry_after, code=code, http_status=http_status, path=path,
        )
    if is_unavailable(code, http_status):
        answer = code or http_status
        return make(KucoinUnavailable, f"KuCoin is unavailable or busy ({where} answered {answer}).")
    return make(KucoinError, f"KuCoin answered {where} with code {code or '?'} (HTTP {http_status}): {msg}")
